package flowctl

import (
	"reflect"
	"strconv"
	"strings"
	"testing"
)

// Events of every shape, malformed ones included (those of the Rust
// filter's agreement test, and more).
var pathEvents = []string{
	`{"id":"e1","type":"t.v1","timestamp":1700,"metadata":{"region":"eu","a.b":"dotted","region":"us"},"data":{"amount":"5000.5","n":7,"s":"rent due","list":[1,"2",{"k":"v"}],"obj":{"a":null},"dup":1,"dup":2}}`,
	`{"data":{"amount":4999}}`,
	`{"id":"e\u0031","type":"","data":null,"metadata":{}}`,
	`{"id":"x","data":[10,"20",{"amount":6000}]}`,
	`{"id":"x","data":"str","extra":{"deep":[1,{"id":5}]}}`,
	`{"id":"x","data":{"amount":1e3,"\u006e":7}}`,
	` { "id" : "sp" , "data" : { "amount" : [ 1 , 2 ] } , "metadata" : { "k" : "v" } } `,
	`{"data":{"a":{"b":1},"a":2}}`,
	`{"data":{"a":{"b":1},"a":{"c":3}}}`,
	`{"timestamp":-9223372036854775808}`,
	`{"id":5}`,
	`{"id":null}`,
	`{"id":"a","metadata":{"k":1}}`,
	`{"id":"a","id":"b"}`,
	`{"data":{"a":1},"data":2}`,
	`{"timestamp":"x"}`,
	`{"timestamp":1.5}`,
	`{"timestamp":9223372036854775808}`,
	`{"metadata":null}`,
	`{"metadata":{"k":"v","k2":{"x":1}}}`,
	`7`,
	`[{"id":"a"}]`,
	`{}`,
}

var pathFields = []string{
	"id", "type", "timestamp", "metadata", "metadata.region", "metadata.a.b", "metadata.none", "metadata.k",
	"data", "data.amount", "data.amount.0", "data.amount.+1", "data.n", "data.s", "data.list", "data.list.1",
	"data.list.2.k", "data.list.9", "data.obj.a", "data.dup", "data.2.amount", "data.1", "data.s.0",
	"data.amount.x", "data.a", "data.a.b", "data.a.c", "nope", "id.x", "data.",
}

// RawEvent.Get answers as Event.Get does on the decoded event, and fails
// exactly where decoding fails.
func TestRawGetAgreesWithDecodedEvents(t *testing.T) {
	for _, text := range pathEvents {
		ev, decodeErr := RawEvent(text).Decode()
		for _, field := range pathFields {
			got, gotOK, gotErr := RawEvent(text).Lookup(field)
			if (gotErr != nil) != (decodeErr != nil) {
				t.Fatalf("%s on %s: Get error %v, Decode error %v", field, text, gotErr, decodeErr)
			}
			if gotErr != nil {
				if gotErr.Error() != decodeErr.Error() {
					t.Errorf("%s on %s: Get says %q, Decode %q", field, text, gotErr, decodeErr)
				}
				continue
			}
			want, wantOK := ev.Get(field)
			if gotOK != wantOK || !sameJSON(t, got, want) {
				t.Errorf("%s on %s: Get %s %v, Event.Get %s %v", field, text, got, gotOK, want, wantOK)
			}
		}
	}
}

// Event.Get on data paths answers as a lookup in what encoding/json
// decodes (the last of a repeated key), and the envelope checks refuse
// what the Rust SDK's Event refuses.
func TestDecodedEventsMatchEncodingJSON(t *testing.T) {
	refused := map[string]bool{
		`{"id":5}`: true, `{"id":null}`: true, `{"id":"a","metadata":{"k":1}}`: true, `{"id":"a","id":"b"}`: true,
		`{"data":{"a":1},"data":2}`: true, `{"timestamp":"x"}`: true, `{"timestamp":1.5}`: true,
		`{"timestamp":9223372036854775808}`: true, `{"metadata":null}`: true, `{"metadata":{"k":"v","k2":{"x":1}}}`: true,
		`7`: true, `[{"id":"a"}]`: true,
	}
	for _, text := range pathEvents {
		ev, err := RawEvent(text).Decode()
		if (err != nil) != refused[text] {
			t.Fatalf("%s: Decode error %v", text, err)
		}
		if err != nil {
			if !strings.HasPrefix(err.Error(), "input event: ") {
				t.Errorf("%s: %v", text, err)
			}
			continue
		}
		whole, err := decodeAny([]byte(text))
		if err != nil {
			t.Fatal(err)
		}
		data := whole.(map[string]any)["data"]
		for _, field := range pathFields {
			rest, isData := strings.CutPrefix(field, "data.")
			if !isData {
				continue
			}
			want, wantOK := lookupAny(data, strings.Split(rest, "."))
			got, gotOK := ev.Get(field)
			if gotOK != wantOK {
				t.Errorf("%s on %s: found %v, encoding/json %v", field, text, gotOK, wantOK)
				continue
			}
			if gotOK {
				g, err := decodeAny(got)
				if err != nil || !reflect.DeepEqual(g, want) {
					t.Errorf("%s on %s: %s, encoding/json %v", field, text, got, want)
				}
			}
		}
	}
}

