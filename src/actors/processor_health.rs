//! Readiness of one processor, judged by its collector from each batch in
//! order: a processor is down while it crash-loops (several batches in a row
//! in which no event got through because instances kept failing, or its
//! circuit breaker refused them all), and up again at the first batch in
//! which an event was processed. A guest that rejects bad input through the
//! ABI (`guest_error`) is healthy; it only failed that input.
//!
//! The crash-loop judge is one cause of a processor being down; the worker
//! watchdog ([`crate::workers`]) is another (a stuck guest call). Both write
//! through one [`Readiness`], so one cause clearing never hides the other.

use std::sync::{Arc, Mutex, PoisonError};

use super::stats::JobResult;
use crate::telemetry::Health;

/// Batches in a row with nothing processed before a processor counts as down;
/// one bad batch is an incident, three are a crash loop.
pub const CRASH_LOOP_BATCHES: u32 = 3;

/// Error kind of events refused by an open circuit breaker.
const CIRCUIT_OPEN: &str = "circuit_open";

/// Why a processor may be down; it is down while any cause holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cause {
    CrashLoop,
    StuckWorker,
}

/// A processor's entry in `/readyz`, shared by every judge of it.
#[derive(Clone)]
pub struct Readiness {
    id: Arc<str>,
    health: Health,
    /// The reason of each cause that holds, by `Cause as usize`.
    causes: Arc<Mutex<[Option<String>; 2]>>,
}

impl Readiness {
    pub fn new(id: Arc<str>, health: Health) -> Self {
        Self { id, health, causes: Arc::default() }
    }

    pub fn id(&self) -> &Arc<str> {
        &self.id
    }

    /// Sets (`Some(reason)`) or clears (`None`) one cause; `/readyz` changes
    /// only when the set of reasons does.
    pub fn set(&self, cause: Cause, reason: Option<String>) {
        let mut causes = self.causes.lock().unwrap_or_else(PoisonError::into_inner);
        if causes[cause as usize] == reason {
            return;
        }
        causes[cause as usize] = reason;
        let reasons: Vec<&str> = causes.iter().flatten().map(String::as_str).collect();
        // Published under the lock, so two judges cannot publish out of order.
        if reasons.is_empty() {
            self.health.set_up(&self.id);
        } else {
            self.health.set_down(&self.id, reasons.join("; "));
        }
    }
}

pub struct ProcessorHealth {
    readiness: Readiness,
    failing_batches: u32,
    restarts_while_failing: u64,
    down: bool,
}

impl ProcessorHealth {
    pub fn new(readiness: Readiness) -> Self {
        Self { readiness, failing_batches: 0, restarts_while_failing: 0, down: false }
    }

    pub fn observe(&mut self, result: &JobResult) {
        let t = &result.total;
        if t.received == 0 {
            return;
        }
        if t.produced + t.filtered > 0 {
            self.failing_batches = 0;
            self.restarts_while_failing = 0;
            if self.down {
                self.down = false;
                self.readiness.set(Cause::CrashLoop, None);
                tracing::info!(component = %self.readiness.id(), "processor recovered: events are processed again");
            }
            return;
        }
        let circuit_open = result.dead_letters.iter().any(|l| l.error_kind == CIRCUIT_OPEN);
        if t.restarts == 0 && !circuit_open {
            // Every event was rejected by a healthy guest: bad data, not a bad processor.
            return;
        }
        self.failing_batches += 1;
        self.restarts_while_failing += t.restarts;
        if self.failing_batches >= CRASH_LOOP_BATCHES && !self.down {
            self.down = true;
            let kind = result.dead_letters.last().map_or("unknown", |l| l.error_kind.as_str());
            let reason = if circuit_open {
                "circuit breaker open: events are not run".to_owned()
            } else {
                format!(
                    "crash-looping: no event processed in the last {} batches, {} instance restarts (last error: {kind})",
                    self.failing_batches, self.restarts_while_failing
                )
            };
            tracing::warn!(component = %self.readiness.id(), "processor down: {reason}");
            self.readiness.set(Cause::CrashLoop, Some(reason));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_processor_is_down_while_any_cause_holds() {
        let health = Health::new();
        let readiness = Readiness::new("p".into(), health.clone());
        health.set_up("p");
        readiness.set(Cause::StuckWorker, Some("stuck worker: 1 call".into()));
        readiness.set(Cause::CrashLoop, Some("crash-looping".into()));
        assert_eq!(health.readiness().unwrap_err(), ["p: crash-looping; stuck worker: 1 call"]);
        readiness.set(Cause::CrashLoop, None);
        assert_eq!(health.readiness().unwrap_err(), ["p: stuck worker: 1 call"], "the other cause still holds");
        readiness.set(Cause::StuckWorker, None);
        assert!(health.readiness().is_ok());
    }
}
