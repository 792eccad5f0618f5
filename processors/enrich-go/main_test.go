package main

import (
	"encoding/json"
	"testing"

	flowctl "flowctl.dev/sdk"
)

func mustEnrich(t *testing.T, config string) enrich {
	t.Helper()
	e, err := newEnrich([]byte(config))
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func TestSetsDataAndMetadata(t *testing.T) {
	en := mustEnrich(t, `{"set":{"data.source":"flowctl","metadata.region":"eu"}}`)
	out, err := en.process(&flowctl.Event{Type: "t", Data: json.RawMessage(`{"a":1}`)})
	if err != nil {
		t.Fatal(err)
	}
	if string(out.Data) != `{"a":1,"source":"flowctl"}` || out.Metadata["region"] != "eu" {
		t.Errorf("data %s, metadata %v", out.Data, out.Metadata)
	}
}

func TestFillsURLTemplatesFromTheEvent(t *testing.T) {
	e := &flowctl.Event{ID: "x", Data: json.RawMessage(`{"from":"GABC","n":3}`)}
	if url, err := fillTemplate("https://h/a/{data.from}?n={data.n}", e); err != nil || url != "https://h/a/GABC?n=3" {
		t.Errorf("%q %v", url, err)
	}
	for _, bad := range []string{"https://h/{data.nope}", "https://h/{data.from"} {
		if _, err := fillTemplate(bad, e); err == nil {
			t.Errorf("%s filled", bad)
		}
	}
}

func TestLookupFailuresFailTheEventUnlessOptional(t *testing.T) {
	strict := mustEnrich(t, `{"lookup":{"url":"https://h/{id}","into":"data.x"}}`)
	if _, err := strict.process(&flowctl.Event{ID: "e1"}); err == nil {
		t.Error("no http outside flowctl")
	}
	lenient := mustEnrich(t, `{"lookup":{"url":"https://h/{id}","into":"data.x","optional":true}}`)
	if _, err := lenient.process(&flowctl.Event{ID: "e1"}); err != nil {
		t.Error(err)
	}
}

func TestRefusesPathsItCannotWrite(t *testing.T) {
	for _, config := range []string{
		`{"set":{"id":"x"}}`, `{"lookup":{"url":"u","into":"data."}}`, `{"lookup":{"into":"data.x"}}`, `{"sett":{}}`,
	} {
		if _, err := newEnrich([]byte(config)); err == nil {
			t.Errorf("%s accepted", config)
		}
	}
}

func TestParseBody(t *testing.T) {
	if v, ok := parseBody([]byte(`{"a":1}`)).(flowctl.Value); !ok || string(v) != `{"a":1}` {
		t.Error("JSON body")
	}
	if s, ok := parseBody([]byte("plain \xff")).(string); !ok || s != "plain \uFFFD" {
		t.Errorf("text body %q", s)
	}
}
