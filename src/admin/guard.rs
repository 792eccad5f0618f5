//! The automatic guards of one version: the canary's error window (its last
//! `min_events` outcomes) and the restart circuit breaker (N instance
//! restarts within T take it out of service for a cooldown). Pure state
//! machines fed by the collector; [`super::control`] acts on their verdicts.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use crate::config::BreakerSpec;

/// The outcomes of a version's most recent events, failed or not.
#[derive(Debug, Clone)]
pub struct ErrorWindow {
    size: usize,
    outcomes: VecDeque<bool>,
    errors: usize,
}

impl ErrorWindow {
    /// A window over the last `size` events (at least 1).
    pub fn new(size: usize) -> Self {
        Self { size: size.max(1), outcomes: VecDeque::new(), errors: 0 }
    }

    pub fn push(&mut self, failed: bool) {
        if self.outcomes.len() == self.size && self.outcomes.pop_front() == Some(true) {
            self.errors -= 1;
        }
        self.outcomes.push_back(failed);
        self.errors += usize::from(failed);
    }

    /// Events in the window (up to its size).
    pub fn len(&self) -> usize {
        self.outcomes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.outcomes.is_empty()
    }

    /// Whether the window saw `size` events, so a decision may be taken.
    pub fn is_full(&self) -> bool {
        self.outcomes.len() == self.size
    }

    /// Failed fraction of the events in the window (0 when empty).
    pub fn rate(&self) -> f64 {
        if self.outcomes.is_empty() {
            0.0
        } else {
            self.errors as f64 / self.outcomes.len() as f64
        }
    }

    pub fn clear(&mut self) {
        self.outcomes.clear();
        self.errors = 0;
    }
}

/// Where a version's circuit breaker stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BreakerState {
    /// Events run normally.
    Closed,
    /// Too many restarts: no events run on the version until the cooldown ends.
    Open,
    /// Cooldown over, on trial: one more restart opens it again; a quiet
    /// `window` closes it.
    HalfOpen,
}

impl BreakerState {
    pub const ALL: [BreakerState; 3] = [BreakerState::Closed, BreakerState::Open, BreakerState::HalfOpen];

    /// The metric label and the word `flowctl status` shows.
    pub fn label(self) -> &'static str {
        match self {
            BreakerState::Closed => "closed",
            BreakerState::Open => "open",
            BreakerState::HalfOpen => "half_open",
        }
    }
}

/// Restart-intensity circuit breaker of one version.
#[derive(Debug, Clone)]
pub struct Breaker {
    spec: BreakerSpec,
    /// When recent restarts happened, oldest first, at most `max_restarts`.
    restarts: VecDeque<Instant>,
    state: BreakerState,
    /// When `state` was entered.
    since: Instant,
}

impl Breaker {
    pub fn new(spec: BreakerSpec, now: Instant) -> Self {
        Self { spec, restarts: VecDeque::new(), state: BreakerState::Closed, since: now }
    }

    pub fn state(&self) -> BreakerState {
        self.state
    }

    pub fn spec(&self) -> &BreakerSpec {
        &self.spec
    }

    /// How long the breaker stays open from now on (zero unless open).
    pub fn open_for(&self, now: Instant) -> Duration {
        match self.state {
            BreakerState::Open => (self.since + self.spec.cooldown).saturating_duration_since(now),
            _ => Duration::ZERO,
        }
    }

    /// Counts `n` instance restarts seen at `now`. Returns the new state if it changed.
    pub fn on_restarts(&mut self, n: u64, now: Instant) -> Option<BreakerState> {
        if n == 0 {
            return None;
        }
        match self.state {
            // Batches dispatched before the trip still finish; their restarts change nothing.
            BreakerState::Open => None,
            BreakerState::HalfOpen => self.enter(BreakerState::Open, now),
            BreakerState::Closed => {
                let cap = self.spec.max_restarts.max(1) as usize;
                for _ in 0..n.min(cap as u64) {
                    if self.restarts.len() == cap {
                        self.restarts.pop_front();
                    }
                    self.restarts.push_back(now);
                }
                while self.restarts.front().is_some_and(|t| now.saturating_duration_since(*t) > self.spec.window) {
                    self.restarts.pop_front();
                }
                if self.restarts.len() >= cap {
                    self.enter(BreakerState::Open, now)
                } else {
                    None
                }
            }
        }
    }

    /// Time-driven moves: open -> half-open after the cooldown, half-open ->
    /// closed after a `window` without restarts. Returns the new state if it changed.
    pub fn tick(&mut self, now: Instant) -> Option<BreakerState> {
        let elapsed = now.saturating_duration_since(self.since);
        match self.state {
            BreakerState::Open if elapsed >= self.spec.cooldown => self.enter(BreakerState::HalfOpen, now),
            BreakerState::HalfOpen if elapsed >= self.spec.window => self.enter(BreakerState::Closed, now),
            _ => None,
        }
    }

    /// Back to closed with no history (a reloaded module starts fresh).
    pub fn reset(&mut self, now: Instant) -> Option<BreakerState> {
        self.enter(BreakerState::Closed, now)
    }

    fn enter(&mut self, state: BreakerState, now: Instant) -> Option<BreakerState> {
        self.restarts.clear();
        self.since = now;
        let changed = self.state != state;
        self.state = state;
        changed.then_some(state)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn window_counts_only_the_last_events() {
        let mut w = ErrorWindow::new(4);
        for failed in [true, true, false, false] {
            w.push(failed);
        }
        assert!(w.is_full());
        assert_eq!(w.rate(), 0.5);
        w.push(false);
        w.push(false);
        assert_eq!((w.len(), w.rate()), (4, 0.0), "the two failures slid out");
        w.clear();
        assert!(w.is_empty() && !w.is_full());
    }

    fn spec() -> BreakerSpec {
        BreakerSpec { max_restarts: 3, window: Duration::from_secs(10), cooldown: Duration::from_secs(30) }
    }

    #[test]
    fn opens_after_n_restarts_within_the_window_only() {
        let t0 = Instant::now();
        let mut b = Breaker::new(spec(), t0);
        assert_eq!(b.on_restarts(2, t0), None);
        // The first two are out of the window by now.
        assert_eq!(b.on_restarts(1, t0 + Duration::from_secs(11)), None);
        assert_eq!(b.on_restarts(1, t0 + Duration::from_secs(12)), None);
        assert_eq!(b.on_restarts(1, t0 + Duration::from_secs(13)), Some(BreakerState::Open));
        assert_eq!(b.open_for(t0 + Duration::from_secs(23)), Duration::from_secs(20));
    }

    #[test]
    fn half_opens_after_the_cooldown_then_closes_or_reopens() {
        let t0 = Instant::now();
        let mut b = Breaker::new(spec(), t0);
        assert_eq!(b.on_restarts(5, t0), Some(BreakerState::Open));
        assert_eq!(b.on_restarts(5, t0), None, "already open");
        assert_eq!(b.tick(t0 + Duration::from_secs(29)), None);
        let t1 = t0 + Duration::from_secs(30);
        assert_eq!(b.tick(t1), Some(BreakerState::HalfOpen));
        assert_eq!(b.on_restarts(1, t1), Some(BreakerState::Open), "one restart on trial reopens it");
        let t2 = t1 + Duration::from_secs(30);
        assert_eq!(b.tick(t2), Some(BreakerState::HalfOpen));
        assert_eq!(b.tick(t2 + Duration::from_secs(10)), Some(BreakerState::Closed));
        assert_eq!(b.on_restarts(2, t2 + Duration::from_secs(10)), None, "history was cleared");
    }
}
