// Command enrich adds fields to every event, and optionally the response of
// an HTTP lookup (which the pipeline must grant with permissions.http): the
// Go build of processors/enrich, with the same configuration, the same
// answers and the same golden fixtures.
//
//	config:
//	  set: {metadata.region: eu-west, data.pipeline: stellar}
//	  lookup: {url: "https://api.example.com/accounts/{data.from}", into: data.account}
//
// set writes each value at its path (data.<path> or metadata.<key>), in the
// order of the paths' names. lookup.url may hold {path} placeholders filled
// from the event; the response body is stored at lookup.into, parsed as JSON
// when it is JSON, as a string otherwise. A failed lookup fails the event
// (it is dead-lettered with the reason) unless lookup.optional is true.
package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"unicode/utf8"

	flowctl "flowctl.dev/sdk"
)

func init() {
	flowctl.Init(configure)
	flowctl.Map(func(e *flowctl.Event) (*flowctl.Event, error) { return active.process(e) })
}

// main is never run: a module built with -buildmode=c-shared only
// initialises its packages (see init).
func main() {}

type config struct {
	Set    map[string]json.RawMessage `json:"set"`
	Lookup *lookup                    `json:"lookup"`
}

type lookup struct {
	URL      *string `json:"url"`
	Into     *string `json:"into"`
	Optional bool    `json:"optional"`
}

type assignment struct {
	path  flowctl.Path
	value flowctl.Value
}

type enrich struct {
	set    []assignment
	lookup *lookup
	into   flowctl.Path // lookup.into, parsed
}

// active is the instance's enricher, set by init from the pipeline's config.
var active enrich

func configure(raw []byte) error {
	e, err := newEnrich(raw)
	if err != nil {
		return err
	}
	active = e
	return nil
}

func newEnrich(raw []byte) (enrich, error) {
	var c config
	if err := flowctl.DecodeConfig(raw, &c); err != nil {
		return enrich{}, err
	}
	var e enrich
	// The Rust enrich keeps `set` in a BTreeMap: paths apply in name order.
	for _, path := range slices.Sorted(maps.Keys(c.Set)) {
		e.set = append(e.set, assignment{flowctl.ParsePath(path), flowctl.Value(c.Set[path])})
	}
	targets := slices.Sorted(maps.Keys(c.Set))
	if l := c.Lookup; l != nil {
		switch {
		case l.URL == nil:
			return enrich{}, errors.New("config: lookup: missing field `url`")
		case l.Into == nil:
			return enrich{}, errors.New("config: lookup: missing field `into`")
		}
		targets = append(targets, *l.Into)
		e.lookup, e.into = l, flowctl.ParsePath(*l.Into)
	}
	for _, path := range targets {
		if !writable(path) {
			return enrich{}, fmt.Errorf("cannot write `%s`: use data.<path> or metadata.<key>", path)
		}
	}
	return e, nil
}

func writable(path string) bool {
	rest, ok := strings.CutPrefix(path, "data.")
	if !ok {
		rest, ok = strings.CutPrefix(path, "metadata.")
	}
	return ok && rest != ""
}

func (en *enrich) process(e *flowctl.Event) (*flowctl.Event, error) {
	for _, a := range en.set {
		if err := e.SetValue(a.path, a.value); err != nil {
			return nil, err
		}
	}
	if l := en.lookup; l != nil {
		url, err := fillTemplate(*l.URL, e)
		if err != nil {
			return nil, err
		}
		body, err := flowctl.HTTPGet(url)
		switch {
		case err == nil:
			if err := e.SetPath(en.into, parseBody(body)); err != nil {
				return nil, err
			}
		case l.Optional:
			flowctl.Warn("lookup skipped: " + err.Error())
		default:
			return nil, err
		}
	}
	return e, nil
}

// fillTemplate is url with each {path} replaced by the event's value at
// that path: a string as it is, other values as JSON.
func fillTemplate(url string, e *flowctl.Event) (string, error) {
	var out strings.Builder
	rest := url
	for {
		start := strings.IndexByte(rest, '{')
		if start < 0 {
			break
		}
		out.WriteString(rest[:start])
		end := strings.IndexByte(rest[start:], '}')
		if end < 0 {
			return "", fmt.Errorf("unclosed `{` in url %s", url)
		}
		end += start
		path := rest[start+1 : end]
		v, ok := e.Get(path)
		if !ok || v.IsNull() {
			return "", fmt.Errorf("url placeholder {%s}: the event has no such field", path)
		}
		if s, isString := v.AsString(); isString {
			out.WriteString(s)
		} else {
			out.Write(v)
		}
		rest = rest[end+1:]
	}
	out.WriteString(rest)
	return out.String(), nil
}

// parseBody is the response as JSON when it is JSON, else as a string.
func parseBody(body []byte) any {
	if json.Valid(body) {
		return flowctl.Value(body)
	}
	return strings.ToValidUTF8(string(body), string(utf8.RuneError))
}
