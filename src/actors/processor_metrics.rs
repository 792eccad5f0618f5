//! A processor's Prometheus series, updated by its collector once per batch
//! (never per event) through handles registered once per version.

use std::collections::HashMap;
use std::sync::Arc;

use super::stats::{BatchStats, JobResult};
use crate::runtime::{LoadedModule, RestartReason};
use crate::telemetry::names;

/// Every series of one processor.
pub struct ProcessorMetrics {
    pipeline: Arc<str>,
    id: Arc<str>,
    versions: HashMap<Arc<str>, VersionMetrics>,
    /// Dead letters by (version, error kind); kinds are a small fixed set.
    dead_lettered: HashMap<(String, String), metrics::Counter>,
    /// Events batched and handed to the workers, not yet emitted (stage `pool`).
    queued: metrics::Gauge,
}

/// Handles of one version (also `flowctl serve`'s, per served version).
pub(crate) struct VersionMetrics {
    received: metrics::Counter,
    emitted: metrics::Counter,
    filtered: metrics::Counter,
    bytes_in: metrics::Counter,
    bytes_out: metrics::Counter,
    restarts: [metrics::Counter; 4],
    batch_duration: metrics::Histogram,
    event_duration: metrics::Histogram,
    fuel_per_event: metrics::Histogram,
    instances_alive: metrics::Gauge,
    memory_bytes: metrics::Gauge,
}

impl VersionMetrics {
    pub(crate) fn new(pipeline: &str, id: &str, version: &str) -> Self {
        let labels = [("pipeline", pipeline.to_owned()), ("component", id.to_owned()), ("version", version.to_owned())];
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
            fuel_per_event: metrics::histogram!(names::FUEL_PER_EVENT, &labels),
            instances_alive: metrics::gauge!(names::INSTANCES_ALIVE, &labels),
            memory_bytes: metrics::gauge!(names::INSTANCE_MEMORY_BYTES, &labels),
        }
    }

    pub(crate) fn record(&self, s: &BatchStats, module: Option<&LoadedModule>) {
        self.received.increment(s.received);
        self.emitted.increment(s.emitted);
        self.filtered.increment(s.filtered);
        self.bytes_in.increment(s.usage.bytes_in);
        self.bytes_out.increment(s.usage.bytes_out);
        for (counter, reason) in self.restarts.iter().zip(RestartReason::ALL) {
            let mut n = s.usage.restarts_for(reason);
            if reason == RestartReason::Trap {
                // Worker panics restart instances outside any slot; they count as traps.
                n += s.restarts.saturating_sub(s.usage.restarts_total());
            }
            counter.increment(n);
        }
        if s.received > 0 {
            let seconds = s.busy_ns as f64 / 1e9;
            self.batch_duration.record(seconds);
            self.event_duration.record(seconds / s.received as f64);
            if s.usage.fuel > 0 {
                self.fuel_per_event.record(s.usage.fuel as f64 / s.received as f64);
            }
        }
        if let Some(module) = module {
            self.instances_alive.set(module.instances_alive() as f64);
            self.memory_bytes.set(module.instance_memory_bytes() as f64);
        }
    }
}

impl ProcessorMetrics {
    pub fn new(pipeline: Arc<str>, id: Arc<str>) -> Self {
        let queued = metrics::gauge!(names::QUEUE_DEPTH,
            "pipeline" => pipeline.to_string(), "component" => id.to_string(), "stage" => "pool");
        Self { pipeline, id, versions: HashMap::new(), dead_lettered: HashMap::new(), queued }
    }

    /// Accounts one batch as it is emitted, in order.
    pub fn record(&mut self, result: &JobResult) {
        self.queued.decrement(result.total.received as f64);
        for (i, (version, stats)) in result.per_version.iter().enumerate() {
            let (pipeline, id) = (&self.pipeline, &self.id);
            let m = self.versions.entry(version.clone()).or_insert_with(|| VersionMetrics::new(pipeline, id, version));
            let module = result.versions.versions().get(i).map(|v| &*v.module);
            m.record(stats, module);
        }
        if self.versions.len() > result.per_version.len() {
            self.forget_retired(result);
        }
        if result.dead_letters.is_empty() {
            return;
        }
        let mut counts: HashMap<(&str, &str), u64> = HashMap::new();
        for letter in &result.dead_letters {
            *counts.entry((&letter.version, &letter.error_kind)).or_default() += 1;
        }
        for ((version, kind), n) in counts {
            let key = (version.to_owned(), kind.to_owned());
            let (pipeline, id) = (&self.pipeline, &self.id);
            self.dead_lettered
                .entry(key)
                .or_insert_with(|| {
                    metrics::counter!(names::EVENTS_DEAD_LETTERED,
                        "pipeline" => pipeline.to_string(), "component" => id.to_string(),
                        "version" => version.to_owned(), "kind" => kind.to_owned())
                })
                .increment(n);
        }
    }

    /// Versions that are no longer in the batch's set (swapped out, rolled
    /// back) run nothing more and their instances are being dropped: their
    /// gauges read 0 from here on rather than their last batch's values, and
    /// their handles go (their counters keep their totals in the registry,
    /// and continue from them if the version comes back).
    fn forget_retired(&mut self, result: &JobResult) {
        self.versions.retain(|name, m| {
            let current = result.per_version.iter().any(|(v, _)| v == name);
            if !current {
                m.instances_alive.set(0.0);
                m.memory_bytes.set(0.0);
            }
            current
        });
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use metrics_exporter_prometheus::PrometheusBuilder;

    use super::*;
    use crate::actors::versions::{RouteKey, Version, VersionSet};
    use crate::runtime::test_guests::versioned;

    fn version(name: &str) -> Version {
        Version {
            name: name.into(),
            module: versioned(name),
            ready: Default::default(),
            weight: 100,
            circuit_open: false,
        }
    }

    /// A batch of one event that ran on `version` alone.
    fn ran_on(version: &Version) -> JobResult {
        let stats = BatchStats { received: 1, ..BatchStats::default() };
        JobResult {
            seq: 0,
            outputs: Vec::new(),
            dead_letters: Vec::new(),
            total: stats.clone(),
            per_version: vec![(version.name.clone(), stats)],
            versions: Arc::new(VersionSet::new(vec![version.clone()], RouteKey::Id).unwrap()),
            outcomes: Vec::new(),
            permit: None,
        }
    }

    #[test]
    fn a_swapped_out_versions_instance_gauges_fall_to_zero() {
        let recorder = PrometheusBuilder::new().build_recorder();
        let (old, new) = (version("v1"), version("v2"));
        let gauge = |version: &str| {
            let line = format!(r#"flowctl_instances_alive{{pipeline="pipe",component="p",version="{version}"}} "#);
            let text = recorder.handle().render();
            text.lines().find_map(|l| l.strip_prefix(line.as_str()).map(str::to_owned)).unwrap_or_default()
        };
        let old_instance = old.module.instantiate().unwrap();
        let new_instance = new.module.instantiate().unwrap();
        metrics::with_local_recorder(&recorder, || {
            let mut metrics = ProcessorMetrics::new("pipe".into(), "p".into());
            metrics.record(&ran_on(&old));
            assert_eq!(gauge("v1"), "1");
            metrics.record(&ran_on(&new));
        });
        assert_eq!((gauge("v1").as_str(), gauge("v2").as_str()), ("0", "1"));
        drop((old_instance, new_instance));
    }
}
