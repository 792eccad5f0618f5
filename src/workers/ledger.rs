//! The batches of one processor between dispatch and their collector: what a
//! worker runs (it takes only the batch number from the job channel), and
//! what is dead-lettered when the worker cannot deliver (it died, or its call
//! is stuck). Only the collector removes a batch, so every batch ends exactly
//! once: as its result, or as dead letters, never both. The in-flight permit
//! lives here too and is released with the batch, whichever way it ends.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use tokio::sync::OwnedSemaphorePermit;

use super::{BATCH_TIMEOUT, NO_WORKER, STUCK_CALL, WORKER_DIED};
use crate::actors::stats::{BatchStats, JobResult, Outcome};
use crate::actors::versions::VersionSet;
use crate::connectors::DeadLetter;
use crate::event::Event;
use crate::runtime::RetryPolicy;

/// Added to a batch's patience for host work outside guest calls and a busy machine.
pub const WAIT_MARGIN: Duration = Duration::from_secs(1);

/// How long a collector waits for a batch once it is the next one due: every
/// call the retry policy may make for it (see [`RetryPolicy::max_calls`]),
/// each at two deadlines (a fresh instance's `init` has one of its own), plus
/// [`super::STUCK_GRACE`] and [`WAIT_MARGIN`].
pub fn patience(policy: RetryPolicy, events: usize, versions: &VersionSet) -> Duration {
    let versions = versions.versions();
    let timeout = versions.iter().map(|v| v.module.spec().limits.timeout).max().unwrap_or_default();
    // Shares add up to the batch: each version beyond the first adds at most one batch call.
    let calls = versions.iter().map(|v| policy.max_calls(events, v.module.report().has_process_batch)).max();
    let calls = calls.unwrap_or(0).saturating_add(versions.len().saturating_sub(1) as u64);
    let per_call = timeout.saturating_mul(2);
    per_call.saturating_mul(u32::try_from(calls).unwrap_or(u32::MAX)).saturating_add(super::STUCK_GRACE + WAIT_MARGIN)
}

/// Why a batch ended without its result.
#[derive(Debug, Clone, PartialEq)]
pub struct Failure {
    /// Dead-letter `error_kind`.
    pub kind: &'static str,
    pub message: String,
}

impl Failure {
    pub fn worker_died(panic: &str) -> Failure {
        Failure { kind: WORKER_DIED, message: format!("the worker thread running this batch died: {panic}") }
    }

    pub fn stuck_call() -> Failure {
        let message = "a guest call of this batch is stuck past its deadline (a host call that does not return)";
        Failure { kind: STUCK_CALL, message: message.into() }
    }

    pub fn no_worker() -> Failure {
        Failure { kind: NO_WORKER, message: "no worker thread was left to run this batch".into() }
    }

    fn timed_out(patience: Duration) -> Failure {
        Failure {
            kind: BATCH_TIMEOUT,
            message: format!("no result within {patience:?} of being due: a guest call is stuck or its worker is gone"),
        }
    }
}

/// A batch as a worker runs it.
pub struct Batch {
    pub seq: u64,
    pub events: Arc<Vec<Event>>,
    /// The version set at dispatch: a batch finishes on the versions it started with.
    pub versions: Arc<VersionSet>,
}

struct Entry {
    /// `None` once the worker sent the result: it is on its way to the collector.
    events: Option<Arc<Vec<Event>>>,
    versions: Arc<VersionSet>,
    permit: OwnedSemaphorePermit,
    patience: Duration,
    /// Since when the collector waits for this batch next.
    due_since: Option<Instant>,
    failure: Option<Failure>,
}

/// See the module documentation.
#[derive(Default)]
pub struct Ledger {
    batches: Mutex<HashMap<u64, Entry>>,
}

impl Ledger {
    fn lock(&self) -> MutexGuard<'_, HashMap<u64, Entry>> {
        // Every update is a single insert, remove or field write: a panic elsewhere leaves the map whole.
        self.batches.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Records a dispatched batch (before its number goes to the workers).
    pub fn dispatch(
        &self,
        seq: u64,
        events: Vec<Event>,
        versions: Arc<VersionSet>,
        permit: OwnedSemaphorePermit,
        patience: Duration,
    ) {
        let entry =
            Entry { events: Some(Arc::new(events)), versions, permit, patience, due_since: None, failure: None };
        self.lock().insert(seq, entry);
    }

