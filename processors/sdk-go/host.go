package flowctl

import (
	"errors"
	"strconv"
)

// The host functions a pipeline may grant (docs/abi.md, "Host imports").
// Each is imported from module `flowctl` only when a processor calls it
// (the linker drops the others), so a module's imports say what it needs,
// and a filter that never calls HTTPRequest cannot be refused for lacking
// `permissions.http`. A call the pipeline did not grant ends the event with
// `capability denied: <function>`. Outside wasm (go test on the host), Log
// prints to stderr, RecordMetric does nothing, HTTPRequest fails and state
// lives in a map.

// Level is a log level of the ABI.
type Level int32

const (
	LevelDebug Level = 0
	LevelInfo  Level = 1
	LevelWarn  Level = 2
	LevelError Level = 3
)

func (l Level) String() string {
	switch l {
	case LevelDebug:
		return "debug"
	case LevelInfo:
		return "info"
	case LevelWarn:
		return "warn"
	case LevelError:
		return "error"
	}
	return "level(" + strconv.Itoa(int(l)) + ")"
}

// Log writes msg to flowctl's log, tagged with the processor's name and
// version (permissions.log, on by default).
func Log(level Level, msg string) { hostLog(level, msg) }

func Debug(msg string) { Log(LevelDebug, msg) }
func Info(msg string)  { Log(LevelInfo, msg) }
func Warn(msg string)  { Log(LevelWarn, msg) }
func Error(msg string) { Log(LevelError, msg) }

// RecordMetric sets the gauge flowctl_guest_<name>{processor=...} to value
// (permissions.metrics, on by default). Names are sanitised to [a-z0-9_];
// a processor may create at most 64.
func RecordMetric(name string, value float64) { hostRecordMetric(name, value) }

// Method is an HTTP method of the ABI.
type Method int32

const (
	MethodGet    Method = 0
	MethodPost   Method = 1
	MethodPut    Method = 2
	MethodDelete Method = 3
	MethodPatch  Method = 4
	MethodHead   Method = 5
)

var methodNames = [...]string{"GET", "POST", "PUT", "DELETE", "PATCH", "HEAD"}

func (m Method) String() string {
	if m < 0 || int(m) >= len(methodNames) {
		return "method(" + strconv.Itoa(int(m)) + ")"
	}
	return methodNames[m]
}

// HTTPRequest sends a request to an allowed domain
// (permissions.http.allowed_domains) and returns the response body,
// whatever the status code. An empty body sends none. The error says only
// that the host refused or failed: flowctl's log has the reason.
func HTTPRequest(method Method, url string, body []byte) ([]byte, error) {
	return hostHTTPRequest(method, url, body)
}

// HTTPGet is HTTPRequest(MethodGet, url, nil).
func HTTPGet(url string) ([]byte, error) { return HTTPRequest(MethodGet, url, nil) }

// Why the host refused a state write: the caps of the processor's limits.
var (
	ErrStateKeyTooLarge   = errors.New("state key too large")   // limits.max_state_key
	ErrStateValueTooLarge = errors.New("state value too large") // limits.max_state_value
	ErrStateFull          = errors.New("processor state full")  // limits.max_state
)

func stateError(code int64) error {
	switch code {
	case 1, -2:
		return ErrStateKeyTooLarge
	case 2:
		return ErrStateValueTooLarge
	case 3:
		return ErrStateFull
	}
	return errors.New("state error " + strconv.FormatInt(code, 10))
}

// StateGet is the value of key in the processor's state (permissions.state),
// kept by flowctl across restarts, reloads and crashes. found is false when
// the key has no value.
func StateGet(key string) (value []byte, found bool, err error) { return hostStateGet(key) }

// StateSet sets key to value. It takes effect for others only if the call
// that makes it succeeds (docs/guarantees.md).
func StateSet(key string, value []byte) error { return hostStateSet(key, value) }

// StateDelete removes key (nothing happens if it has no value).
func StateDelete(key string) error { return hostStateDelete(key) }

// StateAdd adds by to the counter under key (a decimal string; missing or
// unreadable counts as 0) and returns its new value.
func StateAdd(key string, by int64) (int64, error) {
	value, _, err := StateGet(key)
	if err != nil {
		return 0, err
	}
	n, _ := strconv.ParseInt(string(value), 10, 64)
	n += by
	return n, StateSet(key, strconv.AppendInt(nil, n, 10))
}
