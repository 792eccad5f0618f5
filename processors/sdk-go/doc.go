// Package flowctl writes flowctl processors in Go: a processor is a Go
// program compiled to a WASI reactor,
//
//	GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -o my.wasm .
//
// that registers one function from an init function of its main package:
//
//	func init() {
//		flowctl.Init(configure)  // optional: the pipeline's `config:`
//		flowctl.Map(tag)         // or Filter, FlatMap, FilterRaw, MapRaw
//	}
//
//	func main() {} // never run in a reactor
//
// The package exports the guest ABI v1 (docs/abi.md in the flowctl
// repository): allocate, free, init, process_event, process_batch,
// last_error and flowctl_abi_version, with every buffer the host holds kept
// reachable until the host frees it. It imports the host functions (log,
// metrics, HTTP, state) only when a processor calls them, and uses the
// standard library only.
//
// # Typed or raw
//
// [Map], [Filter] and [FlatMap] hand the processor each event decoded into
// an [Event]. [FilterRaw] and [MapRaw] hand it the event's JSON text, a
// [RawEvent], from which [RawEvent.Get] reads one field without decoding
// the rest: the fast way for processors that look at a few fields. In a
// batch the SDK already reads each event to find its end; it follows the
// path the processor last asked for as it goes, so a filter on one field
// reads each event once.
//
// # Errors and panics
//
// An error returned for an event fails that event only: the host
// dead-letters it with the error's message and goes on. A panic does the
// same, with the message "panic: ...". An error from the Init function
// refuses to start the pipeline.
//
// Outside wasm (go test on the host) the ABI exports are left out, and the
// host functions have stand-ins: [Log] prints to stderr, [RecordMetric] does
// nothing, [HTTPRequest] fails and state lives in a map.
package flowctl
