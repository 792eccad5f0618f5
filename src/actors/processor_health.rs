//! Readiness of one processor, judged by its collector from each batch in
//! order: a processor is down while it crash-loops (several batches in a row
//! in which no event got through because instances kept failing, or its
//! circuit breaker refused them all), and up again at the first batch in
//! which an event was processed. A guest that rejects bad input through the
//! ABI (`guest_error`) is healthy; it only failed that input.

use std::sync::Arc;

use super::stats::JobResult;
use crate::telemetry::Health;

/// Batches in a row with nothing processed before a processor counts as down;
/// one bad batch is an incident, three are a crash loop.
pub const CRASH_LOOP_BATCHES: u32 = 3;

/// Error kind of events refused by an open circuit breaker.
const CIRCUIT_OPEN: &str = "circuit_open";

pub struct ProcessorHealth {
    id: Arc<str>,
    health: Health,
    failing_batches: u32,
    restarts_while_failing: u64,
    down: bool,
}

impl ProcessorHealth {
    pub fn new(id: Arc<str>, health: Health) -> Self {
        Self { id, health, failing_batches: 0, restarts_while_failing: 0, down: false }
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
                self.health.set_up(&self.id);
                tracing::info!(component = %self.id, "processor recovered: events are processed again");
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
            tracing::warn!(component = %self.id, "processor down: {reason}");
            self.health.set_down(&self.id, reason);
        }
    }
}
