//! Names of the metrics the runtime emits. Labels come from small fixed sets
//! (processor ids, function names, result words, error kinds).

/// Counter: host function calls. Labels: `processor`, `function`, `result` (`ok`, `denied`, `failed`).
pub const HOST_CALLS_TOTAL: &str = "flowctl_host_calls_total";
/// Counter: instances thrown away after a fatal error. Labels: `processor`, `kind` ([`crate::runtime::ProcessError::kind`]).
pub const INSTANCE_RESTARTS_TOTAL: &str = "flowctl_instance_restarts_total";
/// Counter: guest metric updates dropped because the processor already has
/// [`MAX_GUEST_METRICS`] distinct names. Label: `processor`.
pub const GUEST_METRICS_DROPPED_TOTAL: &str = "flowctl_guest_metrics_dropped_total";
/// Counter: module loads, by whether the compiled artifact came from the disk cache.
/// Label: `result` (`hit`, `miss`, `disabled`).
pub const MODULE_CACHE_TOTAL: &str = "flowctl_module_cache_total";
/// Prefix of the gauges a guest sets through `record_metric`.
pub const GUEST_METRIC_PREFIX: &str = "flowctl_guest_";
/// Most distinct guest metric names one processor may create.
pub const MAX_GUEST_METRICS: usize = 64;

/// Tracing target of audit lines (capability use that was denied).
pub const AUDIT_TARGET: &str = "flowctl::audit";
/// Tracing target of guest log lines (`log` import and WASI stdout/stderr).
pub const GUEST_TARGET: &str = "flowctl::guest";
