//! Every metric flowctl exports, named once: the constants other modules use,
//! and [`CATALOG`], which the exporter describes (`# HELP`) and a test checks
//! against `docs/metrics.md`. Labels take values from small bounded sets.
//!
//! Names under `flowctl_guest_` belong to guests (`record_metric`); no engine
//! metric uses that prefix, so a guest can never collide with one.

/// Events a component received. Labels: `pipeline`, `component`, `version` (processors).
pub const EVENTS_RECEIVED: &str = "flowctl_events_received_total";
/// Events a component emitted downstream. Labels: `pipeline`, `component`, `version` (processors).
pub const EVENTS_EMITTED: &str = "flowctl_events_emitted_total";
/// Events a processor filtered out (returned no output for). Labels: `pipeline`, `component`, `version`.
pub const EVENTS_FILTERED: &str = "flowctl_events_filtered_total";
/// Events sent to the dead-letter output. Labels: `pipeline`, `component`, `version` (processors), `kind`.
pub const EVENTS_DEAD_LETTERED: &str = "flowctl_events_dead_lettered_total";
/// Events that reached a sink after it failed and were not written. Labels: `pipeline`, `component`.
pub const EVENTS_LOST: &str = "flowctl_events_lost_total";
/// Messages a `nats` source's durable consumer has not delivered yet (JetStream's pending count). Label: `component`.
pub const SOURCE_LAG: &str = "flowctl_source_lag";
/// Checkpoints written to the state store. Labels: `pipeline`, `outcome` (`ok`, `failed`).
pub const CHECKPOINTS: &str = "flowctl_checkpoints_total";
/// Time one checkpoint commit took, in seconds. Label: `pipeline`.
pub const CHECKPOINT_SECONDS: &str = "flowctl_checkpoint_duration_seconds";
/// Bytes of serialized events into a component. Labels: `pipeline`, `component`, `version` (processors).
pub const BYTES_IN: &str = "flowctl_bytes_in_total";
/// Bytes of serialized events out of a component. Same labels as [`BYTES_IN`].
pub const BYTES_OUT: &str = "flowctl_bytes_out_total";
/// Batch processing latency in seconds. Labels: `pipeline`, `component`, `version`.
pub const BATCH_DURATION: &str = "flowctl_batch_duration_seconds";
/// Per-event processing latency in seconds (batch time / batch size). Same labels.
pub const EVENT_DURATION: &str = "flowctl_event_duration_seconds";
/// Fuel consumed per event (batch fuel / batch size). Labels: `pipeline`, `component`, `version`.
pub const FUEL_PER_EVENT: &str = "flowctl_fuel_per_event";
/// Linear memory of the live instances of a version, in bytes. Labels: `pipeline`, `component`, `version`.
pub const INSTANCE_MEMORY_BYTES: &str = "flowctl_instance_memory_bytes";
/// Instances currently alive. Labels: `pipeline`, `component`, `version`.
pub const INSTANCES_ALIVE: &str = "flowctl_instances_alive";
/// Instances replaced after a fatal error. Labels: `pipeline`, `component`, `version`, `reason`.
pub const INSTANCE_RESTARTS: &str = "flowctl_instance_restarts_total";
/// Host function calls. Labels: `processor`, `version`, `function`, `result` (`ok`, `denied`, `error`).
pub const HOST_CALLS: &str = "flowctl_host_calls_total";
/// Prefix of guest-recorded metrics (`record_metric`). Label: `processor`.
pub const GUEST_METRIC_PREFIX: &str = "flowctl_guest_";
/// Guest metric updates dropped because a processor reached its cap of names. Label: `processor`.
pub const GUEST_METRICS_DROPPED: &str = "flowctl_dropped_guest_metric_updates_total";
/// Guest log lines (`log`, WASI stdout/stderr) dropped over the processor's rate. Label: `processor`.
pub const GUEST_LOG_LINES_DROPPED: &str = "flowctl_dropped_guest_log_lines_total";
/// Usage of a quota in its current window (seconds, requests or MB-hours).
/// Labels: `processor`, `tenant`, `quota`.
pub const QUOTA_USED: &str = "flowctl_quota_used";
/// A quota's limit per window (0 = no quota). Labels: `processor`, `tenant`, `quota`.
pub const QUOTA_LIMIT: &str = "flowctl_quota_limit";
/// Windows in which a quota was exceeded. Labels: `processor`, `tenant`, `quota`.
pub const QUOTA_BREACHES: &str = "flowctl_quota_breaches_total";
/// Events waiting in a stage. Labels: `pipeline`, `component`, `stage`.
pub const QUEUE_DEPTH: &str = "flowctl_queue_depth";
/// Whether a component is ready (1) or down (0), as `/readyz` sees it. Label: `component`.
pub const COMPONENT_READY: &str = "flowctl_component_ready";
/// Module hot reloads. Labels: `component`, `result` (`ok`, `error`, `rejected`: refused for its signature).
pub const MODULE_RELOADS: &str = "flowctl_module_reloads_total";
/// Automatic canary rollbacks. Labels: `component`, `version` (the version rolled back).
pub const ROLLBACKS: &str = "flowctl_rollbacks_total";
/// Circuit-breaker state, one series per state set to 1 for the current one.
/// Labels: `component`, `version`, `state` (`closed`, `open`, `half_open`).
pub const CIRCUIT_BREAKER_STATE: &str = "flowctl_circuit_breaker_state";
/// Module loads by where the compiled code came from. Label: `result` (`hit`, `miss`, `disabled`,
/// `untrusted`: the cache directory or its key is not private to the user, so it is not used).
pub const MODULE_CACHE: &str = "flowctl_module_cache_total";
/// Reconnects of a gRPC source or sink after its stream or connection failed. Label: `component`.
pub const GRPC_RECONNECTS: &str = "flowctl_grpc_reconnects_total";
/// Events a gRPC source dropped after a resume because it had delivered them already. Label: `component`.
pub const GRPC_DUPLICATES_DROPPED: &str = "flowctl_grpc_duplicates_dropped_total";
/// Events a gRPC sink sent again on a new stream after a stream failed unconfirmed. Label: `component`.
pub const GRPC_RESENT: &str = "flowctl_grpc_resent_total";
/// Components registered with `flowctl run`'s control plane, by last reported status. Label: `status`.
pub const CONTROL_PLANE_COMPONENTS: &str = "flowctl_control_plane_components";
/// Restarts of process-driven components after their process exited. Label: `component`.
pub const PROCESS_RESTARTS: &str = "flowctl_process_restarts_total";
/// Worker threads a WASM processor started in place of one that died or is stuck. Labels: `component`, `reason`.
pub const WORKER_RESTARTS: &str = "flowctl_worker_restarts_total";
/// Guest calls the watchdog found running past their deadline plus grace. Label: `component`.
pub const STUCK_CALLS: &str = "flowctl_stuck_calls_total";
/// Batch results dropped because they came after the collector stopped waiting for them. Label: `component`.
pub const LATE_RESULTS_DROPPED: &str = "flowctl_late_results_dropped_total";
/// Build information, value 1. Labels: `version`, `wasmtime`.
pub const BUILD_INFO: &str = "flowctl_build_info";
/// Events a `grpc_server` sink took from a subscriber's buffer to send. Labels: `component`, `subscriber`.
pub const SUBSCRIBER_EVENTS_SENT: &str = "flowctl_subscriber_events_sent_total";
/// Events dropped from a subscriber's full buffer (`drop_oldest`). Labels: `component`, `subscriber`.
pub const SUBSCRIBER_EVENTS_DROPPED: &str = "flowctl_subscriber_events_dropped_total";
/// Subscribers disconnected for slowness (`disconnect`). Labels: `component`, `subscriber`.
pub const SUBSCRIBER_DISCONNECTS: &str = "flowctl_subscriber_slow_disconnects_total";
/// Events waiting in a subscriber's buffer. Labels: `component`, `subscriber`.
pub const SUBSCRIBER_BUFFER_DEPTH: &str = "flowctl_subscriber_buffer_depth";
/// Subscribers a `grpc_server` sink is writing to. Label: `component`.
pub const SUBSCRIBERS_CONNECTED: &str = "flowctl_subscribers_connected";

