//! The served module's Prometheus series, the engine's names (see
//! `docs/metrics.md`) with `pipeline="serve"`. Each worker thread owns one
//! [`ServeMetrics`] and updates it once per batch through handles registered
//! once per version, so counting costs no lock and no lookup per event.

use std::collections::HashMap;
use std::time::Duration;

use crate::runtime::{LoadedModule, RestartReason, Usage};
use crate::telemetry::names;

/// The `pipeline` label of every series `flowctl serve` writes.
pub const PIPELINE: &str = "serve";

/// What one batch did, for [`ServeMetrics::record`].
#[derive(Debug, Default)]
pub struct BatchCounts {
    pub received: u64,
    /// Outputs sent back (failed events sent back marked are not outputs).
    pub emitted: u64,
    /// Inputs that gave no output.
    pub filtered: u64,
    /// Failed inputs, by error kind (a small fixed set of labels).
    pub failed: Vec<&'static str>,
    pub busy: Duration,
    /// Restarts, fuel and bytes of the batch's guest calls.
    pub usage: Usage,
}

/// One worker's handles.
pub struct ServeMetrics {
    component: String,
    versions: HashMap<String, VersionMetrics>,
}

struct VersionMetrics {
    labels: [(&'static str, String); 3],
    received: metrics::Counter,
    emitted: metrics::Counter,
    filtered: metrics::Counter,
    bytes_in: metrics::Counter,
    bytes_out: metrics::Counter,
    restarts: [metrics::Counter; 4],
    batch_duration: metrics::Histogram,
    event_duration: metrics::Histogram,
    instances_alive: metrics::Gauge,
    memory_bytes: metrics::Gauge,
    failed: HashMap<&'static str, metrics::Counter>,
}

impl VersionMetrics {
    fn new(component: &str, version: &str) -> Self {
        let labels =
            [("pipeline", PIPELINE.to_owned()), ("component", component.to_owned()), ("version", version.to_owned())];
        let restart = |reason: RestartReason| {
            let mut with_reason = labels.to_vec();
            with_reason.push(("reason", reason.label().to_owned()));
            metrics::counter!(names::INSTANCE_RESTARTS, &with_reason)
        };
        Self {
            received: metrics::counter!(names::EVENTS_RECEIVED, &labels),
            emitted: metrics::counter!(names::EVENTS_EMITTED, &labels),
            filtered: metrics::counter!(names::EVENTS_FILTERED, &labels),
            bytes_in: metrics::counter!(names::BYTES_IN, &labels),
            bytes_out: metrics::counter!(names::BYTES_OUT, &labels),
            restarts: RestartReason::ALL.map(restart),
            batch_duration: metrics::histogram!(names::BATCH_DURATION, &labels),
            event_duration: metrics::histogram!(names::EVENT_DURATION, &labels),
            instances_alive: metrics::gauge!(names::INSTANCES_ALIVE, &labels),
            memory_bytes: metrics::gauge!(names::INSTANCE_MEMORY_BYTES, &labels),
            failed: HashMap::new(),
            labels,
        }
    }
}

impl ServeMetrics {
    pub fn new(component: &str) -> Self {
        Self { component: component.to_owned(), versions: HashMap::new() }
    }

    /// Accounts one batch run on `module`.
    pub fn record(&mut self, module: &LoadedModule, counts: &BatchCounts) {
        let component = &self.component;
        let m = self
            .versions
            .entry(module.version().to_owned())
            .or_insert_with(|| VersionMetrics::new(component, module.version()));
        m.received.increment(counts.received);
        m.emitted.increment(counts.emitted);
        m.filtered.increment(counts.filtered);
        m.bytes_in.increment(counts.usage.bytes_in);
        m.bytes_out.increment(counts.usage.bytes_out);
        for (counter, reason) in m.restarts.iter().zip(RestartReason::ALL) {
            counter.increment(counts.usage.restarts_for(reason));
        }
        if counts.received > 0 {
            let seconds = counts.busy.as_secs_f64();
            m.batch_duration.record(seconds);
            m.event_duration.record(seconds / counts.received as f64);
        }
        m.instances_alive.set(module.instances_alive() as f64);
        m.memory_bytes.set(module.instance_memory_bytes() as f64);
        for kind in &counts.failed {
            let labels = &m.labels;
            m.failed
                .entry(kind)
                .or_insert_with(|| {
                    let mut with_kind = labels.to_vec();
                    with_kind.push(("kind", (*kind).to_owned()));
                    metrics::counter!(names::EVENTS_DEAD_LETTERED, &with_kind)
                })
                .increment(1);
        }
    }
}
