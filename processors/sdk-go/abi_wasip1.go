//go:build wasip1

package flowctl

import (
	"errors"
	"unsafe"
)

// The ABI v1 exports (docs/abi.md). Go's garbage collector does not move
// objects, but frees what nothing references: every buffer the host may
// still read or write (inputs it allocated, outputs it has not freed yet)
// stays referenced from `pinned`, by address, until the host frees it.

// pinned holds each live buffer the host knows, by its address.
var pinned = map[uint32][]byte{}

// spare keeps a few freed buffers for reuse: the host allocates an input
// buffer and gets an output buffer per call, and recycling them spares the
// garbage collector most of its work.
var spare [][]byte

const maxSpare = 4

func address(buf []byte) uint32 {
	return uint32(uintptr(unsafe.Pointer(unsafe.SliceData(buf))))
}

// newBuffer is a buffer of length n (at least 1, so it has an address of
// its own), recycled when one is free.
func newBuffer(n int) []byte {
	size := max(n, 1)
	for i, buf := range spare {
		if cap(buf) >= size {
			spare[i] = spare[len(spare)-1]
			spare = spare[:len(spare)-1]
			return buf[:n]
		}
	}
	return make([]byte, n, size)
}

// hand pins buf for the host and returns its address.
func hand(buf []byte) uint32 {
	if cap(buf) == 0 {
		buf = make([]byte, 0, 1)
	}
	ptr := address(buf[:cap(buf)])
	pinned[ptr] = buf[:cap(buf)]
	return ptr
}

// take unpins the buffer at ptr, returning its first n bytes.
func take(ptr uint32, n int) ([]byte, bool) {
	buf, ok := pinned[ptr]
	if !ok || n < 0 || n > len(buf) {
		return nil, false
	}
	delete(pinned, ptr)
	return buf[:n], true
}

// input is the host-written buffer at ptr, left pinned (the host frees it).
func input(ptr, n int32) ([]byte, bool) {
	if n == 0 {
		return nil, true
	}
	buf, ok := pinned[uint32(ptr)]
	if !ok || n < 0 || int(n) > len(buf) {
		return nil, false
	}
	return buf[:n], true
}

//go:wasmexport allocate
func wasmAllocate(size int32) int32 {
	if size < 0 {
		return 0
	}
	return int32(hand(newBuffer(int(size))))
}

//go:wasmexport free
func wasmFree(ptr, _ int32) {
	buf, ok := take(uint32(ptr), 0)
	if ok && len(spare) < maxSpare {
		spare = append(spare, buf[:0])
	}
}

var lastError string

//go:wasmexport last_error
func wasmLastError() int64 {
	if lastError == "" {
		return 0
	}
	msg := append(newBuffer(0), lastError...)
	lastError = ""
	return pack(hand(msg), len(msg))
}

//go:wasmexport flowctl_abi_version
func wasmABIVersion() int32 { return abiVersion }

//go:wasmexport init
func wasmInit(ptr, n int32) int32 {
	config, ok := input(ptr, n)
	if !ok {
		lastError = "init: the config is not in a buffer from allocate"
		return 1
	}
	if err := initialize(config); err != nil {
		lastError = err.Error()
		return 1
	}
	return 0
}

//go:wasmexport process_event
func wasmProcessEvent(ptr, n int32) int64 {
	return call(ptr, n, processEvent)
}

//go:wasmexport process_batch
func wasmProcessBatch(ptr, n int32) int64 {
	return call(ptr, n, processBatch)
}

var errForeignBuffer = errors.New("input: not a buffer from allocate")

func call(ptr, n int32, f func(in, out []byte) ([]byte, error)) int64 {
	in, ok := input(ptr, n)
	if !ok {
		lastError = errForeignBuffer.Error()
		return 0
	}
	// Outputs are about the size of their inputs (a filter's are smaller):
	// one buffer of that size rarely needs to grow.
	out, err := f(in, newBuffer(len(in) + len(in)/4 + 64)[:0])
	if err != nil {
		lastError = err.Error()
		if len(spare) < maxSpare {
			spare = append(spare, out[:0])
		}
		return 0
	}
	return pack(hand(out), len(out))
}

// takeBuffer takes over a buffer the host filled through allocate (an HTTP
// response, a state value) and returned packed.
func takeBuffer(packed int64) ([]byte, error) {
	ptr, n := unpack(packed)
	buf, ok := take(ptr, n)
	if !ok {
		return nil, errors.New("the host returned a buffer it did not allocate")
	}
	return buf, nil
}