    /// For a worker: the batch to run, unless it already ended (failed, or
    /// the collector gave up on it while it was queued).
    pub fn start(&self, seq: u64) -> Option<Batch> {
        let batches = self.lock();
        let entry = batches.get(&seq).filter(|e| e.failure.is_none())?;
        Some(Batch { seq, events: entry.events.clone()?, versions: entry.versions.clone() })
    }

    /// For a worker, once it sent the batch's result: the collector will
    /// have it, so the events are not needed any more. They are handed back
    /// to be freed on the worker's thread, not the collector's.
    pub fn sent(&self, seq: u64) -> Option<Arc<Vec<Event>>> {
        self.lock().get_mut(&seq)?.events.take()
    }

    /// Marks a batch failed (unless its result is on its way): its collector
    /// dead-letters it when it is due.
    pub fn fail(&self, seq: u64, failure: Failure) {
        if let Some(entry) = self.lock().get_mut(&seq).filter(|e| e.events.is_some()) {
            entry.failure.get_or_insert(failure);
        }
    }

    /// Marks every batch failed whose result is not on its way (once no
    /// worker is left to deliver one).
    pub fn fail_all(&self, failure: &Failure) {
        for entry in self.lock().values_mut().filter(|e| e.events.is_some()) {
            entry.failure.get_or_insert_with(|| failure.clone());
        }
    }

    /// For the collector, as a batch's result arrives: the batch's permit, or
    /// `None` when the collector had given up on it (the result is late).
    pub fn arrived(&self, seq: u64) -> Option<OwnedSemaphorePermit> {
        self.lock().remove(&seq).map(|entry| entry.permit)
    }

    /// For the collector, about the batch it waits for next: the batch, taken
    /// out, when it failed or has been due longer than its patience at `now`.
    pub fn overdue(&self, seq: u64, now: Instant) -> Option<Abandoned> {
        let mut batches = self.lock();
        let entry = batches.get_mut(&seq).filter(|e| e.events.is_some())?;
        let since = *entry.due_since.get_or_insert(now);
        let failure = match &entry.failure {
            Some(failure) => failure.clone(),
            None if now.saturating_duration_since(since) > entry.patience => Failure::timed_out(entry.patience),
            None => return None,
        };
        let entry = batches.remove(&seq)?;
        let events = entry.events?;
        Some(Abandoned { seq, events, versions: entry.versions, permit: entry.permit, failure })
    }

    /// Batches in flight.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// A batch that ended without its result.
pub struct Abandoned {
    pub seq: u64,
    events: Arc<Vec<Event>>,
    versions: Arc<VersionSet>,
    permit: OwnedSemaphorePermit,
    pub failure: Failure,
}

impl Abandoned {
    pub fn len(&self) -> usize {
        self.events.len()
    }

    pub fn is_empty(&self) -> bool {
        self.events.is_empty()
    }

    /// The batch's result: every event dead-lettered with the failure, under
    /// the version it routes to.
    pub fn into_result(self, processor: &str) -> JobResult {
        let Abandoned { seq, events, versions, permit, failure } = self;
        // A stuck worker may still hold the events: then they are copied.
        let events = Arc::try_unwrap(events).unwrap_or_else(|shared| shared.as_ref().clone());
        let mut per_version = vec![BatchStats::default(); versions.versions().len().max(1)];
        let mut outcomes = Vec::with_capacity(events.len());
        let at = Event::now_millis();
        let dead_letters = events
            .into_iter()
            .map(|event| {
                let vi = versions.route(&event).min(per_version.len() - 1);
                per_version[vi].received += 1;
                per_version[vi].dead_lettered += 1;
                // Version sets hold a handful of versions; u16 is plenty.
                outcomes.push(Outcome { version: vi as u16, failed: true });
                DeadLetter {
                    processor: processor.to_owned(),
                    version: versions.versions().get(vi).map(|v| v.name.to_string()).unwrap_or_default(),
                    error_kind: failure.kind.to_owned(),
                    message: failure.message.clone(),
                    at,
                    event,
                }
            })
            .collect();
        let mut total = BatchStats::default();
        per_version.iter().for_each(|s| total.merge(s));
        let names = versions.versions().iter().map(|v| v.name.clone());
        let per_version = names.zip(per_version).collect();
        JobResult {
            seq,
            outputs: Vec::new(),
            dead_letters,
            total,
            per_version,
            versions,
            outcomes,
            permit: Some(permit),
        }
    }
}
