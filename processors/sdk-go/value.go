package flowctl

import (
	"bytes"
	"encoding/json"
	"iter"
	"strconv"
	"unicode"
	"unsafe"
)

// Value is the JSON text of one value, as found in an event (what a
// json.RawMessage holds). Its methods read it in place, without
// encoding/json. A Value returned by [RawEvent.Get] points into the input
// buffer, which the host frees when the call returns: copy it ([Value.Clone])
// to keep it longer.
type Value []byte

// Kind is the JSON type of a [Value].
type Kind int

const (
	Invalid Kind = iota // empty, or not JSON
	Null
	Bool
	Number
	String
	Array
	Object
)

var kindNames = [...]string{"invalid", "null", "bool", "number", "string", "array", "object"}

func (k Kind) String() string {
	if k < 0 || int(k) >= len(kindNames) {
		return "kind(" + strconv.Itoa(int(k)) + ")"
	}
	return kindNames[k]
}

// Kind tells the value's JSON type from its first byte; it does not check
// the rest (values read from events are checked as they are read).
func (v Value) Kind() Kind {
	if len(v) == 0 {
		return Invalid
	}
	switch c := v[0]; c {
	case 'n':
		return Null
	case 't', 'f':
		return Bool
	case '"':
		return String
	case '[':
		return Array
	case '{':
		return Object
	default:
		if c == '-' || isDigit(c) {
			return Number
		}
		return Invalid
	}
}

// IsNull reports whether v is JSON null.
func (v Value) IsNull() bool { return v.Kind() == Null }

// AsString is the value of a JSON string, with its escapes decoded.
func (v Value) AsString() (string, bool) {
	if v.Kind() != String || len(v) < 2 {
		return "", false
	}
	return unquote(v), true
}

// IsString reports whether v is the JSON string s, without allocating.
func (v Value) IsString(s string) bool {
	return v.Kind() == String && len(v) >= 2 && equalsString(v, s)
}

// AsFloat is the value of a JSON number as a float64 (the nearest one, as
// serde_json's as_f64 gives it; ±Inf beyond its range).
func (v Value) AsFloat() (float64, bool) {
	if v.Kind() != Number {
		return 0, false
	}
	if f, ok := parseSimpleDecimal(v); ok {
		return f, true
	}
	// The text is not kept past this call, so it need not be copied.
	f, err := strconv.ParseFloat(unsafe.String(&v[0], len(v)), 64)
	if err != nil && !isRangeError(err) {
		return 0, false
	}
	return f, true
}

// Numeric is a JSON number's value, or the number a JSON string holds
// (spaces around it allowed), such as Horizon's amounts ("12.5000000"). The
// string is read as Rust's f64 parsing reads it (decimal, exponent, inf,
// nan), so Go and Rust processors agree on which strings are numbers.
func (v Value) Numeric() (float64, bool) {
	switch v.Kind() {
	case Number:
		return v.AsFloat()
	case String:
		if len(v) < 2 {
			return 0, false
		}
		text := []byte(v[1 : len(v)-1])
		if hasEscape(v) {
			text = appendUnquoted(nil, v)
		}
		return parseDecimal(text)
	}
	return 0, false
}

func parseDecimal(text []byte) (float64, bool) {
	text = bytes.TrimFunc(text, unicode.IsSpace)
	digits := text
	if len(digits) > 0 && (digits[0] == '+' || digits[0] == '-') {
		digits = digits[1:]
	}
	// strconv also reads hexadecimal floats and underscores; Rust does not.
	if len(digits) == 0 || bytes.IndexByte(digits, '_') >= 0 ||
		(len(digits) > 1 && digits[0] == '0' && (digits[1] == 'x' || digits[1] == 'X')) {
		return 0, false
	}
	if f, ok := parseSimpleDecimal(text); ok {
		return f, true
	}
	f, err := strconv.ParseFloat(unsafe.String(&text[0], len(text)), 64)
	if err != nil && !isRangeError(err) {
		return 0, false
	}
	return f, true
}

var exactPowersOf10 = [...]float64{1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10,
	1e11, 1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22}

