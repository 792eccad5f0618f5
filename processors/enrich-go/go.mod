module flowctl.dev/processors/enrich

go 1.24

require flowctl.dev/sdk v0.0.0

replace flowctl.dev/sdk => ../sdk-go
