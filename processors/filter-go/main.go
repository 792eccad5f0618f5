// Command filter keeps the events matching a field predicate and drops the
// rest: the Go build of processors/filter, with the same configuration, the
// same answers and the same golden fixtures.
//
//	config: {field: data.amount, op: gt, value: 100}
//
// field is a dotted path (id, type, timestamp, metadata.<key>,
// data.<a>.<b>). op is one of exists, missing, eq, ne, gt, gte, lt, lte,
// contains, in. Ordering operators compare numbers, including numbers
// written as strings (Horizon's "12.5000000"), and fall back to comparing
// strings. in takes a list as value.
//
// It reads only the tested field of each event's JSON (flowctl.FilterRaw),
// and a kept event goes out as its input bytes, which the host recognises
// as unchanged.
package main

import (
	"encoding/json"
	"errors"
	"fmt"

	flowctl "flowctl.dev/sdk"
)

func init() {
	flowctl.Init(configure)
	flowctl.FilterRaw(func(e flowctl.RawEvent) (bool, error) {
		actual, found, err := e.Get(active.path)
		if err != nil {
			return false, err
		}
		return active.matches(actual, found), nil
	})
}

// main is never run: a module built with -buildmode=c-shared only
// initialises its packages (see init).
func main() {}

type config struct {
	Field *string         `json:"field"`
	Op    string          `json:"op"`
	Value json.RawMessage `json:"value"`
}

type op string

const (
	opExists   op = "exists"
	opMissing  op = "missing"
	opEq       op = "eq"
	opNe       op = "ne"
	opGt       op = "gt"
	opGte      op = "gte"
	opLt       op = "lt"
	opLte      op = "lte"
	opContains op = "contains"
	opIn       op = "in"
)

var ops = []op{opExists, opMissing, opEq, opNe, opGt, opGte, opLt, opLte, opContains, opIn}

type filter struct {
	path  flowctl.Path
	op    op
	value flowctl.Value
	// value read once, for the comparisons made per event
	number   float64
	isNumber bool
}

// active is the instance's filter, set by init from the pipeline's config.
var active filter

func configure(raw []byte) error {
	f, err := newFilter(raw)
	if err != nil {
		return err
	}
	active = f
	return nil
}

func newFilter(raw []byte) (filter, error) {
	var c config
	if err := flowctl.DecodeConfig(raw, &c); err != nil {
		return filter{}, err
	}
	if c.Field == nil {
		return filter{}, errors.New("config: missing field `field`")
	}
	f := filter{op: opExists}
	if c.Op != "" {
		f.op = op(c.Op)
	}
	known := false
	for _, o := range ops {
		known = known || f.op == o
	}
	if !known {
		return filter{}, fmt.Errorf("config: unknown op %q, expected one of %v", c.Op, ops)
	}
	// As in Rust, where `value` is an Option: null is no value.
	if len(c.Value) > 0 && string(c.Value) != "null" {
		f.value = flowctl.Value(c.Value)
	} else if f.op != opExists && f.op != opMissing {
		return filter{}, fmt.Errorf("op %s needs a `value`", f.op)
	} else {
		f.value = flowctl.Value("null")
	}
	if f.op == opIn && f.value.Kind() != flowctl.Array {
		return filter{}, errors.New("op in needs a list as `value`")
	}
	if *c.Field == "" {
		return filter{}, errors.New("`field` must name a field, such as data.amount")
	}
	f.path = flowctl.ParsePath(*c.Field)
	f.number, f.isNumber = f.value.Numeric()
	return f, nil
}

// matches is whether an event with actual at the path (found false: no
// value there) passes.
func (f *filter) matches(actual flowctl.Value, found bool) bool {
	present := found && !actual.IsNull()
	switch f.op {
	case opExists:
		return present
	case opMissing:
		return !present
	}
	if !found {
		return false
	}
	switch f.op {
	case opEq:
		return looselyEqual(actual, f.value)
	case opNe:
		return !looselyEqual(actual, f.value)
	case opGt:
		c, ok := f.compare(actual)
		return ok && c > 0
	case opGte:
		c, ok := f.compare(actual)
		return ok && c >= 0
	case opLt:
		c, ok := f.compare(actual)
		return ok && c < 0
	case opLte:
		c, ok := f.compare(actual)
		return ok && c <= 0
	case opContains:
		return contains(actual, f.value)
	case opIn:
		for item := range f.value.Items() {
			if looselyEqual(actual, item) {
				return true
			}
		}
	}
	return false
}

// compare is compare(actual, f.value) with the value's number read once.
func (f *filter) compare(actual flowctl.Value) (int, bool) {
	if f.isNumber {
		if x, ok := actual.Numeric(); ok {
			return compareNumbers(x, f.number)
		}
	}
	return compare(actual, f.value)
}
