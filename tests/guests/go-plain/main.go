// Command go-plain is a flowctl processor written as a new Go author would
// write one, without the SDK: the three required exports of the guest ABI
// (docs/abi.md), passing every event through unchanged. Build it as a WASI
// reactor:
//
//	GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -o go-plain.wasm .
//
// flowctl runs the reactor's _initialize (the Go runtime's start) once per
// instance before any other export; without it every call traps.
package main

import "unsafe"

// buffers keeps each buffer handed to the host reachable until the host
// frees it: Go's collector does not move memory, but it frees what nothing
// references, and the host's hold on a pointer is invisible to it.
var buffers = map[uint32][]byte{}

//go:wasmexport allocate
func allocate(size int32) int32 {
	if size < 0 {
		return 0
	}
	buf := make([]byte, max(size, 1)) // a zero-size buffer would have no address of its own
	ptr := uint32(uintptr(unsafe.Pointer(unsafe.SliceData(buf))))
	buffers[ptr] = buf
	return int32(ptr)
}

//go:wasmexport free
func free(ptr, size int32) {
	delete(buffers, uint32(ptr))
}

// processEvent returns its input buffer as the output: the host copies the
// output before it frees the input, and frees a buffer returned as both once.
//
//go:wasmexport process_event
func processEvent(ptr, size int32) int64 {
	return int64(uint64(uint32(ptr))<<32 | uint64(uint32(size)))
}

// main is not run in a reactor (-buildmode=c-shared), but package main needs one.
func main() {}
