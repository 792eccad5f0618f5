//! One batch on one worker: split by version, each share run under the
//! processor's retry policy through watched, guarded calls, the results
//! merged back into input order and accounted.

use std::cell::Cell;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::time::Instant;

use super::ledger::Batch;
use super::slots::Slots;
use super::worker::{call_bound, WorkerState};
use super::{panic_message, Fault, WorkerConfig};
use crate::actors::stats::{BatchStats, JobResult, Outcome};
use crate::actors::versions::{Version, VersionSet};
use crate::connectors::DeadLetter;
use crate::event::Event;
use crate::runtime::{refuse_all, CallResult, EventResult, ProcessError, Usage};

/// Runs one batch: route, process, account, in input order. The permit stays
/// in the ledger; the collector attaches it.
pub(super) fn run_job(slots: &mut Slots, config: &WorkerConfig, me: &WorkerState, batch: &Batch) -> JobResult {
    let (seq, events, versions) = (batch.seq, &batch.events[..], batch.versions.clone());
    slots.retain(&versions);
    let usage_before: Vec<Usage> = versions.versions().iter().map(|v| slots.usage(&v.module)).collect();
    let mut per_version = vec![BatchStats::default(); versions.versions().len()];
    let mut run = Run { slots, config, me, seq, abandoned: false };
    let results = run.by_version(&versions, events, &mut per_version);

    let mut outputs = Vec::with_capacity(events.len());
    let mut dead_letters = Vec::new();
    let mut outcomes = Vec::with_capacity(events.len());
    for (event, (result, vi)) in events.iter().zip(results) {
        let stats = &mut per_version[vi];
        // Version sets hold a handful of versions; u16 is plenty.
        outcomes.push(Outcome { version: vi as u16, failed: result.is_err() });
        stats.received += 1;
        match result {
            Ok(outs) if outs.is_empty() => stats.filtered += 1,
            Ok(outs) => {
                stats.produced += 1;
                stats.emitted += outs.len() as u64;
                // Outputs are accounted to their input's source poll.
                let ticket = event.ticket();
                outputs.extend(outs.into_iter().map(|out| out.with_ticket(ticket.cloned())));
            }
            Err(err) => {
                stats.dead_lettered += 1;
                dead_letters.push(DeadLetter {
                    processor: config.processor.to_string(),
                    version: versions.versions()[vi].name.to_string(),
                    error_kind: err.kind().to_string(),
                    message: err.to_string(),
                    at: Event::now_millis(),
                    event: event.clone(),
                });
            }
        }
    }
    for ((stats, version), before) in per_version.iter_mut().zip(versions.versions()).zip(&usage_before) {
        stats.usage = run.slots.usage(&version.module).since(before);
    }
    let mut total = BatchStats::default();
    per_version.iter().for_each(|s| total.merge(s));
    let per_version = versions.versions().iter().map(|v| v.name.clone()).zip(per_version).collect();
    JobResult { seq, outputs, dead_letters, total, per_version, versions, outcomes, permit: None }
}

/// A batch being run by one worker.
struct Run<'a> {
    slots: &'a mut Slots,
    config: &'a WorkerConfig,
    me: &'a WorkerState,
    seq: u64,
    /// A call of this batch was flagged stuck: the batch is dead-lettered
    /// already, so its remaining calls are not made.
    abandoned: bool,
}

impl Run<'_> {
    /// Each event's result and version index, in input order.
    fn by_version(
        &mut self,
        versions: &VersionSet,
        events: &[Event],
        stats: &mut [BatchStats],
    ) -> Vec<(EventResult, usize)> {
        if versions.versions().len() == 1 {
            let results = self.version(&versions.versions()[0], events, &mut stats[0]);
            return results.into_iter().map(|r| (r, 0)).collect();
        }
        // Shares are copied out: the batch's events stay shared with the ledger.
        let mut groups: Vec<(Vec<usize>, Vec<Event>)> = vec![(Vec::new(), Vec::new()); versions.versions().len()];
        for (i, event) in events.iter().enumerate() {
            let group = &mut groups[versions.route(event)];
            group.0.push(i);
            group.1.push(event.clone());
        }
        let mut placed: Vec<Option<(EventResult, usize)>> = (0..events.len()).map(|_| None).collect();
        for (vi, (indices, group)) in groups.into_iter().enumerate() {
            if group.is_empty() {
                continue;
            }
            let results = self.version(&versions.versions()[vi], &group, &mut stats[vi]);
            for (i, result) in indices.into_iter().zip(results) {
                placed[i] = Some((result, vi));
            }
        }
        placed.into_iter().flatten().collect()
    }

    /// One version's share, timed; refused as a whole while the version's
    /// circuit breaker is open or the processor is over a quota (no instance is touched).
    fn version(&mut self, version: &Version, events: &[Event], stats: &mut BatchStats) -> Vec<EventResult> {
        if version.circuit_open {
            return refuse_all(events, &ProcessError::CircuitOpen { version: version.name.to_string() });
        }
        if let Err(err) = self.slots.get(version).admit() {
            return refuse_all(events, &err);
        }
        let start = Instant::now();
        let batched = version.module.report().has_process_batch;
        let results = self.config.policy.run(events, batched, |chunk| self.call(version, chunk, stats));
        stats.busy_ns += start.elapsed().as_nanos() as u64;
        results
    }

    /// One guest call, published for the watchdog, with host panics contained:
    /// a panic discards the worker's instance of `module` and fails the call
    /// (the policy then retries as for a trap); a call the watchdog flagged
    /// stuck has its instance discarded once it returns (it is not trusted),
    /// its state writes dropped and its result replaced by a deadline error.
    fn call(&mut self, version: &Version, events: &[Event], stats: &mut BatchStats) -> CallResult {
        let module = &version.module;
        let timeout = module.spec().limits.timeout;
        if self.abandoned {
            return Err(ProcessError::DeadlineExceeded { timeout });
        }
        let slot = self.slots.get(version);
        let before = slot.restarts();
        let began = self.me.begin_call(call_bound(timeout, slot.instantiates_next()));
        let (config, seq, me) = (self.config, self.seq, self.me);
        // Ending the watch before the writes are applied closes the race with
        // the watchdog: once `end_call` has run, the call cannot be flagged.
        let flagged = Cell::new(false);
        let outcome = catch_unwind(AssertUnwindSafe(|| {
            config.inject(Fault::InCall, seq);
            slot.call_settled(events, || {
                flagged.set(me.end_call());
                !flagged.get()
            })
        }));
        // Also ends a watch the call did not reach (no instance, or a panic).
        let stuck = flagged.get() | self.me.end_call();
        let result = match outcome {
            Ok(result) => {
                stats.restarts += slot.restarts() - before;
                result
            }
            Err(panic) => {
                self.slots.discard(module);
                stats.restarts += 1;
                let reason = panic_message(&panic);
                tracing::error!(
                    processor = %config.processor,
                    seq,
                    "worker panicked in a guest call, its instance is discarded: {reason}"
                );
                return Err(ProcessError::Trap(format!("worker panicked: {reason}")));
            }
        };
        if stuck {
            self.slots.discard(module);
            self.abandoned = true;
            tracing::warn!(
                processor = %config.processor,
                seq,
                took = ?self.me.since(began),
                "a guest call flagged stuck returned; its instance and state writes are discarded"
            );
            return Err(ProcessError::DeadlineExceeded { timeout });
        }
        result
    }
}
