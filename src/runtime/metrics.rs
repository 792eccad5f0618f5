//! What the runtime reports besides return values: the metric names it emits
//! (defined once, in [`crate::telemetry::names`]), the cap on guest metric
//! names, and the tracing targets of guest and audit lines.

pub use crate::telemetry::names::{
    GUEST_LOG_LINES_DROPPED, GUEST_METRICS_DROPPED, GUEST_METRIC_PREFIX, HOST_CALLS, MODULE_CACHE, QUOTA_BREACHES,
    QUOTA_LIMIT, QUOTA_USED,
};

/// Most distinct guest metric names one processor may create.
pub const MAX_GUEST_METRICS: usize = 64;

/// Tracing target of audit lines (capability use that was denied).
pub const AUDIT_TARGET: &str = "flowctl::audit";
/// Tracing target of guest log lines (`log` import and WASI stdout/stderr).
pub const GUEST_TARGET: &str = "flowctl::guest";
