package flowctl

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestEventsWriteTheCanonicalForm(t *testing.T) {
	e := &Event{ID: "a", Type: "t.v1", Timestamp: 7, Data: json.RawMessage(`{ "x" : [1, 2] }`),
		Metadata: map[string]string{"z": "1", "a": "quote\"d"}}
	got, err := json.Marshal(e)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"id":"a","type":"t.v1","timestamp":7,"data":{"x":[1,2]},"metadata":{"a":"quote\"d","z":"1"}}`
	if string(got) != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
	// Empty fields are left out, so the host inherits them; data is null.
	if got, _ := json.Marshal(&Event{}); string(got) != `{"data":null}` {
		t.Errorf("got %s", got)
	}
	if _, err := json.Marshal(&Event{Data: json.RawMessage(`{bad`)}); err == nil {
		t.Error("data that is not JSON was written")
	}
}

func TestDecodingAndWritingBackGivesTheSameText(t *testing.T) {
	for _, text := range []string{
		`{"id":"a","type":"t","timestamp":1700000000000,"data":{"b":1,"a":[true,null]},"metadata":{"k":"v","l":"w"}}`,
		`{"id":"é\"","data":"x"}`,
		`{"data":null}`,
	} {
		var e Event
		if err := json.Unmarshal([]byte(text), &e); err != nil {
			t.Fatal(err)
		}
		got, err := e.MarshalJSON()
		if err != nil || string(got) != text {
			t.Errorf("%s -> %s (%v)", text, got, err)
		}
	}
}

func TestDecodedDataDoesNotShareTheInput(t *testing.T) {
	text := []byte(`{"data":{"a":1}}`)
	e, err := RawEvent(text).Decode()
	if err != nil {
		t.Fatal(err)
	}
	copy(text, strings.Repeat("x", len(text)))
	if string(e.Data) != `{"a":1}` || e.Metadata == nil {
		t.Errorf("data %s, metadata %v", e.Data, e.Metadata)
	}
}

func TestSetWritesDataPathsInPlaceAndMetadataAsStrings(t *testing.T) {
	e := &Event{Data: json.RawMessage(`{"transfer":{"amount":"5.0"},"n": 1.50}`)}
	steps := []struct {
		path  string
		value any
		data  string
	}{
		{"data.network", "testnet", `{"transfer":{"amount":"5.0"},"n": 1.50,"network":"testnet"}`},
		{"data.labels.pipeline", "stellar", `{"transfer":{"amount":"5.0"},"n": 1.50,"network":"testnet","labels":{"pipeline":"stellar"}}`},
		{"data.transfer.amount", 6, `{"transfer":{"amount":6},"n": 1.50,"network":"testnet","labels":{"pipeline":"stellar"}}`},
		{"data.n.deeper", Value(`[1, 2]`), `{"transfer":{"amount":6},"n": {"deeper":[1,2]},"network":"testnet","labels":{"pipeline":"stellar"}}`},
		{"data.x", map[string]any{"<b>": true}, `{"transfer":{"amount":6},"n": {"deeper":[1,2]},"network":"testnet","labels":{"pipeline":"stellar"},"x":{"<b>":true}}`},
	}
	for _, s := range steps {
		if err := e.Set(s.path, s.value); err != nil {
			t.Fatal(err)
		}
		if string(e.Data) != s.data {
			t.Fatalf("set %s:\n got  %s\n want %s", s.path, e.Data, s.data)
		}
	}
	for path, want := range map[string]string{"metadata.s": "text", "metadata.n": "5", "metadata.o": `{"a":1}`, "metadata.q": "quoted"} {
		value := map[string]any{"metadata.s": "text", "metadata.n": 5, "metadata.o": Value(`{"a": 1}`), "metadata.q": Value(`"quoted"`)}[path]
		if err := e.Set(path, value); err != nil {
			t.Fatal(err)
		}
		if e.Metadata[strings.TrimPrefix(path, "metadata.")] != want {
			t.Errorf("%s: %q", path, e.Metadata)
		}
	}
	if err := e.Set("id", "x"); err == nil {
		t.Error("set id")
	}
	if err := e.Set("data.x", Value(`{bad`)); err == nil {
		t.Error("set data that is not JSON")
	}
}

func TestSetReplacesWhatIsNotAnObjectAndCollapsesRepeatedKeys(t *testing.T) {
	for _, c := range []struct{ data, path, want string }{
		{``, "data.a", `{"a":1}`},
		{`null`, "data.a.b", `{"a":{"b":1}}`},
		{`[1,2]`, "data.a", `{"a":1}`},
		{`{"a":"s"}`, "data.a.b", `{"a":{"b":1}}`},
		{`{ }`, "data.a", `{ "a":1}`},
		{`{"a":0,"b":2,"a":3}`, "data.a", `{"a":1,"b":2}`},
		{`{"a":{"x":0},"a":{"y":0}}`, "data.a.y", `{"a":{"y":1}}`},
		{`{"a":{"x":0},"b":2,"a":3}`, "data.a.y", `{"a":{"y":1},"b":2}`},
	} {
		e := &Event{Data: json.RawMessage(c.data)}
		if err := e.Set(c.path, 1); err != nil {
			t.Fatal(err)
		}
		if string(e.Data) != c.want || !json.Valid(e.Data) {
			t.Errorf("%s on %s: %s, want %s", c.path, c.data, e.Data, c.want)
		}
	}
}

func TestNewEvent(t *testing.T) {
	e, err := NewEvent("split.v1", map[string]int{"n": 1})
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := e.MarshalJSON(); string(got) != `{"type":"split.v1","data":{"n":1}}` {
		t.Errorf("got %s", got)
	}
}
