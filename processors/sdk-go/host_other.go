//go:build !wasip1

package flowctl

import (
	"fmt"
	"os"
	"sync"
)

// Stand-ins for go test on the host: see host.go.

func hostLog(level Level, msg string) {
	fmt.Fprintf(os.Stderr, "[%s] %s\n", level, msg)
}

func hostRecordMetric(string, float64) {}

func hostHTTPRequest(method Method, url string, _ []byte) ([]byte, error) {
	return nil, fmt.Errorf("http %s %s: only available inside flowctl", method, url)
}

var localState struct {
	sync.Mutex
	m map[string][]byte
}

func hostStateGet(key string) ([]byte, bool, error) {
	localState.Lock()
	defer localState.Unlock()
	v, ok := localState.m[key]
	return append([]byte(nil), v...), ok, nil
}

func hostStateSet(key string, value []byte) error {
	localState.Lock()
	defer localState.Unlock()
	if localState.m == nil {
		localState.m = map[string][]byte{}
	}
	localState.m[key] = append([]byte(nil), value...)
	return nil
}

func hostStateDelete(key string) error {
	localState.Lock()
	defer localState.Unlock()
	delete(localState.m, key)
	return nil
}
