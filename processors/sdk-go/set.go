package flowctl

import "errors"

var errDataNotJSON = errors.New("the event's data is not JSON")

// appendSet appends to dst the JSON value data (trimmed) with value written
// at the object keys segs, as the Rust SDK's Event::set does on a parsed
// value: each step that is not an object becomes one, a missing key is
// added. It edits the text rather than decoding it, so the rest of data
// keeps its key order and number forms, and new keys go last. A key written
// more than once stands for its last value (as when decoded), which is the
// one edited; the result is in the first one's place, the repeats dropped.
// data that is not JSON is an error when the edit has to read it.
func appendSet(dst, data []byte, segs []string, value []byte) ([]byte, error) {
	if len(segs) == 0 {
		return append(dst, value...), nil
	}
	if len(data) == 0 || data[0] != '{' {
		dst = append(dst, '{')
		dst, _ = appendMember(dst, segs, value)
		return append(dst, '}'), nil
	}
	type span struct{ from, to int }
	var first, last span
	var repeats []span // later members with the key, comma before them included
	found := false
	i := skipSpace(data, 1)
	prevEnd := 1 // where the text before the current member ends (after `{` or a value)
	if i < len(data) && data[i] == '}' {
		i++
	} else {
		for {
			if i >= len(data) || data[i] != '"' {
				return dst, errDataNotJSON
			}
			keyEnd, name, err := keyAt(data, i)
			if err != nil {
				return dst, errDataNotJSON
			}
			start, err := expectColon(data, keyEnd)
			if err != nil {
				return dst, errDataNotJSON
			}
			end, err := skipValue(data, start)
			if err != nil {
				return dst, errDataNotJSON
			}
			if string(name) == segs[0] {
				if !found {
					first, found = span{start, end}, true
				} else {
					repeats = append(repeats, span{prevEnd, end})
				}
				last = span{start, end}
			}
			prevEnd = end
			var done bool
			if i, done, err = nextMember(data, end, '}'); err != nil {
				return dst, errDataNotJSON
			}
			if done {
				break
			}
		}
	}
	if skipSpace(data, i) != len(data) {
		return dst, errDataNotJSON
	}
	if !found {
		closing := i - 1
		dst = append(dst, data[:closing]...)
		if prevEnd > 1 {
			dst = append(dst, ',')
		}
		dst, _ = appendMember(dst, segs, value)
		return append(dst, data[closing:]...), nil
	}
	dst = append(dst, data[:first.from]...)
	dst, err := appendSet(dst, data[last.from:last.to], segs[1:], value)
	if err != nil {
		return dst, err
	}
	at := first.to
	for _, r := range repeats {
		dst = append(dst, data[at:r.from]...)
		at = r.to
	}
	return append(dst, data[at:]...), nil
}

// appendMember appends `"segs[0]":<value at segs[1:] in a new object>`.
func appendMember(dst []byte, segs []string, value []byte) ([]byte, error) {
	dst = appendQuoted(dst, segs[0])
	dst = append(dst, ':')
	return appendSet(dst, nil, segs[1:], value)
}
