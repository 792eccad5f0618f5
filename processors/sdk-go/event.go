package flowctl

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
)

// Event is one event of the guest ABI (docs/abi.md). On output, an empty ID
// or Type and a zero Timestamp are inherited by the host from the input
// event, and Metadata is merged over the input's, so a processor sets only
// what it changes.
type Event struct {
	ID        string            `json:"id,omitempty"`
	Type      string            `json:"type,omitempty"`
	Timestamp int64             `json:"timestamp,omitempty"` // unix milliseconds
	Data      json.RawMessage   `json:"data"`                // any JSON; empty means null
	Metadata  map[string]string `json:"metadata,omitempty"`  // keys starting "flowctl." are the host's
}

// NewEvent is an event of type typ carrying data (marshalled as [Event.Set]
// does); the host fills in the input event's id and timestamp.
func NewEvent(typ string, data any) (*Event, error) {
	raw, err := marshalValue(data)
	if err != nil {
		return nil, err
	}
	// marshalValue may return data's own bytes (a Value read from the input).
	return &Event{Type: typ, Data: bytes.Clone(raw), Metadata: map[string]string{}}, nil
}

// Get is the value at a dotted path (see [Path]): `id`, `type` and
// `timestamp` always have one; `metadata.<key>` is a JSON string when the
// key is set; `data` is null when empty; `data.<a>.<b>` follows object keys
// and array indexes. ok is false where the event has no value.
func (e *Event) Get(path string) (Value, bool) { return e.GetPath(ParsePath(path)) }

// GetPath is Get with a parsed path.
func (e *Event) GetPath(p Path) (Value, bool) {
	switch p.kind {
	case pathID:
		return appendQuoted(nil, e.ID), true
	case pathType:
		return appendQuoted(nil, e.Type), true
	case pathTimestamp:
		return strconv.AppendInt(nil, e.Timestamp, 10), true
	case pathMetadata:
		if v, ok := e.Metadata[p.key]; ok {
			return appendQuoted(nil, v), true
		}
	case pathData:
		data := e.data()
		if len(p.segs) == 0 {
			return data, true
		}
		_, found, ok, err := descend(data, 0, p.segs, 0)
		return found, ok && err == nil
	}
	return nil, false
}

// data is Data trimmed, or null when empty.
func (e *Event) data() Value {
	data := bytes.TrimSpace(e.Data)
	if len(data) == 0 {
		return Value("null")
	}
	return Value(data)
}

// Set writes value at `data.<a>.<b>` (creating objects on the way, and
// replacing what is not an object) or `metadata.<key>` (a string as it is,
// anything else as its JSON text). value is marshalled with encoding/json,
// except a [Value] or json.RawMessage, which is taken as JSON text. Keys
// keep their order in Data and new ones go last. The error says the path
// is neither, or value does not marshal.
func (e *Event) Set(path string, value any) error { return e.SetPath(ParsePath(path), value) }

// SetPath is Set with a parsed path (parse it once, at Init).
func (e *Event) SetPath(p Path, value any) error {
	if text, ok := value.(string); ok && p.kind == pathMetadata {
		e.setMetadata(p.key, text)
		return nil
	}
	raw, err := marshalValue(value)
	if err != nil {
		return err
	}
	return e.setJSON(p, raw)
}

// SetValue is SetPath for a value already in JSON, such as one read from
// the config: it checks v is JSON and allocates less than SetPath, which
// takes an interface.
func (e *Event) SetValue(p Path, v Value) error {
	raw, err := compactJSON(v)
	if err != nil {
		return err
	}
	return e.setJSON(p, raw)
}

func (e *Event) setJSON(p Path, raw []byte) error {
	switch {
	case p.kind == pathMetadata:
		text := string(raw)
		if s, isString := Value(raw).AsString(); isString {
			text = s
		}
		e.setMetadata(p.key, text)
		return nil
	case p.kind == pathData && len(p.segs) > 0:
		data := e.data()
		out, err := appendSet(make([]byte, 0, len(data)+len(raw)+len(p.text)+8), data, p.segs, raw)
		if err != nil {
			return fmt.Errorf("cannot set %q: %w", p.text, err)
		}
		e.Data = json.RawMessage(out)
		return nil
	}
	return fmt.Errorf("cannot set %q: use data.<path> or metadata.<key>", p.text)
}

func (e *Event) setMetadata(key, value string) {
	if e.Metadata == nil {
		e.Metadata = map[string]string{}
	}
	e.Metadata[key] = value
}

