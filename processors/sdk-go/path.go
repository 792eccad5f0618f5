package flowctl

import (
	"slices"
	"strings"
)

// Path is a dotted path into an event, parsed once: `id`, `type`,
// `timestamp`, `metadata.<key>` (the key is the whole rest, dots included),
// `data`, or `data.<a>.<b>` (object keys, or indexes into arrays:
// `data.items.0`). Any other text is a path at which no event has a value.
type Path struct {
	text string
	kind pathKind
	key  string   // metadata key
	segs []string // data segments
}

type pathKind uint8

const (
	pathNowhere pathKind = iota
	pathID
	pathType
	pathTimestamp
	pathMetadata
	pathData
)

// ParsePath parses a dotted path. Parse a path once (at Init) rather than
// per event.
func ParsePath(path string) Path {
	p := Path{text: path}
	head, rest, dotted := strings.Cut(path, ".")
	switch {
	case head == "id" && !dotted:
		p.kind = pathID
	case head == "type" && !dotted:
		p.kind = pathType
	case head == "timestamp" && !dotted:
		p.kind = pathTimestamp
	case head == "metadata" && dotted:
		p.kind, p.key = pathMetadata, rest
	case head == "data" && !dotted:
		p.kind, p.segs = pathData, []string{}
	case head == "data":
		p.kind, p.segs = pathData, splitPath(rest)
	}
	return p
}

// String is the path as written.
func (p Path) String() string { return p.text }

func splitPath(path string) []string { return strings.Split(path, ".") }

// RawEvent is one event's JSON text, as the host sent it. Reading a field
// with [RawEvent.Get] scans the text once and decodes only that field; it is
// the fast way for processors that look at a few fields of each event
// ([FilterRaw], [MapRaw]). The bytes belong to the host's input buffer:
// they are valid only during the call.
type RawEvent []byte

// Get is the value at p, as [Event.Get] would give it on the decoded event:
// absent `id` and `type` read as "", an absent `timestamp` as 0, an absent
// `data` as null; ok is false where the event has no value. The error says
// why the text is not an event (the SDK's typed decoding would fail on it
// the same way).
func (e RawEvent) Get(p Path) (v Value, ok bool, err error) {
	if seen.holds(e, p) {
		if seen.err != nil {
			return nil, false, inputError(seen.err)
		}
		v, ok = seen.env.at(p)
		return v, ok, nil
	}
	var segs []string
	if p.kind == pathData {
		segs = p.segs
		if !seen.missed {
			// Follow the first data path missed per event: a processor
			// reading two data paths has one of them read by the pass.
			wanted, seen.missed = p.segs, true
		}
	}
	b := []byte(e)
	end, env, err := scanEnvelope(b, skipSpace(b, 0), segs)
	if err != nil {
		return nil, false, inputError(err)
	}
	if j := skipSpace(b, end); j != len(b) {
		return nil, false, inputError(syntaxError(j, "unexpected text after the event"))
	}
	v, ok = env.at(p)
	return v, ok, nil
}

// The SDK's pass over a batch has to read each event to find where it
// ends; with raw processors it reads the envelope as it goes, following the
// data path the processor asked for (`wanted`), and keeps the result
// (`seen`) while the processor runs. RawEvent.Get on that event then reads
// nothing again: a filter reads each event once. The answers are those of
// a fresh scan.
var (
	wanted []string
	seen   seenEvent
)

type seenEvent struct {
	start  *byte // the event's first byte in the input, nil when none
	len    int
	segs   []string
	env    envelope
	err    error // why the text is not an event
	missed bool  // Get has set wanted during this event
}

// scanSeen reads the event at b[i] as Get would, keeps what it found, and
// returns where the event ends. A *SyntaxError means b is not JSON there.
func scanSeen(b []byte, i int) (int, error) {
	end, env, err := scanEnvelope(b, i, wanted)
	var notEvent error
	if err != nil {
		if _, broken := err.(*SyntaxError); broken {
			return end, err
		}
		notEvent = err
		if end, err = skipValue(b, i); err != nil {
			return end, err
		}
	}
	seen = seenEvent{start: &b[i], len: end - i, segs: wanted, env: env, err: notEvent}
	return end, nil
}

func (s *seenEvent) holds(e RawEvent, p Path) bool {
	if s.start == nil || len(e) != s.len || &e[0] != s.start {
		return false
	}
	return p.kind != pathData || len(p.segs) == 0 || slices.Equal(p.segs, s.segs)
}

func forgetSeen() { seen = seenEvent{} }

// Lookup is Get(ParsePath(path)). Prefer parsing the path once.
func (e RawEvent) Lookup(path string) (Value, bool, error) {
	return e.Get(ParsePath(path))
}