// parseSimpleDecimal reads -?digits[.digits] with at most 15 significant
// digits (most amounts and counts), the case where the mantissa and the
// power of ten are both exact float64s, so one division rounds correctly
// (Clinger's fast path, as strconv takes it too, after more work). ok is
// false for anything else, which strconv then reads.
func parseSimpleDecimal(text []byte) (float64, bool) {
	i, neg := 0, false
	if len(text) > 0 && text[0] == '-' {
		i, neg = 1, true
	}
	var mantissa uint64
	all, digits, fraction, dot := 0, 0, 0, false
	for ; i < len(text); i++ {
		c := text[i]
		switch {
		case isDigit(c):
			all++
			if mantissa != 0 || c != '0' {
				digits++
			}
			mantissa = mantissa*10 + uint64(c-'0')
			if dot {
				fraction++
			}
		case c == '.' && !dot:
			dot = true
		default:
			return 0, false
		}
	}
	if all == 0 || digits > 15 || fraction > 22 || (dot && fraction == 0) {
		return 0, false
	}
	f := float64(mantissa) / exactPowersOf10[fraction]
	if neg {
		f = -f
	}
	return f, true
}

// AsInt is the value of a JSON integer that fits an int64.
func (v Value) AsInt() (int64, bool) {
	if v.Kind() != Number {
		return 0, false
	}
	n, err := strconv.ParseInt(unsafe.String(&v[0], len(v)), 10, 64)
	return n, err == nil
}

// AsBool is the value of a JSON true or false.
func (v Value) AsBool() (bool, bool) {
	switch string(v) {
	case "true":
		return true, true
	case "false":
		return false, true
	}
	return false, false
}

// Items are the elements of a JSON array, in order (none if v is not one).
func (v Value) Items() iter.Seq[Value] {
	return func(yield func(Value) bool) {
		if v.Kind() != Array {
			return
		}
		i := skipSpace(v, 1)
		if i < len(v) && v[i] == ']' {
			return
		}
		for {
			end, err := skipValue(v, i)
			if err != nil || !yield(v[i:end]) {
				return
			}
			var done bool
			if i, done, err = nextMember(v, end, ']'); err != nil || done {
				return
			}
		}
	}
}

// Members are the keys and values of a JSON object, in the order written
// (a repeated key comes once per time it is written).
func (v Value) Members() iter.Seq2[string, Value] {
	return func(yield func(string, Value) bool) {
		if v.Kind() != Object {
			return
		}
		i := skipSpace(v, 1)
		if i < len(v) && v[i] == '}' {
			return
		}
		for {
			if i >= len(v) || v[i] != '"' {
				return
			}
			keyEnd, err := skipString(v, i)
			if err != nil {
				return
			}
			key := v[i:keyEnd]
			start, err := expectColon(v, keyEnd)
			if err != nil {
				return
			}
			end, err := skipValue(v, start)
			if err != nil || !yield(unquote(key), v[start:end]) {
				return
			}
			var done bool
			if i, done, err = nextMember(v, end, '}'); err != nil || done {
				return
			}
		}
	}
}

// Get is the value at a dotted path inside v: object keys, or indexes into
// arrays (`items.0.name`), as [Event.Get] reads `data.` paths. An empty path
// is v itself.
func (v Value) Get(path string) (Value, bool) {
	if path == "" {
		return v, len(v) > 0
	}
	_, found, ok, err := descend(v, skipSpace(v, 0), splitPath(path), 0)
	return found, ok && err == nil
}

// Decode unmarshals v into dst with encoding/json.
func (v Value) Decode(dst any) error { return json.Unmarshal(v, dst) }

// Clone is a copy of v that does not share its memory.
func (v Value) Clone() Value {
	if v == nil {
		return nil
	}
	return append(Value(make([]byte, 0, len(v))), v...)
}

// MarshalJSON writes v as it is (null when empty), like json.RawMessage,
// so a Value may be passed to [Event.Set] or json.Marshal.
func (v Value) MarshalJSON() ([]byte, error) {
	if len(v) == 0 {
		return []byte("null"), nil
	}
	return v, nil
}

// UnmarshalJSON keeps a copy of the JSON text, like json.RawMessage.
func (v *Value) UnmarshalJSON(text []byte) error {
	*v = append((*v)[:0], text...)
	return nil
}

func isRangeError(err error) bool {
	ne, ok := err.(*strconv.NumError)
	return ok && ne.Err == strconv.ErrRange
}