// marshalValue is value's JSON text, compact.
func marshalValue(value any) ([]byte, error) {
	switch v := value.(type) {
	case nil:
		return []byte("null"), nil
	case string:
		return appendQuoted(nil, v), nil
	case bool:
		return strconv.AppendBool(nil, v), nil
	case int:
		return strconv.AppendInt(nil, int64(v), 10), nil
	case int64:
		return strconv.AppendInt(nil, v, 10), nil
	case Value:
		return compactJSON(v)
	case json.RawMessage:
		return compactJSON(v)
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	// serde_json (the Rust SDK) escapes only what JSON requires.
	enc.SetEscapeHTML(false)
	if err := enc.Encode(value); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

// compactJSON is v checked, trimmed and without spaces (v itself when it
// has none, so the caller must not keep it past v's life).
func compactJSON(v []byte) ([]byte, error) {
	if len(v) == 0 {
		return []byte("null"), nil
	}
	trimmed, err := checkJSON(v)
	if err != nil {
		return nil, fmt.Errorf("not JSON: %w", err)
	}
	if !bytes.ContainsAny(trimmed, " \t\r\n") {
		return trimmed, nil
	}
	return appendCompact(make([]byte, 0, len(trimmed)), trimmed), nil
}

// MarshalJSON writes the event in the ABI's form: fields in the order id,
// type, timestamp, data, metadata (keys sorted), empty ones left out (data
// is null), no spaces; the form the Rust SDK writes.
func (e *Event) MarshalJSON() ([]byte, error) {
	return e.AppendJSON(nil)
}

// AppendJSON appends the event's JSON (as [Event.MarshalJSON]) to dst.
func (e *Event) AppendJSON(dst []byte) ([]byte, error) {
	dst = append(dst, '{')
	if e.ID != "" {
		dst = append(dst, `"id":`...)
		dst = appendQuoted(dst, e.ID)
		dst = append(dst, ',')
	}
	if e.Type != "" {
		dst = append(dst, `"type":`...)
		dst = appendQuoted(dst, e.Type)
		dst = append(dst, ',')
	}
	if e.Timestamp != 0 {
		dst = append(dst, `"timestamp":`...)
		dst = strconv.AppendInt(dst, e.Timestamp, 10)
		dst = append(dst, ',')
	}
	dst = append(dst, `"data":`...)
	data, err := checkJSON(e.data())
	if err != nil {
		return dst, fmt.Errorf("event data is not JSON: %w", err)
	}
	if bytes.ContainsAny(data, " \t\r\n") {
		dst = appendCompact(dst, data)
	} else {
		dst = append(dst, data...)
	}
	if len(e.Metadata) > 0 {
		dst = append(dst, `,"metadata":{`...)
		keys := make([]string, 0, 8)
		for k := range e.Metadata {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for i, k := range keys {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = appendQuoted(dst, k)
			dst = append(dst, ':')
			dst = appendQuoted(dst, e.Metadata[k])
		}
		dst = append(dst, '}')
	}
	return append(dst, '}'), nil
}

// UnmarshalJSON reads an event as the SDK reads the host's: the envelope's
// fields checked (id and type strings, timestamp an integer, metadata an
// object of strings, none repeated), data kept as its JSON text.
func (e *Event) UnmarshalJSON(text []byte) error {
	decoded, err := RawEvent(text).Decode()
	if err != nil {
		return err
	}
	*e = *decoded
	return nil
}

// Decode is the event as an [Event]; it shares no memory with e.
func (e RawEvent) Decode() (*Event, error) {
	b := []byte(e)
	end, ev, err := decodeEvent(b, skipSpace(b, 0))
	if err != nil {
		return nil, err
	}
	if j := skipSpace(b, end); j != len(b) {
		return nil, inputError(syntaxError(j, "unexpected text after the event"))
	}
	return ev, nil
}

// decodeEvent reads the event object at b[i] and returns where it ends.
func decodeEvent(b []byte, i int) (int, *Event, error) {
	end, env, err := scanEnvelope(b, i, nil)
	if err != nil {
		return end, nil, inputError(err)
	}
	ev := &Event{Metadata: make(map[string]string, 4)}
	if env.id != nil {
		ev.ID = unquote(env.id)
	}
	if env.typ != nil {
		ev.Type = unquote(env.typ)
	}
	if env.timestamp != nil {
		ev.Timestamp, _ = parseInt64(env.timestamp)
	}
	if env.data != nil {
		ev.Data = json.RawMessage(env.data.Clone())
	}
	for k, v := range env.metadata.members() {
		ev.Metadata[unquote(k)] = unquote(v)
	}
	return end, ev, nil
}
