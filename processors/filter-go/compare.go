package main

import (
	"bytes"
	"cmp"
	"iter"
	"strconv"
	"strings"

	flowctl "flowctl.dev/sdk"
)

// The comparisons of the Rust filter, on JSON text: there two values are
// equal when serde_json's Value says so, or when both are numbers (or
// strings holding numbers) of equal value.

func looselyEqual(a, b flowctl.Value) bool {
	if equal(a, b) {
		return true
	}
	x, okX := a.Numeric()
	y, okY := b.Numeric()
	return okX && okY && x == y
}

// compare orders two numbers (or strings holding numbers) by value, and
// two other strings by their bytes; ok is false for anything else (and
// NaN).
func compare(a, b flowctl.Value) (c int, ok bool) {
	x, okX := a.Numeric()
	y, okY := b.Numeric()
	if okX && okY {
		return compareNumbers(x, y)
	}
	s, okS := a.AsString()
	t, okT := b.AsString()
	if !okS || !okT {
		return 0, false
	}
	return cmp.Compare(s, t), true
}

// compareNumbers is Rust's partial_cmp: no order when either is NaN.
func compareNumbers(x, y float64) (int, bool) {
	if x != x || y != y {
		return 0, false
	}
	return cmp.Compare(x, y), true
}

func contains(haystack, needle flowctl.Value) bool {
	switch haystack.Kind() {
	case flowctl.String:
		h, _ := haystack.AsString()
		n, ok := needle.AsString()
		return ok && strings.Contains(h, n)
	case flowctl.Array:
		for item := range haystack.Items() {
			if looselyEqual(item, needle) {
				return true
			}
		}
	case flowctl.Object:
		key, ok := needle.AsString()
		if !ok {
			return false
		}
		for k := range haystack.Members() {
			if k == key {
				return true
			}
		}
	}
	return false
}

// equal is serde_json's Value equality: same type and value; integers and
// floats are different numbers (1 is not 1.0), objects compare as maps
// (order aside, the last of a repeated key).
func equal(a, b flowctl.Value) bool {
	if a.Kind() != b.Kind() {
		return false
	}
	switch a.Kind() {
	case flowctl.Null:
		return true
	case flowctl.Bool:
		return bytes.Equal(a, b)
	case flowctl.String:
		if bytes.Equal(a, b) {
			return true
		}
		s, _ := a.AsString()
		return b.IsString(s)
	case flowctl.Number:
		return numbersEqual(a, b)
	case flowctl.Array:
		next, stop := iter.Pull(b.Items())
		defer stop()
		for x := range a.Items() {
			y, ok := next()
			if !ok || !equal(x, y) {
				return false
			}
		}
		_, more := next()
		return !more
	case flowctl.Object:
		x, y := members(a), members(b)
		if len(x) != len(y) {
			return false
		}
		for k, v := range x {
			w, ok := y[k]
			if !ok || !equal(v, w) {
				return false
			}
		}
		return true
	}
	return false
}

func members(v flowctl.Value) map[string]flowctl.Value {
	m := map[string]flowctl.Value{}
	for k, x := range v.Members() {
		m[k] = x
	}
	return m
}

// numbersEqual: serde_json reads a number without a fraction or exponent
// as an integer when it fits 64 bits (except -0), anything else as a
// float, and an integer never equals a float.
func numbersEqual(a, b flowctl.Value) bool {
	ia, intA := integer(a)
	ib, intB := integer(b)
	if intA || intB {
		return intA && intB && ia == ib
	}
	x, _ := a.AsFloat()
	y, _ := b.AsFloat()
	return x == y
}

// integerValue is an integer of either sign up to 64 bits of magnitude.
type integerValue struct {
	negative  bool
	magnitude uint64
}

func integer(v flowctl.Value) (integerValue, bool) {
	if bytes.ContainsAny(v, ".eE") {
		return integerValue{}, false
	}
	digits, negative := bytes.CutPrefix(v, []byte("-"))
	magnitude, err := strconv.ParseUint(string(digits), 10, 64)
	if err != nil || (negative && (magnitude == 0 || magnitude > 1<<63)) {
		return integerValue{}, false
	}
	return integerValue{negative, magnitude}, true
}
