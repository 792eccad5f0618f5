//! Every metric flowctl exports, named once. README's "Metrics" table documents
//! them; keep the two in step. Labels use small fixed value sets.

/// Events a component received. Labels: `pipeline`, `component`.
pub const EVENTS_RECEIVED: &str = "flowctl_events_received_total";
/// Events a component emitted downstream. Labels: `pipeline`, `component`, `version` (processors).
pub const EVENTS_EMITTED: &str = "flowctl_events_emitted_total";
/// Events a processor filtered out (returned no output for). Labels: `pipeline`, `component`, `version`.
pub const EVENTS_FILTERED: &str = "flowctl_events_filtered_total";
/// Events sent to the dead-letter output. Labels: `pipeline`, `component`, `version`, `kind`.
pub const EVENTS_DEAD_LETTERED: &str = "flowctl_events_dead_lettered_total";
/// Bytes of JSON in / out of a component. Labels: `pipeline`, `component`.
pub const BYTES_IN: &str = "flowctl_bytes_in_total";
pub const BYTES_OUT: &str = "flowctl_bytes_out_total";
/// Batch processing latency in seconds. Labels: `pipeline`, `component`, `version`.
pub const BATCH_DURATION: &str = "flowctl_batch_duration_seconds";
/// Per-event processing latency in seconds (batch time / batch size). Same labels.
pub const EVENT_DURATION: &str = "flowctl_event_duration_seconds";
/// Instances replaced after a fatal error. Labels: `pipeline`, `component`, `version`, `reason`.
pub const INSTANCE_RESTARTS: &str = "flowctl_instance_restarts_total";
/// Instances currently alive. Labels: `pipeline`, `component`.
pub const INSTANCES_ALIVE: &str = "flowctl_instances_alive";
/// Events waiting in a stage's queue. Labels: `pipeline`, `component`, `stage`.
pub const QUEUE_DEPTH: &str = "flowctl_queue_depth";
/// Module reloads. Labels: `component`, `result` (`ok`, `error`).
pub const MODULE_RELOADS: &str = "flowctl_module_reloads_total";
/// Automatic canary rollbacks. Labels: `component`, `version`.
pub const ROLLBACKS: &str = "flowctl_rollbacks_total";
/// Host function calls. Labels: `processor`, `function`, `result` (`ok`, `denied`, `error`).
pub const HOST_CALLS: &str = "flowctl_host_calls_total";
/// Guest metric names dropped because a processor reached its cap. Labels: `processor`.
pub const GUEST_METRICS_DROPPED: &str = "flowctl_guest_metrics_dropped_total";
/// Prefix of guest-recorded metrics (`record_metric`). Label: `processor`.
pub const GUEST_METRIC_PREFIX: &str = "flowctl_guest_";
/// Build information, value 1. Labels: `version`, `wasmtime`.
pub const BUILD_INFO: &str = "flowctl_build_info";
/// Fuel consumed per event. Labels: `pipeline`, `component`, `version`.
pub const FUEL_PER_EVENT: &str = "flowctl_fuel_per_event";
/// Guest linear memory in bytes. Labels: `pipeline`, `component`, `version`.
pub const GUEST_MEMORY_BYTES: &str = "flowctl_guest_memory_bytes";