// envelope is what one pass over an event object found: the text of each
// of its fields (nil when absent), checked as the Rust SDK's Event checks
// them, and the value at the data path asked for, if any.
type envelope struct {
	id, typ, timestamp, data, metadata Value
	found                              Value
	foundOK                            bool
}

// typeError: the text is JSON but not an event. Unlike a SyntaxError, it
// fails only its event, not the batch around it.
type typeError struct{ msg string }

func (e *typeError) Error() string { return e.msg }

func inputError(err error) error {
	return &typeError{msg: "input event: " + err.Error()}
}

// scanEnvelope reads the event object at b[i] in one pass, following
// dataSegs into `data` when it is not nil. Other fields are skipped, their
// syntax checked.
func scanEnvelope(b []byte, i int, dataSegs []string) (end int, env envelope, err error) {
	if i >= len(b) || b[i] != '{' {
		if _, serr := skipValue(b, i); serr != nil {
			return i, env, serr
		}
		return i, env, &typeError{msg: "expected an event object"}
	}
	i = skipSpace(b, i+1)
	if i < len(b) && b[i] == '}' {
		return i + 1, env, nil
	}
	for {
		if i >= len(b) || b[i] != '"' {
			return i, env, syntaxError(i, "expected a string key")
		}
		keyEnd, name, err := keyAt(b, i)
		if err != nil {
			return keyEnd, env, err
		}
		start, err := expectColon(b, keyEnd)
		if err != nil {
			return start, env, err
		}
		var slot *Value
		switch string(name) {
		case "id":
			slot = &env.id
		case "type":
			slot = &env.typ
		case "timestamp":
			slot = &env.timestamp
		case "data":
			slot = &env.data
		case "metadata":
			slot = &env.metadata
		}
		if slot != nil && *slot != nil {
			return start, env, &typeError{msg: "duplicate field `" + string(name) + "`"}
		}
		switch slot {
		case &env.id:
			i, err = stringField(b, start, "`id` must be a string")
		case &env.typ:
			i, err = stringField(b, start, "`type` must be a string")
		case &env.timestamp:
			i, err = timestampField(b, start)
		case &env.metadata:
			i, err = metadataField(b, start)
		case &env.data:
			if dataSegs != nil {
				i, env.found, env.foundOK, err = descend(b, start, dataSegs, 1)
			} else {
				i, err = skipNested(b, start, 1)
			}
		default:
			i, err = skipNested(b, start, 1)
		}
		if err != nil {
			return i, env, err
		}
		if slot != nil {
			*slot = b[start:i]
		}
		var done bool
		if i, done, err = nextMember(b, i, '}'); err != nil || done {
			return i, env, err
		}
	}
}

func stringField(b []byte, i int, msg string) (int, error) {
	if i < len(b) && b[i] == '"' {
		return skipString(b, i)
	}
	return typeMismatch(b, i, msg)
}

// typeMismatch fails with msg when the value at b[i] is JSON (of the wrong
// type), and with the syntax error when it is not.
func typeMismatch(b []byte, i int, msg string) (int, error) {
	end, err := skipNested(b, i, 1)
	if err != nil {
		return end, err
	}
	return end, &typeError{msg: msg}
}

func timestampField(b []byte, i int) (int, error) {
	if i < len(b) && (b[i] == '-' || isDigit(b[i])) {
		end, err := skipNumber(b, i)
		if err != nil {
			return end, err
		}
		if _, ok := parseInt64(b[i:end]); ok {
			return end, nil
		}
		return end, &typeError{msg: "`timestamp` must be an integer (unix milliseconds)"}
	}
	return typeMismatch(b, i, "`timestamp` must be an integer (unix milliseconds)")
}

func metadataField(b []byte, i int) (int, error) {
	const msg = "`metadata` must be an object of strings"
	if i >= len(b) || b[i] != '{' {
		return typeMismatch(b, i, msg)
	}
	i = skipSpace(b, i+1)
	if i < len(b) && b[i] == '}' {
		return i + 1, nil
	}
	var mismatch error
	for {
		if i >= len(b) || b[i] != '"' {
			return i, syntaxError(i, "expected a string key")
		}
		var err error
		if i, err = skipString(b, i); err != nil {
			return i, err
		}
		if i, err = expectColon(b, i); err != nil {
			return i, err
		}
		if i < len(b) && b[i] == '"' {
			i, err = skipString(b, i)
		} else {
			// Read on: a syntax error further on matters more.
			i, err = skipNested(b, i, 2)
			mismatch = &typeError{msg: msg}
		}
		if err != nil {
			return i, err
		}
		var done bool
		if i, done, err = nextMember(b, i, '}'); err != nil {
			return i, err
		}
		if done {
			return i, mismatch
		}
	}
}

