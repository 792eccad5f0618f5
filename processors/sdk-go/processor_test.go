package flowctl

import (
	"errors"
	"strings"
	"testing"
)

func batchOut(t *testing.T, batch string) string {
	t.Helper()
	out, err := processBatch([]byte(batch), nil)
	if err != nil {
		t.Fatalf("%s: %v", batch, err)
	}
	return string(out)
}

func TestMapWritesEachEventsOutputEntry(t *testing.T) {
	defer reset()
	Map(func(e *Event) (*Event, error) {
		switch e.ID {
		case "fail":
			return nil, errors.New("no \"thanks\"")
		case "drop":
			return nil, nil
		case "panic":
			var m map[string]string
			m["x"] = "y"
		}
		e.Metadata["seen"] = "yes"
		return e, e.Set("data.n", 1)
	})
	got := batchOut(t, ` [ {"id":"a","data":{"k":"v"}} , {"id":"fail"},{"id":"drop"},{"id":5},{"id":"panic"},{"id":"b","metadata":{"x":"1"}} ] `)
	want := `[{"id":"a","data":{"k":"v","n":1},"metadata":{"seen":"yes"}},{"error":"no \"thanks\""},[],` +
		"{\"error\":\"input event: `id` must be a string\"}," +
		`{"error":"panic: assignment to entry in nil map"},{"id":"b","data":{"n":1},"metadata":{"seen":"yes","x":"1"}}]`
	if got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
}

func TestFilterKeepsEventsAsTheyCame(t *testing.T) {
	defer reset()
	Filter(func(e *Event) (bool, error) { return e.Type == "keep", nil })
	kept := `{ "type" : "keep", "data": {"n": 1.50} }`
	if got := batchOut(t, `[`+kept+`,{"type":"drop"}]`); got != `[`+kept+`,[]]` {
		t.Errorf("got %s", got)
	}
	out, err := processEvent([]byte(" "+kept+"\n"), nil)
	if err != nil || string(out) != kept {
		t.Errorf("process_event: %s %v", out, err)
	}
}

func TestFlatMapWritesAnArray(t *testing.T) {
	defer reset()
	FlatMap(func(e *Event) ([]*Event, error) {
		var out []*Event
		for i := range len(e.ID) {
			n, _ := NewEvent("part.v1", i)
			out = append(out, n)
		}
		return out, nil
	})
	if got := batchOut(t, `[{"id":"ab"},{"id":""}]`); got != `[[{"type":"part.v1","data":0},{"type":"part.v1","data":1}],[]]` {
		t.Errorf("got %s", got)
	}
}

func TestMapRawAppendsWhatItWrites(t *testing.T) {
	defer reset()
	id := ParsePath("id")
	MapRaw(func(e RawEvent, out []byte) ([]byte, error) {
		v, _, err := e.Get(id)
		if err != nil {
			return out, err
		}
		switch {
		case v.IsString("same"):
			return append(out, e...), nil
		case v.IsString("nothing"):
			return out, nil
		}
		return append(out, `{"data":`+string(v)+`}`...), nil
	})
	got := batchOut(t, `[{"id":"same","x":1},{"id":"new"},{"id":"nothing"},{"id":[]}]`)
	want := `[{"id":"same","x":1},{"data":"new"},{"error":"the processor wrote no output"},` +
		"{\"error\":\"input event: `id` must be a string\"}]"
	if got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
}

func TestABatchThatIsNotJSONFailsWhole(t *testing.T) {
	defer reset()
	FilterRaw(func(RawEvent) (bool, error) { return true, nil })
	for batch, msg := range map[string]string{
		`{"id":"a"}`:              "input batch: expected a JSON array of events",
		`[{"id":"a"},{"id":]`:     "input batch: event 2 (at byte 12): expected a JSON value at byte 18",
		`[{"id":"a"} {"id":"b"}]`: "input batch: after event 1: expected `,` or `]` at byte 12",
		`[{"id":"a"}] x`:          "input batch: unexpected text after the array (at byte 13)",
		``:                        "input batch: expected a JSON array of events",
	} {
		_, err := processBatch([]byte(batch), nil)
		if err == nil || err.Error() != msg {
			t.Errorf("%s: %v, want %s", batch, err, msg)
		}
	}
	if got := batchOut(t, " [ ] "); got != "[]" {
		t.Errorf("empty batch: %s", got)
	}
	// JSON that is not an event fails alone, typed or raw.
	if got := batchOut(t, `[7,{"id":"a"}]`); got != `[7,{"id":"a"}]` {
		t.Errorf("raw: %s", got)
	}
}

func TestInitGetsTheConfigOnceAndRefusesBadOnes(t *testing.T) {
	defer reset()
	var configs []string
	Init(func(config []byte) error {
		configs = append(configs, string(config))
		var c struct {
			Every int `json:"every"`
		}
		if err := DecodeConfig(config, &c); err != nil {
			return err
		}
		if c.Every == 0 {
			return errors.New("every must be at least 1")
		}
		return nil
	})
	Map(func(e *Event) (*Event, error) { return e, nil })
	for _, c := range []struct{ config, msg string }{
		{`{"evry":1}`, `config: json: unknown field "evry"`},
		{` `, "every must be at least 1"},
		{`{"every":2}`, ""},
	} {
		err := initialize([]byte(c.config))
		if (err == nil) != (c.msg == "") || (err != nil && err.Error() != c.msg) {
			t.Errorf("%q: %v, want %q", c.config, err, c.msg)
		}
	}
	if configs[1] != "{}" {
		t.Errorf("blank config handed over as %q", configs[1])
	}
	// A host that never calls init: the SDK calls it with {} first.
	reset()
	Init(func(config []byte) error { return errors.New("refused " + string(config)) })
	Map(func(e *Event) (*Event, error) { return e, nil })
	if _, err := processBatch([]byte(`[]`), nil); err == nil || err.Error() != "refused {}" {
		t.Errorf("got %v", err)
	}
}

func TestNothingRegisteredFailsEveryCall(t *testing.T) {
	defer reset()
	reset()
	_, err := processEvent([]byte(`{}`), nil)
	if err == nil || !strings.Contains(err.Error(), "no processor registered") {
		t.Errorf("got %v", err)
	}
}

func TestPacking(t *testing.T) {
	p := pack(0x12345678, 0x9abcdef0)
	if ptr, n := unpack(p); ptr != 0x12345678 || n != 0x9abcdef0 {
		t.Errorf("%#x %#x", ptr, n)
	}
}

func TestHostStandIns(t *testing.T) {
	if _, err := HTTPGet("https://example.com/"); err == nil {
		t.Error("http outside flowctl")
	}
	if n, err := StateAdd("k", 2); err != nil || n != 2 {
		t.Fatal(n, err)
	}
	if n, _ := StateAdd("k", 3); n != 5 {
		t.Error(n)
	}
	if v, ok, _ := StateGet("k"); !ok || string(v) != "5" {
		t.Error(string(v), ok)
	}
	if StateDelete("k") != nil {
		t.Error("delete")
	}
	if _, ok, _ := StateGet("k"); ok {
		t.Error("deleted key found")
	}
	Info("a log line from the test")
}