/// The Prometheus type of a metric.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Counter,
    Gauge,
    Histogram,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Counter => "counter",
            Kind::Gauge => "gauge",
            Kind::Histogram => "histogram",
        }
    }
}

/// One exported metric: what `# HELP` says and what `docs/metrics.md` lists.
#[derive(Debug, Clone, Copy)]
pub struct MetricDef {
    pub name: &'static str,
    pub kind: Kind,
    /// Every label the metric may carry (some only on processors' series).
    pub labels: &'static [&'static str],
    pub help: &'static str,
}

const fn def(name: &'static str, kind: Kind, labels: &'static [&'static str], help: &'static str) -> MetricDef {
    MetricDef { name, kind, labels, help }
}

const COMPONENT: &[&str] = &["pipeline", "component", "version"];
/// A `grpc_server` subscriber's series: `subscriber` is a slot number, reused (see docs).
const SUBSCRIBER: &[&str] = &["component", "subscriber"];

/// Every engine metric (guest metrics are named by guests, under [`GUEST_METRIC_PREFIX`]).
pub const CATALOG: &[MetricDef] = &[
    def(EVENTS_RECEIVED, Kind::Counter, COMPONENT, "Events a component received."),
    def(EVENTS_EMITTED, Kind::Counter, COMPONENT, "Events a component emitted downstream."),
    def(EVENTS_FILTERED, Kind::Counter, COMPONENT, "Events a processor returned no output for."),
    def(
        EVENTS_DEAD_LETTERED,
        Kind::Counter,
        &["pipeline", "component", "version", "kind"],
        "Events sent to the dead-letter output, by error kind.",
    ),
    def(
        EVENTS_LOST,
        Kind::Counter,
        &["pipeline", "component"],
        "Events that reached a sink after it failed, and were not written.",
    ),
    def(SOURCE_LAG, Kind::Gauge, &["component"], "Messages a nats source's durable consumer has yet to deliver."),
    def(CHECKPOINTS, Kind::Counter, &["pipeline", "outcome"], "Checkpoints committed to the state store, by outcome."),
    def(CHECKPOINT_SECONDS, Kind::Histogram, &["pipeline"], "Time one checkpoint commit took (fsync included)."),
    def(BYTES_IN, Kind::Counter, COMPONENT, "Bytes of serialized events into a component."),
    def(BYTES_OUT, Kind::Counter, COMPONENT, "Bytes of serialized events out of a component."),
    def(BATCH_DURATION, Kind::Histogram, COMPONENT, "Time a processor version spent on one batch."),
    def(EVENT_DURATION, Kind::Histogram, COMPONENT, "Batch time divided by the events in the batch."),
    def(FUEL_PER_EVENT, Kind::Histogram, COMPONENT, "Fuel a batch consumed divided by its events (fuel limits on)."),
    def(
        INSTANCE_MEMORY_BYTES,
        Kind::Gauge,
        COMPONENT,
        "Linear memory of a version's live instances (0 once swapped out).",
    ),
    def(INSTANCES_ALIVE, Kind::Gauge, COMPONENT, "Instances of a version currently alive (0 once swapped out)."),
    def(
        INSTANCE_RESTARTS,
        Kind::Counter,
        &["pipeline", "component", "version", "reason"],
        "Instances replaced after a trap, fuel exhaustion, a deadline or the memory limit.",
    ),
    def(
        HOST_CALLS,
        Kind::Counter,
        &["processor", "version", "function", "result"],
        "Host function calls by guests, by result (ok, denied, error).",
    ),
    def(
        GUEST_METRICS_DROPPED,
        Kind::Counter,
        &["processor"],
        "Guest record_metric updates dropped because the processor reached its cap of distinct names.",
    ),
    def(
        GUEST_LOG_LINES_DROPPED,
        Kind::Counter,
        &["processor"],
        "Guest log lines (log, WASI stdout/stderr) dropped over the processor's limits.log_lines_per_second.",
    ),
    def(
        QUOTA_USED,
        Kind::Gauge,
        &["processor", "tenant", "quota"],
        "Usage of a processor's quota in its current window (seconds, requests or MB-hours).",
    ),
    def(QUOTA_LIMIT, Kind::Gauge, &["processor", "tenant", "quota"], "A processor's quota per window (0 = none)."),
    def(
        QUOTA_BREACHES,
        Kind::Counter,
        &["processor", "tenant", "quota"],
        "Windows in which a processor exceeded a quota.",
    ),
    def(QUEUE_DEPTH, Kind::Gauge, &["pipeline", "component", "stage"], "Events waiting in a stage of a component."),
    def(COMPONENT_READY, Kind::Gauge, &["component"], "1 while a component runs, 0 while it is down (see /readyz)."),
    def(
        MODULE_RELOADS,
        Kind::Counter,
        &["component", "result"],
        "Module hot reloads, by result (ok, error, rejected for the signature).",
    ),
    def(ROLLBACKS, Kind::Counter, &["component", "version"], "Automatic canary rollbacks, by the version rolled back."),
    def(
        CIRCUIT_BREAKER_STATE,
        Kind::Gauge,
        &["component", "version", "state"],
        "1 for a version's current circuit-breaker state (closed, open, half_open), 0 for the others.",
    ),
    def(
        MODULE_CACHE,
        Kind::Counter,
        &["result"],
        "Module loads by compiled-code cache result (hit, miss, disabled, untrusted).",
    ),
    def(
        GRPC_RECONNECTS,
        Kind::Counter,
        &["component"],
        "Reconnects of a gRPC source or sink after its stream or connection failed.",
    ),
    def(
        GRPC_DUPLICATES_DROPPED,
        Kind::Counter,
        &["component"],
        "Events a gRPC source dropped after a resume because they were delivered already.",
    ),
    def(
        GRPC_RESENT,
        Kind::Counter,
        &["component"],
        "Events a gRPC sink sent again after a stream failed before the consumer confirmed it.",
    ),
    def(
        CONTROL_PLANE_COMPONENTS,
        Kind::Gauge,
        &["status"],
        "Components registered with the control plane, by their last reported status.",
    ),
    def(
        PROCESS_RESTARTS,
        Kind::Counter,
        &["component"],
        "Restarts of a process-driven component after its process exited.",
    ),
    def(
        WORKER_RESTARTS,
        Kind::Counter,
        &["component", "reason"],
        "Worker threads a WASM processor started in place of one that died or whose guest call is stuck.",
    ),
    def(
        STUCK_CALLS,
        Kind::Counter,
        &["component"],
        "Guest calls found running past their deadline plus grace (a host call that does not return).",
    ),
    def(
        LATE_RESULTS_DROPPED,
        Kind::Counter,
        &["component"],
        "Batch results dropped because they came after the collector stopped waiting (events dead-lettered).",
    ),
    def(BUILD_INFO, Kind::Gauge, &["version", "wasmtime"], "Build information; the value is always 1."),
    def(
        SUBSCRIBER_EVENTS_SENT,
        Kind::Counter,
        SUBSCRIBER,
        "Events a grpc_server sink took from a subscriber's buffer to send to it.",
    ),
    def(
        SUBSCRIBER_EVENTS_DROPPED,
        Kind::Counter,
        SUBSCRIBER,
        "Events dropped unsent from a subscriber's full buffer (slow_subscriber: drop_oldest).",
    ),
    def(
        SUBSCRIBER_DISCONNECTS,
        Kind::Counter,
        SUBSCRIBER,
        "Subscribers whose stream ended with RESOURCE_EXHAUSTED (slow_subscriber: disconnect).",
    ),
    def(SUBSCRIBER_BUFFER_DEPTH, Kind::Gauge, SUBSCRIBER, "Events waiting in a subscriber's buffer."),
    def(SUBSCRIBERS_CONNECTED, Kind::Gauge, &["component"], "Subscribers a grpc_server sink is writing to."),
];

/// The catalog entry of `name`.
pub fn lookup(name: &str) -> Option<&'static MetricDef> {
    CATALOG.iter().find(|d| d.name == name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_prometheus_conventions() {
        for d in CATALOG {
            assert!(d.name.starts_with("flowctl_") && !d.name.starts_with(GUEST_METRIC_PREFIX), "{}", d.name);
            assert!(d.name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_'), "{}", d.name);
            assert_eq!(d.kind == Kind::Counter, d.name.ends_with("_total"), "{}: only counters end in _total", d.name);
            assert!(!d.help.is_empty() && !d.labels.is_empty(), "{}", d.name);
        }
        let mut names: Vec<_> = CATALOG.iter().map(|d| d.name).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), CATALOG.len(), "a name is listed twice");
    }

    /// `docs/metrics.md` has one table row per metric, with its type and labels.
    #[test]
    fn docs_list_every_metric_with_its_type_and_labels() {
        let docs = include_str!("../../docs/metrics.md");
        for d in CATALOG {
            let row = docs
                .lines()
                .find(|l| l.starts_with(&format!("| `{}` |", d.name)))
                .unwrap_or_else(|| panic!("docs/metrics.md has no row for {}", d.name));
            let cells: Vec<&str> = row.split('|').map(str::trim).collect();
            assert_eq!(cells.get(2).copied(), Some(d.kind.as_str()), "{row}");
            let labels: Vec<&str> =
                cells.get(3).unwrap_or(&"").split(',').map(|l| l.trim().trim_matches('`')).collect();
            assert_eq!(labels, d.labels, "{row}");
        }
    }
}
