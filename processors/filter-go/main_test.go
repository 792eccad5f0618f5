package main

import (
	"strings"
	"testing"

	flowctl "flowctl.dev/sdk"
)

func mustFilter(t *testing.T, config string) *filter {
	t.Helper()
	f, err := newFilter([]byte(config))
	if err != nil {
		t.Fatal(err)
	}
	return &f
}

// keeps is whether f keeps an event carrying data.
func keeps(t *testing.T, f *filter, data string) bool {
	t.Helper()
	v, found, err := flowctl.RawEvent(`{"type":"t","data":` + data + `}`).Get(f.path)
	if err != nil {
		t.Fatal(err)
	}
	return f.matches(v, found)
}

func TestExistsKeepsEventsWithTheField(t *testing.T) {
	f := mustFilter(t, `{"field":"data.transfer"}`)
	if !keeps(t, f, `{"transfer":{"amount":"1"}}`) || keeps(t, f, `{"fee":{}}`) || keeps(t, f, `{"transfer":null}`) {
		t.Error("exists")
	}
}

func TestOrderingComparesNumbersWrittenAsStrings(t *testing.T) {
	f := mustFilter(t, `{"field":"data.amount","op":"gt","value":100}`)
	for data, want := range map[string]bool{
		`{"amount":"150.0000000"}`: true, `{"amount":101}`: true, `{"amount":"99.9"}`: false,
		`{"amount":"lots"}`: false, `{}`: false, `{"amount":"100"}`: false,
	} {
		if keeps(t, f, data) != want {
			t.Errorf("%s: want %v", data, want)
		}
	}
	s := mustFilter(t, `{"field":"data.name","op":"lt","value":"m"}`)
	if !keeps(t, s, `{"name":"alice"}`) || keeps(t, s, `{"name":"zed"}`) || keeps(t, s, `{"name":5}`) {
		t.Error("strings order by bytes")
	}
}

func TestEqInAndContains(t *testing.T) {
	eq := mustFilter(t, `{"field":"data.asset","op":"eq","value":"native"}`)
	if !keeps(t, eq, `{"asset":"native"}`) || keeps(t, eq, `{"asset":"USDC"}`) {
		t.Error("eq")
	}
	num := mustFilter(t, `{"field":"data.n","op":"eq","value":7}`)
	if !keeps(t, num, `{"n":"7.0"}`) || !keeps(t, num, `{"n":7.0}`) {
		t.Error("eq on numbers")
	}
	within := mustFilter(t, `{"field":"data.k","op":"in","value":["a","b",3]}`)
	if !keeps(t, within, `{"k":"b"}`) || keeps(t, within, `{"k":"c"}`) || !keeps(t, within, `{"k":"3"}`) {
		t.Error("in")
	}
	has := mustFilter(t, `{"field":"data.memo","op":"contains","value":"rent"}`)
	if !keeps(t, has, `{"memo":"rent for may"}`) || !keeps(t, has, `{"memo":["x","rent"]}`) || !keeps(t, has, `{"memo":{"rent":1}}`) {
		t.Error("contains")
	}
	deep := mustFilter(t, `{"field":"data.o","op":"eq","value":{"a":[1,{"b":"c"}],"d":null}}`)
	if !keeps(t, deep, `{"o":{"d":null,"a":[1,{"b":"c"}]}}`) || keeps(t, deep, `{"o":{"d":null,"a":[1.0,{"b":"c"}]}}`) {
		t.Error("deep equality as serde_json's")
	}
}

func TestBadConfigsSayWhatIsWrong(t *testing.T) {
	for config, msg := range map[string]string{
		`{"field":"data.a","op":"gt"}`:              "op gt needs a `value`",
		`{"field":"data.a","op":"gt","value":null}`: "op gt needs a `value`",
		`{"field":"data.a","op":"in","value":1}`:    "op in needs a list as `value`",
		`{"field":"data.a","op":"between"}`:         `config: unknown op "between"`,
		`{"feild":"data.a"}`:                        `config: json: unknown field "feild"`,
		`{}`:                                        "config: missing field `field`",
		`{"field":""}`:                              "`field` must name a field",
	} {
		_, err := newFilter([]byte(config))
		if err == nil || !strings.HasPrefix(err.Error(), msg) {
			t.Errorf("%s: %v, want %s", config, err, msg)
		}
	}
}
