module flowctl.dev/tests/go-plain

go 1.24
