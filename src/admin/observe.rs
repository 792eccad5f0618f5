//! Feeding a processor's finished batches to its guards: the canary's error
//! windows and the restart circuit breakers. A verdict (rollback, circuit
//! opened or closed) is logged, counted, and published as new routing.

use std::sync::Arc;
use std::time::Instant;

use super::control::{Entry, ProcessorControl};
use super::guard::{Breaker, BreakerState};
use crate::actors::stats::JobResult;
use crate::telemetry::names;

impl ProcessorControl {
    /// Feeds one finished batch (in dispatch order) to the guards; swaps the
    /// routing if a canary is rolled back or a circuit opens or closes.
    pub fn observe(&self, result: &JobResult) {
        let now = Instant::now();
        let mut entries = self.lock();
        // Results of a module replaced since dispatch count in the totals, not in the guards.
        let current: Vec<bool> = (result.versions.versions().iter().enumerate())
            .map(|(i, v)| entries.get(i).is_some_and(|e| Arc::ptr_eq(&e.module, &v.module)))
            .collect();
        for (i, (_, stats)) in result.per_version.iter().enumerate() {
            if let Some(e) = entries.get_mut(i) {
                e.events += stats.received;
                e.errors += stats.dead_lettered;
                e.restarts += stats.restarts;
            }
        }
        for outcome in &result.outcomes {
            let i = usize::from(outcome.version);
            if current.get(i) == Some(&true) {
                entries[i].window.push(outcome.failed);
            }
        }
        let mut changed = false;
        for (i, (_, stats)) in result.per_version.iter().enumerate() {
            let moved = match (current.get(i), entries.get_mut(i).and_then(|e| e.breaker.as_mut())) {
                (Some(true), Some(breaker)) => breaker.on_restarts(stats.restarts, now),
                _ => None,
            };
            if let Some(state) = moved {
                self.breaker_moved(&entries, i, state);
                changed = true;
            }
        }
        changed |= self.tick_breakers(&mut entries, now);
        changed |= self.canary(&mut entries);
        if changed {
            self.publish(&entries);
        }
    }

    /// Lets time-driven breaker moves (cooldown over, trial passed) happen
    /// even when no batch of the version comes back.
    pub fn tick(&self) {
        let mut entries = self.lock();
        if self.tick_breakers(&mut entries, Instant::now()) {
            self.publish(&entries);
        }
    }

    fn tick_breakers(&self, entries: &mut [Entry], now: Instant) -> bool {
        let mut changed = false;
        for i in 0..entries.len() {
            if let Some(state) = entries[i].breaker.as_mut().and_then(|b| b.tick(now)) {
                self.breaker_moved(entries, i, state);
                changed = true;
            }
        }
        changed
    }

    fn breaker_moved(&self, entries: &[Entry], i: usize, state: BreakerState) {
        let entry = &entries[i];
        let version = entry.name();
        self.breaker_gauge(version, state);
        let Some(spec) = entry.breaker.as_ref().map(Breaker::spec) else { return };
        match state {
            BreakerState::Open => {
                let others = entries
                    .iter()
                    .enumerate()
                    .any(|(j, e)| j != i && e.weight > 0 && e.circuit() != BreakerState::Open);
                let fate = if others {
                    "its traffic moves to the other versions"
                } else {
                    "its events are dead-lettered (kind circuit_open)"
                };
                tracing::error!(
                    component = %self.id, version, max_restarts = spec.max_restarts, window = ?spec.window, cooldown = ?spec.cooldown,
                    "circuit breaker open: {} instance restarts within {:?}; for {:?} {fate}",
                    spec.max_restarts, spec.window, spec.cooldown
                );
            }
            BreakerState::HalfOpen => {
                tracing::warn!(component = %self.id, version, "circuit breaker half-open: trying the version again")
            }
            BreakerState::Closed => tracing::info!(component = %self.id, version, "circuit breaker closed"),
        }
    }

    /// Sets every state series of `version` to 0 (it no longer exists).
    pub(super) fn breaker_gauge_off(&self, version: &str) {
        self.set_breaker_gauge(version, None);
    }

    /// 1 for `current`, 0 for the other states (only with a breaker configured).
    pub(super) fn breaker_gauge(&self, version: &str, current: BreakerState) {
        self.set_breaker_gauge(version, Some(current));
    }

    fn set_breaker_gauge(&self, version: &str, current: Option<BreakerState>) {
        if self.policy.breaker.is_none() {
            return;
        }
        for state in BreakerState::ALL {
            let labels =
                [("component", self.id.to_string()), ("version", version.to_string()), ("state", state.label().into())];
            metrics::gauge!(names::CIRCUIT_BREAKER_STATE, &labels).set(f64::from(u8::from(Some(state) == current)));
        }
    }

    /// The canary guard: a version whose error rate over its last
    /// `min_events` events passes `max_error_rate` gets weight 0, if another
    /// version can take its traffic.
    fn canary(&self, entries: &mut [Entry]) -> bool {
        let Some(spec) = &self.policy.rollback else { return false };
        let mut changed = false;
        for i in 0..entries.len() {
            let e = &entries[i];
            if e.rolled_back || e.weight == 0 || !e.window.is_full() || e.window.rate() <= spec.max_error_rate {
                continue;
            }
            let rate = e.window.rate();
            let others =
                entries.iter().enumerate().any(|(j, o)| j != i && o.weight > 0 && o.circuit() != BreakerState::Open);
            let e = &mut entries[i];
            let version = e.module.version();
            if !others {
                if !e.rollback_blocked {
                    tracing::warn!(component = %self.id, version, error_rate = rate, "canary guard: error rate above {} but no other version can take the traffic; not rolling back", spec.max_error_rate);
                    e.rollback_blocked = true;
                }
                continue;
            }
            e.weight = 0;
            e.rolled_back = true;
            tracing::error!(
                component = %self.id, version, error_rate = rate, max_error_rate = spec.max_error_rate, window = spec.min_events,
                "canary rolled back: {:.1}% of its last {} events failed (max {:.1}%); its traffic moves to the other versions",
                rate * 100.0, spec.min_events, spec.max_error_rate * 100.0
            );
            metrics::counter!(names::ROLLBACKS, "component" => self.id.to_string(), "version" => version.to_string())
                .increment(1);
            changed = true;
        }
        changed
    }
}
