package flowctl

// reset forgets the registered processor between tests.
func reset() {
	current.initFunc, current.inited, current.typed, current.raw = nil, false, nil, nil
	wanted = nil
	forgetSeen()
}
