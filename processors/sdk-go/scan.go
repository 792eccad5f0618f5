package flowctl

import (
	"math/bits"
	"strconv"
	"unicode/utf16"
	"unicode/utf8"
	"unsafe"
)

// The JSON reader under everything else in the SDK: it walks JSON text in
// place, checking its syntax, and never builds a tree. encoding/json would
// decode a whole event (reflection, a map per object) to read one field;
// processors that test one value per event, like filter, would spend most
// of their time there.

// SyntaxError says where JSON text stopped being JSON.
type SyntaxError struct {
	Offset int // byte offset of the problem in the text read
	msg    string
}

func (e *SyntaxError) Error() string {
	return e.msg + " at byte " + strconv.Itoa(e.Offset)
}

func syntaxError(at int, msg string) error {
	return &SyntaxError{Offset: at, msg: msg}
}

// maxDepth bounds nesting as serde_json does (the Rust SDK's parser), so
// both SDKs refuse the same pathological events.
const maxDepth = 128

// stringPlain[c] is true for bytes that stand for themselves inside a JSON
// string: a table lookup per byte is the cheapest test on wasm.
var stringPlain = func() (t [256]bool) {
	for c := 0x20; c < 256; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

func isSpace(c byte) bool {
	return c == ' ' || c == '\n' || c == '\r' || c == '\t'
}

func skipSpace(b []byte, i int) int {
	for i < len(b) && isSpace(b[i]) {
		i++
	}
	return i
}

// skipValue returns the end of the JSON value starting at b[i].
func skipValue(b []byte, i int) (int, error) {
	return skipNested(b, i, 0)
}

// skipNested is skipValue for a value nested depth levels deep. It walks
// containers with a loop and a bit stack rather than by recursion, and
// reads plain strings and integers inline: on wasm, Go function calls and
// loop iterations are costly, and this is where a processor spends its
// time.
func skipNested(b []byte, i, depth int) (int, error) {
	var objects [maxDepth/64 + 1]uint64 // bit d: the container opened d-th is an object
	level := 0
	for {
		// A value starts at b[i].
		if i >= len(b) {
			return i, syntaxError(i, "unexpected end of JSON")
		}
		switch c := b[i]; {
		case c == '"':
			end, ok := plainStringEnd(b, i)
			if !ok {
				var err error
				if end, err = skipString(b, i); err != nil {
					return end, err
				}
			}
			i = end
		case c >= '1' && c <= '9':
			j := i + 1
			for j < len(b) && isDigit(b[j]) {
				j++
			}
			if j < len(b) && (b[j] == '.' || b[j] == 'e' || b[j] == 'E') {
				var err error
				if j, err = skipNumber(b, i); err != nil {
					return j, err
				}
			}
			i = j
		case c == '{' || c == '[':
			if depth+level >= maxDepth {
				return i, syntaxError(i, "nested too deep")
			}
			object := c == '{'
			if object {
				objects[level>>6] |= 1 << (level & 63)
			} else {
				objects[level>>6] &^= 1 << (level & 63)
			}
			level++
			i = skipSpace(b, i+1)
			if i < len(b) && b[i] == c+2 { // `}` is `{`+2, `]` is `[`+2
				i++
				level--
				break
			}
			if object {
				var err error
				if i, err = skipKey(b, i); err != nil {
					return i, err
				}
			}
			continue
		case c == '-' || c == '0':
			var err error
			if i, err = skipNumber(b, i); err != nil {
				return i, err
			}
		case c == 't':
			if len(b)-i < 4 || string(b[i:i+4]) != "true" {
				return i, syntaxError(i, "expected a JSON value")
			}
			i += 4
		case c == 'f':
			if len(b)-i < 5 || string(b[i:i+5]) != "false" {
				return i, syntaxError(i, "expected a JSON value")
			}
			i += 5
		case c == 'n':
			if len(b)-i < 4 || string(b[i:i+4]) != "null" {
				return i, syntaxError(i, "expected a JSON value")
			}
			i += 4
		default:
			return i, syntaxError(i, "expected a JSON value")
		}
		// After a value: close containers, or go on to the next member.
		for {
			if level == 0 {
				return i, nil
			}
			i = skipSpace(b, i)
			object := objects[(level-1)>>6]&(1<<((level-1)&63)) != 0
			if i < len(b) && b[i] == ',' {
				i = skipSpace(b, i+1)
				if object {
					var err error
					if i, err = skipKey(b, i); err != nil {
						return i, err
					}
				}
				break
			}
			closing := byte(']')
			if object {
				closing = '}'
			}
			if i >= len(b) || b[i] != closing {
				return i, syntaxError(i, "expected `,` or `"+string(closing)+"`")
			}
			i++
			level--
		}
	}
}

// skipKey skips an object key and its colon: i is then at the value.
func skipKey(b []byte, i int) (int, error) {
	if i >= len(b) || b[i] != '"' {
		return i, syntaxError(i, "expected a string key")
	}
	end, ok := plainStringEnd(b, i)
	if !ok {
		var err error
		if end, err = skipString(b, i); err != nil {
			return end, err
		}
	}
	return expectColon(b, end)
}

// plainStringEnd is the end of the string at the quote b[i] when it has no
// escapes (ok false when it may have: skipString then reads it).
func plainStringEnd(b []byte, i int) (int, bool) {
	i = nextSpecial(b, i+1)
	return i + 1, i < len(b) && b[i] == '"'
}

// nextSpecial is the index of the first `"`, `\\` or control byte at or
// after b[i] (len(b) if none).
func nextSpecial(b []byte, i int) int {
	for i+8 <= len(b) {
		if m := specialBytes(load64(b, i)); m != 0 {
			return i + bits.TrailingZeros64(m)>>3
		}
		i += 8
	}
	for i < len(b) && stringPlain[b[i]] {
		i++
	}
	return i
}

// load64 is the eight bytes at b[i:i+8], which the caller has checked exist.
func load64(b []byte, i int) uint64 {
	return *(*uint64)(unsafe.Add(unsafe.Pointer(unsafe.SliceData(b)), i))
}

// expectColon skips `:` and the spaces around it after an object key.
func expectColon(b []byte, i int) (int, error) {
	i = skipSpace(b, i)
	if i >= len(b) || b[i] != ':' {
		return i, syntaxError(i, "expected `:`")
	}
	return skipSpace(b, i+1), nil
}

// nextMember skips the `,` after a member (then the start of the next one)
// or the closing bracket, in which case done is true and i is past it.
func nextMember(b []byte, i int, closing byte) (next int, done bool, err error) {
	i = skipSpace(b, i)
	if i < len(b) {
		switch b[i] {
		case ',':
			return skipSpace(b, i+1), false, nil
		case closing:
			return i + 1, true, nil
		}
	}
	return i, false, syntaxError(i, "expected `,` or `"+string(closing)+"`")
}

func skipLiteral(b []byte, i int, lit string) (int, error) {
	if len(b)-i < len(lit) || string(b[i:i+len(lit)]) != lit {
		return i, syntaxError(i, "expected a JSON value")
	}
	return i + len(lit), nil
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// skipNumber checks JSON's number grammar:
// -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
func skipNumber(b []byte, i int) (int, error) {
	start := i
	if b[i] == '-' {
		i++
	}
	switch {
	case i < len(b) && b[i] == '0':
		i++
	case i < len(b) && isDigit(b[i]):
		for i < len(b) && isDigit(b[i]) {
			i++
		}
	default:
		return i, syntaxError(start, "invalid number")
	}
	if i < len(b) && b[i] == '.' {
		i++
		if i >= len(b) || !isDigit(b[i]) {
			return i, syntaxError(start, "invalid number")
		}
		for i < len(b) && isDigit(b[i]) {
			i++
		}
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		if i >= len(b) || !isDigit(b[i]) {
			return i, syntaxError(start, "invalid number")
		}
		for i < len(b) && isDigit(b[i]) {
			i++
		}
	}
	return i, nil
}

// Eight bytes at a time: whether any is `"`, `\` or below 0x20 (the
// classic has-zero-byte and has-less-than bit tricks, exact as a yes/no).
// Most string bytes are plain, and one 64-bit test per eight of them is
// what makes the scan cheap on wasm.
const (
	ones  = 0x0101010101010101
	highs = 0x8080808080808080
)

// specialBytes has the high bit set in (at least) the lowest byte of w
// that is `"`, `\\` or below 0x20, and is 0 when there is none. Bits above
// the lowest one may be wrong (borrows), so only the lowest is read.
func specialBytes(w uint64) uint64 {
	quote := w ^ (ones * '"')
	backslash := w ^ (ones * '\\')
	special := (quote - ones) &^ quote
	special |= (backslash - ones) &^ backslash
	special |= (w - ones*0x20) &^ w
	return special & highs
}

// skipString returns the end of the string starting at the quote b[i].
func skipString(b []byte, i int) (int, error) {
	end, _, err := scanString(b, i)
	return end, err
}

// keyAt reads the object key starting at the quote b[i]: its end, and its
// value (the text between the quotes unless it has escapes, so comparing
// it allocates nothing).
func keyAt(b []byte, i int) (end int, name []byte, err error) {
	end, escaped, err := scanString(b, i)
	if err != nil {
		return end, nil, err
	}
	if escaped {
		return end, appendUnquoted(nil, b[i:end]), nil
	}
	return end, b[i+1 : end-1], nil
}

// scanString is skipString, also telling whether the string has escapes.
func scanString(b []byte, i int) (end int, escaped bool, err error) {
	start := i
	i++
	for {
		i = nextSpecial(b, i)
		if i >= len(b) {
			return i, escaped, syntaxError(start, "unterminated string")
		}
		switch b[i] {
		case '"':
			return i + 1, escaped, nil
		case '\\':
			escaped = true
			if i+1 >= len(b) {
				return i, escaped, syntaxError(start, "unterminated string")
			}
			switch b[i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				i += 2
			case 'u':
				if _, ok := hex4(b, i+2); !ok {
					return i, escaped, syntaxError(i, "invalid \\u escape")
				}
				i += 6
			default:
				return i, escaped, syntaxError(i, "invalid escape")
			}
		default:
			return i, escaped, syntaxError(i, "control character in string")
		}
	}
}

func hex4(b []byte, i int) (rune, bool) {
	if len(b)-i < 4 {
		return 0, false
	}
	var r rune
	for _, c := range b[i : i+4] {
		switch {
		case c >= '0' && c <= '9':
			c -= '0'
		case c >= 'a' && c <= 'f':
			c -= 'a' - 10
		case c >= 'A' && c <= 'F':
			c -= 'A' - 10
		default:
			return 0, false
		}
		r = r<<4 | rune(c)
	}
	return r, true
}

// hasEscape reports whether the quoted string q (quotes included) holds a
// backslash: without one, its bytes between the quotes are its value.
func hasEscape(q []byte) bool {
	for _, c := range q[1 : len(q)-1] {
		if c == '\\' {
			return true
		}
	}
	return false
}

// unquote is the value of the quoted JSON string q, already checked by
// skipString. Lone surrogates become U+FFFD, as encoding/json does.
func unquote(q []byte) string {
	if !hasEscape(q) {
		return string(q[1 : len(q)-1])
	}
	return string(appendUnquoted(make([]byte, 0, len(q)), q))
}

func appendUnquoted(dst, q []byte) []byte {
	s := q[1 : len(q)-1]
	for i := 0; i < len(s); {
		c := s[i]
		if c != '\\' {
			dst = append(dst, c)
			i++
			continue
		}
		switch s[i+1] {
		case 'b':
			dst = append(dst, '\b')
		case 'f':
			dst = append(dst, '\f')
		case 'n':
			dst = append(dst, '\n')
		case 'r':
			dst = append(dst, '\r')
		case 't':
			dst = append(dst, '\t')
		case 'u':
			r, _ := hex4(s, i+2)
			i += 6
			if utf16.IsSurrogate(r) {
				if len(s)-i >= 6 && s[i] == '\\' && s[i+1] == 'u' {
					if r2, ok := hex4(s, i+2); ok {
						if pair := utf16.DecodeRune(r, r2); pair != utf8.RuneError {
							r = pair
							i += 6
						}
					}
				}
				if utf16.IsSurrogate(r) {
					r = utf8.RuneError
				}
			}
			dst = utf8.AppendRune(dst, r)
			continue
		default: // '"', '\\', '/'
			dst = append(dst, s[i+1])
		}
		i += 2
	}
	return dst
}

// equalsString reports whether the quoted JSON string q has the value s,
// without allocating for strings without escapes (nearly all keys).
func equalsString(q []byte, s string) bool {
	if !hasEscape(q) {
		return string(q[1:len(q)-1]) == s
	}
	return unquote(q) == s
}

const hexDigits = "0123456789abcdef"

// appendQuoted appends s as a JSON string. It escapes what JSON requires
// (and invalid UTF-8, as U+FFFD) and nothing else, as serde_json does, so
// both SDKs write the same text.
func appendQuoted(dst []byte, s string) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' && c < utf8.RuneSelf {
			i++
			continue
		}
		if c >= utf8.RuneSelf {
			r, size := utf8.DecodeRuneInString(s[i:])
			if r == utf8.RuneError && size == 1 {
				dst = append(dst, s[start:i]...)
				dst = append(dst, "\uFFFD"...)
				i++
				start = i
				continue
			}
			i += size
			continue
		}
		dst = append(dst, s[start:i]...)
		switch c {
		case '"', '\\':
			dst = append(dst, '\\', c)
		case '\b':
			dst = append(dst, '\\', 'b')
		case '\f':
			dst = append(dst, '\\', 'f')
		case '\n':
			dst = append(dst, '\\', 'n')
		case '\r':
			dst = append(dst, '\\', 'r')
		case '\t':
			dst = append(dst, '\\', 't')
		default:
			dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
		}
		i++
		start = i
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}

// appendCompact appends the JSON value v without insignificant whitespace.
// v must be valid JSON (checked by the caller).
func appendCompact(dst, v []byte) []byte {
	for i := 0; i < len(v); {
		c := v[i]
		if c == '"' {
			end, _ := skipString(v, i)
			dst = append(dst, v[i:end]...)
			i = end
			continue
		}
		if !isSpace(c) {
			dst = append(dst, c)
		}
		i++
	}
	return dst
}

// checkJSON reports whether v is exactly one JSON value, spaces around it
// allowed, and returns it trimmed.
func checkJSON(v []byte) ([]byte, error) {
	i := skipSpace(v, 0)
	end, err := skipValue(v, i)
	if err != nil {
		return nil, err
	}
	if j := skipSpace(v, end); j != len(v) {
		return nil, syntaxError(j, "unexpected text after the JSON value")
	}
	return v[i:end], nil
}
