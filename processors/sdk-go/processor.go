package flowctl

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
)

// A module registers one processor, from an init function of its main
// package: a module built with -buildmode=c-shared runs package
// initialisation when the host instantiates it (the WASI reactor's
// _initialize) and never runs main.
//
//	func init() {
//		flowctl.Init(configure) // optional
//		flowctl.Map(tag)
//	}
//
// Registering again replaces the processor. The SDK calls it from one
// goroutine, one event at a time, in the order of the instance's events;
// the host may run several instances, each with its own copy of the
// module's globals.

// typedFunc appends the output entry for a decoded event; text is the
// event's JSON, for processors that copy it through.
type typedFunc func(ev *Event, text RawEvent, out []byte) ([]byte, error)

// rawFunc appends the output entry for an event's JSON.
type rawFunc func(text RawEvent, out []byte) ([]byte, error)

var current struct {
	initFunc func(config []byte) error
	inited   bool
	typed    typedFunc
	raw      rawFunc
}

// Init registers the function the host calls once per instance, before any
// event, with the processor's `config:` as JSON (`{}` when none). An error
// refuses to start the pipeline with its message. A host that never calls
// init (the original contract) gets it called with `{}` before the first
// event. See [DecodeConfig].
func Init(f func(config []byte) error) {
	current.initFunc = f
	current.inited = false
}

// Map registers f as the processor: each event becomes the event f
// returns, or none when f returns nil. An error fails that event only: the
// host dead-letters it with the error's message.
func Map(f func(e *Event) (*Event, error)) {
	register(func(ev *Event, _ RawEvent, out []byte) ([]byte, error) {
		res, err := f(ev)
		if err != nil {
			return out, err
		}
		if res == nil {
			return append(out, "[]"...), nil
		}
		return res.AppendJSON(out)
	}, nil)
}

// Filter registers f as the processor: it keeps the events for which f
// returns true, as they came (the host sees they are unchanged and does not
// parse them again). f must not change the event. An error fails that event.
func Filter(f func(e *Event) (bool, error)) {
	register(func(ev *Event, text RawEvent, out []byte) ([]byte, error) {
		keep, err := f(ev)
		return keepOrDrop(keep, err, text, out)
	}, nil)
}

// FlatMap registers f as the processor: each event becomes the events f
// returns, in order (none filters it out).
func FlatMap(f func(e *Event) ([]*Event, error)) {
	register(func(ev *Event, _ RawEvent, out []byte) ([]byte, error) {
		events, err := f(ev)
		if err != nil {
			return out, err
		}
		out = append(out, '[')
		for i, e := range events {
			if e == nil {
				return out, errors.New("FlatMap returned a nil event")
			}
			if i > 0 {
				out = append(out, ',')
			}
			if out, err = e.AppendJSON(out); err != nil {
				return out, err
			}
		}
		return append(out, ']'), nil
	}, nil)
}

// FilterRaw registers f as the processor, given each event's JSON text
// rather than a decoded [Event]: the fast way to keep or drop events on a
// few fields. Read them with [RawEvent.Get] and paths parsed once
// ([ParsePath]); only what is read is decoded. Kept events go out as they
// came.
func FilterRaw(f func(e RawEvent) (bool, error)) {
	register(nil, func(text RawEvent, out []byte) ([]byte, error) {
		keep, err := f(text)
		return keepOrDrop(keep, err, text, out)
	})
}

// MapRaw registers f as the processor, given each event's JSON text: f
// appends the event's output to out and returns it: one event object, or a
// JSON array of 0..N events (`[]` drops the event). Appending e itself
// passes the event on unchanged, which the host recognises without parsing
// it. The SDK checks nothing f writes: output that is not JSON fails the
// whole call at the host.
func MapRaw(f func(e RawEvent, out []byte) ([]byte, error)) {
	register(nil, f)
}

func register(typed typedFunc, raw rawFunc) {
	current.typed, current.raw = typed, raw
}

func keepOrDrop(keep bool, err error, text RawEvent, out []byte) ([]byte, error) {
	if err != nil {
		return out, err
	}
	if keep {
		return append(out, text...), nil
	}
	return append(out, "[]"...), nil
}

// DecodeConfig unmarshals the config JSON into dst with encoding/json,
// refusing unknown fields (a misspelt key is a mistake, not an option),
// with errors that start "config: ".
func DecodeConfig(config []byte, dst any) error {
	dec := json.NewDecoder(bytes.NewReader(config))
	dec.DisallowUnknownFields()
	if err := dec.Decode(dst); err != nil {
		return fmt.Errorf("config: %w", err)
	}
	if dec.More() {
		return errors.New("config: unexpected text after the JSON object")
	}
	return nil
}

// initialize runs the Init function with the host's config.
func initialize(config []byte) error {
	if len(bytes.TrimSpace(config)) == 0 {
		config = []byte("{}")
	}
	current.inited = true
	if current.initFunc == nil {
		return nil
	}
	return guard(func() error { return current.initFunc(config) })
}

