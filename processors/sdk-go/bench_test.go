package flowctl

import (
	"fmt"
	"strings"
	"testing"
)

// benchBatch is a batch like flowctl bench's: 128 events of about 300 bytes.
func benchBatch() []byte {
	var b strings.Builder
	b.WriteByte('[')
	for i := range 128 {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `{"id":"bench-%012d","type":"bench.v1","timestamp":%d,"data":{"amount":%d,"payload":"%s","seq":%d,"user":"user-%04d"},"metadata":{}}`,
			i, 1700000000000+i, i*97%10000, strings.Repeat("abcdefghijklmnopqrstuvwxyz", 6)[:150], i, i%1000)
	}
	b.WriteByte(']')
	return []byte(b.String())
}

func BenchmarkFilterRaw(b *testing.B) {
	defer reset()
	path := ParsePath("data.amount")
	FilterRaw(func(e RawEvent) (bool, error) {
		v, _, err := e.Get(path)
		n, _ := v.Numeric()
		return n >= 5000, err
	})
	batch := benchBatch()
	out := make([]byte, 0, len(batch)*2)
	b.SetBytes(int64(len(batch)))
	b.ReportAllocs()
	for b.Loop() {
		var err error
		if out, err = processBatch(batch, out[:0]); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkMap(b *testing.B) {
	defer reset()
	Map(func(e *Event) (*Event, error) {
		e.Metadata["seen"] = "yes"
		return e, nil
	})
	batch := benchBatch()
	out := make([]byte, 0, len(batch)*2)
	b.SetBytes(int64(len(batch)))
	b.ReportAllocs()
	for b.Loop() {
		var err error
		if out, err = processBatch(batch, out[:0]); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkMapSet(b *testing.B) {
	defer reset()
	values := []Value{Value(`"testnet"`), Value(`"eu-west"`), Value(`"stellar"`)}
	paths := []Path{ParsePath("data.network"), ParsePath("metadata.region"), ParsePath("data.labels.pipeline")}
	Map(func(e *Event) (*Event, error) {
		for i := range paths {
			if err := e.SetValue(paths[i], values[i]); err != nil {
				return nil, err
			}
		}
		return e, nil
	})
	batch := benchBatch()
	out := make([]byte, 0, len(batch)*2)
	b.SetBytes(int64(len(batch)))
	b.ReportAllocs()
	for b.Loop() {
		var err error
		if out, err = processBatch(batch, out[:0]); err != nil {
			b.Fatal(err)
		}
	}
}