func lookupAny(v any, segs []string) (any, bool) {
	for _, s := range segs {
		switch x := v.(type) {
		case map[string]any:
			var ok bool
			if v, ok = x[s]; !ok {
				return nil, false
			}
		case []any:
			n, ok := parseIndex(s)
			if !ok || n >= len(x) {
				return nil, false
			}
			v = x[n]
		default:
			return nil, false
		}
	}
	return v, true
}

func sameJSON(t *testing.T, a, b Value) bool {
	t.Helper()
	if a == nil || b == nil {
		return a == nil && b == nil
	}
	x, err := decodeAny(a)
	if err != nil {
		t.Fatalf("%s: %v", a, err)
	}
	y, err := decodeAny(b)
	if err != nil {
		t.Fatalf("%s: %v", b, err)
	}
	return reflect.DeepEqual(x, y)
}

// In a batch, Get reads from what the SDK's pass found; the answers are
// those of a fresh read, path after path, including a path that changes.
func TestGetInABatchAgreesWithAFreshRead(t *testing.T) {
	defer reset()
	var fields []string
	for _, f := range pathFields {
		fields = append(fields, f, f) // twice: the second is read from the pass
	}
	var got []string
	FilterRaw(func(e RawEvent) (bool, error) {
		for _, f := range fields {
			v, ok, err := e.Get(ParsePath(f))
			got = append(got, describe(v, ok, err))
		}
		return true, nil
	})
	var batch []string
	var want []string
	for _, text := range pathEvents {
		if _, err := checkJSON([]byte(text)); err != nil {
			continue
		}
		batch = append(batch, text)
		for _, f := range fields {
			v, ok, err := RawEvent(strings.TrimSpace(text)).Lookup(f)
			want = append(want, describe(v, ok, err))
		}
	}
	if _, err := processBatch([]byte("["+strings.Join(batch, ",")+"]"), nil); err != nil {
		t.Fatal(err)
	}
	if len(got) != len(want) {
		t.Fatalf("%d answers, want %d", len(got), len(want))
	}
	for i := range got {
		if got[i] != want[i] {
			t.Errorf("event %d, %s: %s, fresh read %s", i/len(fields), fields[i%len(fields)], got[i], want[i])
		}
	}
}

func describe(v Value, ok bool, err error) string {
	if err != nil {
		return "error " + err.Error()
	}
	return string(v) + " " + strconv.FormatBool(ok)
}

func TestParsePath(t *testing.T) {
	cases := map[string]Path{
		"id":             {text: "id", kind: pathID},
		"id.x":           {text: "id.x"},
		"metadata":       {text: "metadata"},
		"metadata.a.b":   {text: "metadata.a.b", kind: pathMetadata, key: "a.b"},
		"data":           {text: "data", kind: pathData, segs: []string{}},
		"data.items.0.n": {text: "data.items.0.n", kind: pathData, segs: []string{"items", "0", "n"}},
		"nope":           {text: "nope"},
	}
	for text, want := range cases {
		if got := ParsePath(text); !reflect.DeepEqual(got, want) {
			t.Errorf("%s: %#v, want %#v", text, got, want)
		}
	}
	for _, c := range []struct {
		s  string
		n  int
		ok bool
	}{{"0", 0, true}, {"+1", 1, true}, {"007", 7, true}, {"", 0, false}, {"+", 0, false}, {"-1", 0, false}, {"1a", 0, false}, {"99999999999", 0, false}} {
		if n, ok := parseIndex(c.s); n != c.n || ok != c.ok {
			t.Errorf("parseIndex(%q) = %d, %v", c.s, n, ok)
		}
	}
}
