//! The served module's Prometheus series, the engine's names (see
//! `docs/metrics.md`) with `pipeline="serve"`. Each worker thread owns one
//! [`ServeMetrics`] and updates it once per batch through handles registered
//! once per version, so counting costs no lock and no lookup per event.

use std::collections::HashMap;
use std::time::Duration;

use crate::actors::processor_metrics;
use crate::actors::stats::BatchStats;
use crate::runtime::{LoadedModule, Usage};
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

/// The engine's per-version handles, plus dead letters by kind.
struct VersionMetrics {
    labels: [(&'static str, String); 3],
    series: processor_metrics::VersionMetrics,
    failed: HashMap<&'static str, metrics::Counter>,
}

impl VersionMetrics {
    fn new(component: &str, version: &str) -> Self {
        let labels =
            [("pipeline", PIPELINE.to_owned()), ("component", component.to_owned()), ("version", version.to_owned())];
        Self {
            series: processor_metrics::VersionMetrics::new(PIPELINE, component, version),
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
        let stats = BatchStats {
            received: counts.received,
            emitted: counts.emitted,
            filtered: counts.filtered,
            busy_ns: counts.busy.as_nanos() as u64,
            usage: counts.usage,
            ..BatchStats::default()
        };
        m.series.record(&stats, Some(module));
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