// ready initialises with `{}` if the host never called init.
func ready() error {
	if current.typed == nil && current.raw == nil {
		return errors.New("no processor registered: call flowctl.Map, Filter, FlatMap, FilterRaw or MapRaw from an init function")
	}
	if !current.inited {
		return initialize(nil)
	}
	return nil
}

// guard turns a panic in the processor into an error, so one bad event
// fails alone (dead-lettered with the panic's message), as an error would,
// rather than trapping the instance and every event of its batch.
func guard(f func() error) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("panic: %v", r)
		}
	}()
	return f()
}

// processEvent appends the output for one event (process_event).
func processEvent(text []byte, out []byte) ([]byte, error) {
	if err := ready(); err != nil {
		return out, err
	}
	mark := len(out)
	var err error
	if current.raw != nil {
		start := skipSpace(text, 0)
		end, err := scanSeen(text, start)
		if err == nil {
			if j := skipSpace(text, end); j != len(text) {
				err = syntaxError(j, "unexpected text after the event")
			}
		}
		if err != nil {
			forgetSeen()
			return out, inputError(err)
		}
		out, err = callRaw(current.raw, RawEvent(text[start:end]), out)
		forgetSeen()
		if err != nil {
			return out, err
		}
	} else {
		var ev *Event
		if ev, err = RawEvent(text).Decode(); err != nil {
			return out, err
		}
		out, err = callTyped(current.typed, ev, RawEvent(bytes.TrimSpace(text)), out)
	}
	if err == nil && len(out) == mark {
		err = errors.New("the processor wrote no output")
	}
	return out, err
}

// processBatch appends the output array for a JSON array of events
// (process_batch): one entry per event, in order; a failed event's entry is
// {"error": "reason"}. Only a batch that is not a JSON array fails as a
// whole.
func processBatch(batch []byte, out []byte) ([]byte, error) {
	if err := ready(); err != nil {
		return out, err
	}
	at := skipSpace(batch, 0)
	if at >= len(batch) || batch[at] != '[' {
		return out, errors.New("input batch: expected a JSON array of events")
	}
	out = append(out, '[')
	at = skipSpace(batch, at+1)
	if at < len(batch) && batch[at] == ']' {
		at++
	} else {
		for n := 1; ; n++ {
			var end int
			var err error
			mark := len(out)
			out, end, err = processElement(batch, at, out)
			if err == nil && len(out) == mark {
				err = errors.New("the processor wrote no output")
			}
			if err != nil {
				if _, broken := err.(*SyntaxError); broken {
					return out[:mark], fmt.Errorf("input batch: event %d (at byte %d): %w", n, at, err)
				}
				out = appendErrorEntry(out[:mark], err.Error())
			}
			var done bool
			if at, done, err = nextMember(batch, end, ']'); err != nil {
				return out, fmt.Errorf("input batch: after event %d: %w", n, err)
			}
			if done {
				break
			}
			out = append(out, ',')
		}
	}
	if end := skipSpace(batch, at); end != len(batch) {
		return out, fmt.Errorf("input batch: unexpected text after the array (at byte %d)", end)
	}
	return append(out, ']'), nil
}

// processElement appends the entry for the event at batch[at] and returns
// where the event ends. A *SyntaxError means the batch is not JSON.
func processElement(batch []byte, at int, out []byte) (_ []byte, end int, err error) {
	if current.raw != nil {
		if end, err = scanSeen(batch, at); err != nil {
			return out, end, err
		}
		out, err = callRaw(current.raw, RawEvent(batch[at:end]), out)
		forgetSeen()
		return out, end, err
	}
	end, ev, err := decodeEvent(batch, at)
	if err != nil {
		// Not an event; if not JSON either, the batch is broken.
		skipped, serr := skipValue(batch, at)
		if serr != nil {
			return out, skipped, serr
		}
		return out, skipped, err
	}
	out, err = callTyped(current.typed, ev, RawEvent(batch[at:end]), out)
	return out, end, err
}

// callRaw and callTyped run the processor on one event under the same
// recovery as guard; written out (not a closure handed to guard) so that a
// call allocates nothing.
func callRaw(f rawFunc, text RawEvent, out []byte) (res []byte, err error) {
	defer func() {
		if r := recover(); r != nil {
			res, err = out, fmt.Errorf("panic: %v", r)
		}
	}()
	return f(text, out)
}

func callTyped(f typedFunc, ev *Event, text RawEvent, out []byte) (res []byte, err error) {
	defer func() {
		if r := recover(); r != nil {
			res, err = out, fmt.Errorf("panic: %v", r)
		}
	}()
	return f(ev, text, out)
}

func appendErrorEntry(out []byte, reason string) []byte {
	out = append(out, `{"error":`...)
	out = appendQuoted(out, reason)
	return append(out, '}')
}

// abiVersion is what flowctl_abi_version returns.
const abiVersion = 1

// pack is a packed (ptr << 32) | len result.
func pack(ptr uint32, n int) int64 {
	return int64(uint64(ptr)<<32 | uint64(uint32(n)))
}

func unpack(packed int64) (ptr uint32, n int) {
	return uint32(uint64(packed) >> 32), int(uint32(packed))
}
