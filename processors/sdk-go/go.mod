module flowctl.dev/sdk

go 1.24