// at is the value at p in the scanned event.
func (env *envelope) at(p Path) (Value, bool) {
	switch p.kind {
	case pathID:
		return orDefault(env.id, `""`), true
	case pathType:
		return orDefault(env.typ, `""`), true
	case pathTimestamp:
		return orDefault(env.timestamp, "0"), true
	case pathMetadata:
		var found Value
		for k, v := range env.metadata.members() {
			if equalsString(k, p.key) {
				found = v // the last, if repeated, as a map keeps it
			}
		}
		return found, found != nil
	case pathData:
		if len(p.segs) == 0 {
			return orDefault(env.data, "null"), true
		}
		return env.found, env.foundOK
	}
	return nil, false
}

func orDefault(v Value, def string) Value {
	if v == nil {
		return Value(def)
	}
	return v
}

// members is Members with each key's quoted text, for comparing keys
// without allocating.
func (v Value) members() func(yield func([]byte, Value) bool) {
	return func(yield func([]byte, Value) bool) {
		if v.Kind() != Object {
			return
		}
		i := skipSpace(v, 1)
		if i < len(v) && v[i] == '}' {
			return
		}
		for i < len(v) && v[i] == '"' {
			keyEnd, err := skipString(v, i)
			if err != nil {
				return
			}
			start, err := expectColon(v, keyEnd)
			if err != nil {
				return
			}
			end, err := skipValue(v, start)
			if err != nil || !yield(v[i:keyEnd], v[start:end]) {
				return
			}
			var done bool
			if i, done, err = nextMember(v, end, '}'); err != nil || done {
				return
			}
		}
	}
}

// descend returns the end of the value at b[i] and the value at segs
// inside it: keys in objects (the last, if repeated), indexes in arrays.
func descend(b []byte, i int, segs []string, depth int) (end int, found Value, ok bool, err error) {
	if len(segs) == 0 {
		end, err = skipNested(b, i, depth)
		if err != nil {
			return end, nil, false, err
		}
		return end, b[i:end], true, nil
	}
	if i >= len(b) || (b[i] != '{' && b[i] != '[') {
		// A scalar has no fields: the path ends here.
		end, err = skipNested(b, i, depth)
		return end, nil, false, err
	}
	if depth >= maxDepth {
		return i, nil, false, syntaxError(i, "nested too deep")
	}
	if b[i] == '[' {
		return descendArray(b, i, segs, depth)
	}
	i = skipSpace(b, i+1)
	if i < len(b) && b[i] == '}' {
		return i + 1, nil, false, nil
	}
	for {
		if i >= len(b) || b[i] != '"' {
			return i, nil, false, syntaxError(i, "expected a string key")
		}
		keyEnd, name, err := keyAt(b, i)
		if err != nil {
			return keyEnd, nil, false, err
		}
		start, err := expectColon(b, keyEnd)
		if err != nil {
			return start, nil, false, err
		}
		if string(name) == segs[0] {
			i, found, ok, err = descend(b, start, segs[1:], depth+1)
		} else {
			i, err = skipNested(b, start, depth+1)
		}
		if err != nil {
			return i, nil, false, err
		}
		var done bool
		if i, done, err = nextMember(b, i, '}'); err != nil || done {
			return i, found, ok, err
		}
	}
}

func descendArray(b []byte, i int, segs []string, depth int) (end int, found Value, ok bool, err error) {
	want, indexed := parseIndex(segs[0])
	i = skipSpace(b, i+1)
	if i < len(b) && b[i] == ']' {
		return i + 1, nil, false, nil
	}
	for n := 0; ; n++ {
		if indexed && n == want {
			i, found, ok, err = descend(b, i, segs[1:], depth+1)
		} else {
			i, err = skipNested(b, i, depth+1)
		}
		if err != nil {
			return i, nil, false, err
		}
		var done bool
		if i, done, err = nextMember(b, i, ']'); err != nil || done {
			return i, found, ok, err
		}
	}
}

// parseIndex reads an array index as Rust's usize parsing does (an
// optional `+`, then decimal digits), so both SDKs read the same paths.
func parseIndex(s string) (int, bool) {
	s = strings.TrimPrefix(s, "+")
	if s == "" {
		return 0, false
	}
	n := 0
	for _, c := range []byte(s) {
		if !isDigit(c) || n > (1<<31)/10 {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	return n, true
}

// parseInt64 reads a JSON integer that fits an int64 (not 1.0 or 1e3, as
// serde_json's i64 does not), without allocating.
func parseInt64(b []byte) (int64, bool) {
	neg := len(b) > 0 && b[0] == '-'
	if neg {
		b = b[1:]
	}
	if len(b) == 0 || len(b) > 19 {
		return 0, false
	}
	var n uint64
	for _, c := range b {
		if !isDigit(c) {
			return 0, false
		}
		n = n*10 + uint64(c-'0')
	}
	switch {
	case neg && n <= 1<<63:
		return int64(-n), true
	case !neg && n < 1<<63:
		return int64(n), true
	}
	return 0, false
}
