//go:build wasip1

package flowctl

import (
	"fmt"
	"unsafe"
)

//go:wasmimport flowctl log
func importLog(level int32, ptr *byte, n int32)

//go:wasmimport flowctl record_metric
func importRecordMetric(ptr *byte, n int32, value float64)

//go:wasmimport flowctl http_request
func importHTTPRequest(method int32, urlPtr *byte, urlLen int32, bodyPtr *byte, bodyLen int32) int64

//go:wasmimport flowctl state_get
func importStateGet(keyPtr *byte, keyLen int32) int64

//go:wasmimport flowctl state_set
func importStateSet(keyPtr *byte, keyLen int32, valuePtr *byte, valueLen int32) int32

//go:wasmimport flowctl state_delete
func importStateDelete(keyPtr *byte, keyLen int32) int32

// The pointers below stay valid through each call: an argument keeps its
// memory alive, and Go's collector does not move objects.

func hostLog(level Level, msg string) {
	importLog(int32(level), unsafe.StringData(msg), int32(len(msg)))
}

func hostRecordMetric(name string, value float64) {
	importRecordMetric(unsafe.StringData(name), int32(len(name)), value)
}

func hostHTTPRequest(method Method, url string, body []byte) ([]byte, error) {
	packed := importHTTPRequest(int32(method), unsafe.StringData(url), int32(len(url)),
		unsafe.SliceData(body), int32(len(body)))
	if packed == 0 {
		return nil, fmt.Errorf("http %s %s: denied or failed (see flowctl's log)", method, url)
	}
	return takeBuffer(packed)
}

func hostStateGet(key string) ([]byte, bool, error) {
	packed := importStateGet(unsafe.StringData(key), int32(len(key)))
	switch {
	case packed == -1:
		return nil, false, nil
	case packed == 0:
		return []byte{}, true, nil
	case packed < 0:
		return nil, false, stateError(packed)
	}
	value, err := takeBuffer(packed)
	return value, err == nil, err
}

func hostStateSet(key string, value []byte) error {
	code := importStateSet(unsafe.StringData(key), int32(len(key)), unsafe.SliceData(value), int32(len(value)))
	if code != 0 {
		return stateError(int64(code))
	}
	return nil
}

func hostStateDelete(key string) error {
	if code := importStateDelete(unsafe.StringData(key), int32(len(key))); code != 0 {
		return stateError(int64(code))
	}
	return nil
}
