package flowctl

import (
	"math"
	"math/rand/v2"
	"slices"
	"strconv"
	"testing"
)

func TestValueReaders(t *testing.T) {
	if s, ok := Value(`"a\u0041"`).AsString(); !ok || s != "aA" {
		t.Errorf("AsString %q %v", s, ok)
	}
	if !Value(`"a\u0041"`).IsString("aA") || Value(`1`).IsString("1") {
		t.Error("IsString")
	}
	if n, ok := Value(`-12`).AsInt(); !ok || n != -12 {
		t.Error("AsInt")
	}
	if _, ok := Value(`1.0`).AsInt(); ok {
		t.Error("AsInt 1.0")
	}
	if b, ok := Value(`false`).AsBool(); !ok || b {
		t.Error("AsBool")
	}
	items := slices.Collect(Value(`[1, "two" ,{"x":[3]}]`).Items())
	if len(items) != 3 || string(items[1]) != `"two"` || string(items[2]) != `{"x":[3]}` {
		t.Errorf("Items %q", items)
	}
	var keys []string
	for k, v := range Value(`{"a":1, "b\n" : [2]}`).Members() {
		keys = append(keys, k+"="+string(v))
	}
	if !slices.Equal(keys, []string{"a=1", "b\n=[2]"}) {
		t.Errorf("Members %q", keys)
	}
	if v, ok := Value(`{"items":[{"n":5}]}`).Get("items.0.n"); !ok || string(v) != "5" {
		t.Errorf("Get %s %v", v, ok)
	}
	if Value(`[]`).Kind() != Array || Value(`x`).Kind() != Invalid || Kind(9).String() != "kind(9)" {
		t.Error("Kind")
	}
}

// Numbers written as strings read as Rust's f64 parsing reads them.
func TestNumericReadsNumbersAndNumericStrings(t *testing.T) {
	for text, want := range map[string]float64{
		`12.5`: 12.5, `"12.5000000"`: 12.5, `" 7 "`: 7, `"-0.0000100"`: -0.00001, `"1e3"`: 1000, `".5"`: 0.5,
		`"5."`: 5, `"+5"`: 5, `1e400`: math.Inf(1), `"inf"`: math.Inf(1), `-0`: 0,
	} {
		got, ok := Value(text).Numeric()
		if !ok || got != want {
			t.Errorf("%s: %v %v, want %v", text, got, ok, want)
		}
	}
	for _, text := range []string{`"0x10"`, `"1_000"`, `"lots"`, `""`, `" "`, `"-"`, `"."`, `true`, `null`, `[1]`} {
		if got, ok := Value(text).Numeric(); ok {
			t.Errorf("%s read as %v", text, got)
		}
	}
	if n, ok := Value(`"nan"`).Numeric(); !ok || n == n {
		t.Error("nan")
	}
}

// The fast decimal path gives strconv's answer, bit for bit.
func TestSimpleDecimalsAreCorrectlyRounded(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for range 200000 {
		digits := r.IntN(17) + 1
		text := strconv.FormatUint(r.Uint64()%uint64(math.Pow10(min(digits, 19))), 10)
		if point := r.IntN(len(text) + 1); point < len(text) && r.IntN(4) > 0 {
			text = text[:point] + "." + text[point:]
			if point == 0 {
				text = "0" + text
			}
		}
		if r.IntN(2) == 0 {
			text = "-" + text
		}
		want, err := strconv.ParseFloat(text, 64)
		if err != nil {
			t.Fatal(err)
		}
		if got, ok := parseSimpleDecimal([]byte(text)); ok && math.Float64bits(got) != math.Float64bits(want) {
			t.Fatalf("%s: %v, strconv %v", text, got, want)
		}
		if got, ok := Value(text).AsFloat(); !ok || got != want {
			t.Fatalf("AsFloat %s: %v, strconv %v", text, got, want)
		}
	}
}
