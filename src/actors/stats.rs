//! Event accounting: per-component counters updated once per batch, the
//! pipeline-wide in-flight gauge, and the report a run ends with.
//!
//! Invariant per processor: `received = produced + filtered + dead_lettered`,
//! where `produced` counts inputs that yielded at least one output.

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering::Relaxed};
use std::sync::Arc;

use tokio::sync::OwnedSemaphorePermit;

use crate::connectors::DeadLetter;
use crate::event::Event;

/// Events (and copies made by fan-out) that entered the pipeline and have not
/// yet reached a sink, the dead letters or a filter. Sources add, terminals subtract.
#[derive(Debug, Clone, Default)]
pub struct InFlight(Arc<AtomicI64>);

impl InFlight {
    pub fn add(&self, n: usize) {
        self.0.fetch_add(n as i64, Relaxed);
    }
    pub fn sub(&self, n: usize) {
        self.0.fetch_sub(n as i64, Relaxed);
    }
    pub fn get(&self) -> i64 {
        self.0.load(Relaxed)
    }
}

/// Counts of one processor (totals over all its versions).
#[derive(Debug, Default)]
pub struct ProcessorCounters {
    pub received: AtomicU64,
    pub produced: AtomicU64,
    pub emitted: AtomicU64,
    pub filtered: AtomicU64,
    pub dead_lettered: AtomicU64,
    pub restarts: AtomicU64,
}

impl ProcessorCounters {
    pub fn add(&self, s: &BatchStats) {
        self.received.fetch_add(s.received, Relaxed);
        self.produced.fetch_add(s.produced, Relaxed);
        self.emitted.fetch_add(s.emitted, Relaxed);
        self.filtered.fetch_add(s.filtered, Relaxed);
        self.dead_lettered.fetch_add(s.dead_lettered, Relaxed);
        self.restarts.fetch_add(s.restarts, Relaxed);
    }

    pub fn report(&self, id: &str) -> ProcessorReport {
        ProcessorReport {
            id: id.to_string(),
            received: self.received.load(Relaxed),
            produced: self.produced.load(Relaxed),
            emitted: self.emitted.load(Relaxed),
            filtered: self.filtered.load(Relaxed),
            dead_lettered: self.dead_lettered.load(Relaxed),
            restarts: self.restarts.load(Relaxed),
        }
    }
}

/// Counts of one batch (or one version's share of it).
#[derive(Debug, Default, Clone, PartialEq)]
pub struct BatchStats {
    /// Input events.
    pub received: u64,
    /// Inputs with at least one output.
    pub produced: u64,
    /// Output events.
    pub emitted: u64,
    /// Inputs with no output.
    pub filtered: u64,
    pub dead_lettered: u64,
    /// Instances discarded (fatal guest errors, worker panics).
    pub restarts: u64,
    /// Time spent in the guest (including retries), nanoseconds.
    pub busy_ns: u64,
    /// Fuel, bytes and restarts by reason, as the instance slots counted them.
    pub usage: crate::runtime::Usage,
}

impl BatchStats {
    pub fn merge(&mut self, o: &BatchStats) {
        self.received += o.received;
        self.produced += o.produced;
        self.emitted += o.emitted;
        self.filtered += o.filtered;
        self.dead_lettered += o.dead_lettered;
        self.restarts += o.restarts;
        self.busy_ns += o.busy_ns;
        self.usage.add(&o.usage);
    }
}

/// What became of one input event, in input order: the index of the version
/// that ran it (in [`JobResult::versions`]) and whether it was dead-lettered.
/// The canary guard's error windows count these.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Outcome {
    pub version: u16,
    pub failed: bool,
}

/// A worker's answer for one batch.
pub struct JobResult {
    pub seq: u64,
    /// Outputs in input order.
    pub outputs: Vec<Event>,
    pub dead_letters: Vec<DeadLetter>,
    pub total: BatchStats,
    /// Per module version: (version name, its share).
    pub per_version: Vec<(Arc<str>, BatchStats)>,
    /// The version set the batch ran on (indices of `per_version` and `outcomes` refer to it).
    pub versions: Arc<crate::actors::versions::VersionSet>,
    /// One per input event, in input order.
    pub outcomes: Vec<Outcome>,
    /// Held until the outputs went downstream (bounds the reorder buffer).
    /// A WASM worker's result has none: its batch's permit waits in the
    /// pool's ledger, and the collector attaches it when the result arrives.
    pub permit: Option<OwnedSemaphorePermit>,
}

/// Counts of a source or sink.
#[derive(Debug, Default)]
pub struct ConnectorCounters {
    /// Source: events read. Sink / dead letters: events written.
    pub events: AtomicU64,
    /// Source: malformed input lines dead-lettered. Sink: events lost after it failed.
    pub rejected: AtomicU64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ProcessorReport {
    pub id: String,
    pub received: u64,
    pub produced: u64,
    pub emitted: u64,
    pub filtered: u64,
    pub dead_lettered: u64,
    pub restarts: u64,
}

impl ProcessorReport {
    /// Whether every received event is accounted for.
    pub fn balanced(&self) -> bool {
        self.received == self.produced + self.filtered + self.dead_lettered
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct SourceReport {
    pub id: String,
    pub emitted: u64,
    pub rejected: u64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct SinkReport {
    pub id: String,
    pub written: u64,
    /// Events that reached the sink after it failed.
    pub lost: u64,
}

/// How a run ended, with every component's counts.
#[derive(Debug, Clone, PartialEq)]
pub struct RunReport {
    pub sources: Vec<SourceReport>,
    pub processors: Vec<ProcessorReport>,
    pub sinks: Vec<SinkReport>,
    pub dead_letters_written: u64,
    /// Events still inside the pipeline when it stopped (0 after a full drain).
    pub in_flight: i64,
    /// Stopped by a signal (as opposed to every source ending).
    pub interrupted: bool,
    /// Everything drained within the grace period.
    pub drained: bool,
    /// Component failures (a sink that could not write, ...), one line each.
    pub errors: Vec<String>,
}

impl RunReport {
    /// Logs one line per component; tests read the `source finished` lines.
    pub fn log(&self) {
        for s in &self.sources {
            tracing::info!(component = %s.id, emitted = s.emitted, rejected = s.rejected, "source finished");
        }
        for p in &self.processors {
            tracing::info!(
                component = %p.id,
                received = p.received,
                produced = p.produced,
                emitted = p.emitted,
                filtered = p.filtered,
                dead_lettered = p.dead_lettered,
                restarts = p.restarts,
                balanced = p.balanced(),
                "processor finished"
            );
        }
        for s in &self.sinks {
            tracing::info!(component = %s.id, written = s.written, lost = s.lost, "sink finished");
        }
        for e in &self.errors {
            tracing::error!("{e}");
        }
        tracing::info!(
            dead_letters = self.dead_letters_written,
            in_flight = self.in_flight,
            drained = self.drained,
            interrupted = self.interrupted,
            "pipeline stopped"
        );
    }
}
