package flowctl

import (
	"bytes"
	"encoding/json"
	"math/bits"
	"strings"
	"testing"
	"unicode/utf8"
)

var jsonSamples = []string{
	`null`, `true`, `false`, `0`, `-0`, `12`, `-12.5e+3`, `1E9`, `0.5`, `""`, `"a\"b\\c\/\b\f\n\r\t\u00e9\ud83d\ude00"`,
	`[]`, `[ ]`, `[1,2 , 3]`, `{}`, `{ }`, `{"a":1}`, `{"a" : [1,{"b":null}] , "c":"d"}`,
	" \n\t{\"x\":\"" + strings.Repeat("abcdefgh", 20) + "\"} ",
	`{"k":"é😀 plain utf-8"}`, `[[[[[[[[[[1]]]]]]]]]]`, `"\u0000"`, `{"a":1,"a":2}`,
	// Not JSON:
	``, ` `, `nul`, `tru`, `falsy`, `01`, `-`, `1.`, `.5`, `1e`, `1e+`, `+1`, `0x1`, `"abc`, `"a\x"`, `"\u12"`, `"\u12g4"`,
	"\"a\x01b\"", `[1,]`, `[1 2]`, `{"a"}`, `{"a":}`, `{"a":1,}`, `{a:1}`, `{"a":1 "b":2}`, `[`, `{`, `]`, `}`, `[1]]`,
	`{"a":1}}`, `"a"b`, `1 2`, `[1,2`, `{"a":[}`, `nulll`, `truefalse`,
}

func TestCheckJSONAgreesWithEncodingJSON(t *testing.T) {
	for _, doc := range jsonSamples {
		_, err := checkJSON([]byte(doc))
		if (err == nil) != json.Valid([]byte(doc)) {
			t.Errorf("%q: checkJSON error %v, json.Valid %v", doc, err, json.Valid([]byte(doc)))
		}
	}
}

func TestNestingIsBoundedAsInRust(t *testing.T) {
	deep := func(n int) string { return strings.Repeat("[", n) + strings.Repeat("]", n) }
	if _, err := checkJSON([]byte(deep(maxDepth))); err != nil {
		t.Errorf("depth %d refused: %v", maxDepth, err)
	}
	if _, err := checkJSON([]byte(deep(maxDepth + 1))); err == nil {
		t.Errorf("depth %d accepted", maxDepth+1)
	}
	if _, err := checkJSON([]byte(strings.Repeat(`{"a":`, maxDepth+1) + "1" + strings.Repeat("}", maxDepth+1))); err == nil {
		t.Error("deep objects accepted")
	}
}

func FuzzCheckJSON(f *testing.F) {
	for _, doc := range jsonSamples {
		f.Add([]byte(doc))
	}
	f.Fuzz(func(t *testing.T, doc []byte) {
		if strings.Count(string(doc), "[")+strings.Count(string(doc), "{") >= maxDepth {
			t.Skip("encoding/json has no depth limit")
		}
		trimmed, err := checkJSON(doc)
		if (err == nil) != json.Valid(doc) {
			t.Fatalf("%q: checkJSON error %v, json.Valid %v", doc, err, json.Valid(doc))
		}
		if err != nil {
			return
		}
		want, err := decodeAny(trimmed)
		if err != nil {
			t.Fatalf("trimmed %q: %v", trimmed, err)
		}
		if !json.Valid(appendCompact(nil, trimmed)) {
			t.Fatalf("compact %q", appendCompact(nil, trimmed))
		}
		if s, ok := want.(string); ok && utf8.ValidString(string(trimmed)) && unquote(trimmed) != s {
			t.Fatalf("unquote %q = %q, want %q", trimmed, unquote(trimmed), s)
		}
	})
}

// decodeAny decodes JSON keeping numbers as text.
func decodeAny(doc []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(doc))
	dec.UseNumber()
	var v any
	err := dec.Decode(&v)
	return v, err
}

func TestUnquoteDecodesEscapesAsEncodingJSON(t *testing.T) {
	for _, q := range []string{`""`, `"plain"`, `"\"\\\/\b\f\n\r\t"`, `"\u00e9\u20AC"`, `"\ud83d\ude00"`, `"\ud83d"`, `"\ude00x"`, `"\ud83d\u0041"`} {
		var want string
		if err := json.Unmarshal([]byte(q), &want); err != nil {
			t.Fatal(err)
		}
		if got := unquote([]byte(q)); got != want {
			t.Errorf("unquote(%s) = %q, want %q", q, got, want)
		}
	}
}

func TestAppendQuotedRoundTripsAndEscapesOnlyWhatJSONNeeds(t *testing.T) {
	for _, s := range []string{"", "plain", "quote \" backslash \\ slash /", "\x00\x01\x1f\x7f", "\n\r\t\b\f", "é😀<>&", "bad \xff utf-8"} {
		q := appendQuoted(nil, s)
		var back string
		if err := json.Unmarshal(q, &back); err != nil {
			t.Fatalf("%q -> %s: %v", s, q, err)
		}
		if want := strings.ToValidUTF8(s, "\uFFFD"); back != want {
			t.Errorf("%q -> %s -> %q", s, q, back)
		}
	}
	if got := string(appendQuoted(nil, "<a&b>/\x1f")); got != `"<a&b>/\u001f"` {
		t.Errorf("got %s", got)
	}
}

// The word test finds the first special byte wherever it is, whatever
// comes after it.
func TestSpecialBytesFindsTheFirstSpecialByte(t *testing.T) {
	for pos := range 8 {
		for c := range 256 {
			for _, after := range []byte{'a', '"', 0, 0xff} {
				var w [8]byte
				for k := range w {
					w[k] = 'x'
					if k > pos {
						w[k] = after
					}
				}
				w[pos] = byte(c)
				word := uint64(0)
				for k := 7; k >= 0; k-- {
					word = word<<8 | uint64(w[k])
				}
				m := specialBytes(word)
				special := !stringPlain[c]
				switch {
				case special && (m == 0 || bits.TrailingZeros64(m)>>3 != pos):
					t.Fatalf("byte %#x at %d (then %#x): mask %#x", c, pos, after, m)
				case !special && m != 0 && bits.TrailingZeros64(m)>>3 <= pos:
					t.Fatalf("plain byte %#x at %d (then %#x) flagged: mask %#x", c, pos, after, m)
				}
			}
		}
	}
}

func TestSyntaxErrorsSayWhere(t *testing.T) {
	_, err := checkJSON([]byte(`{"a": tru}`))
	if err == nil || err.Error() != "expected a JSON value at byte 6" {
		t.Errorf("got %v", err)
	}
}
