//! Holds a generator to a rate. Event `k` is due `k / rate` seconds after the
//! start; the pacer says how many are due now or how long to sleep until the
//! next batch is. Time is passed in, so the schedule is tested without clocks.

use std::time::{Duration, Instant};

/// Fewest seconds of events released together. At 1M events/s that is 500
/// events per wake-up instead of a sleep per event; at low rates it is 1.
const QUANTUM_SECS: f64 = 0.000_5;

/// Most seconds of backlog released at once after downstream stalled the
/// generator; older debt is forgiven so a stall is not followed by a flood.
const MAX_LAG_SECS: f64 = 1.0;

/// What the generator may do now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Permit {
    /// Emit this many events now (already counted as emitted).
    Emit(usize),
    /// Nothing is due yet: sleep this long, then ask again.
    Wait(Duration),
}

#[derive(Debug, Clone)]
pub struct Pacer {
    rate: f64,
    start: Instant,
    /// Position in the schedule: events emitted plus any forgiven backlog.
    emitted: u64,
    quantum: u64,
    max_lag: u64,
}

impl Pacer {
    /// `rate` in events per second; must be finite and positive.
    pub fn new(rate: f64, now: Instant) -> Self {
        let quantum = (rate * QUANTUM_SECS).floor().max(1.0) as u64;
        let max_lag = ((rate * MAX_LAG_SECS).floor() as u64).max(quantum);
        Self { rate, start: now, emitted: 0, quantum, max_lag }
    }

    /// How many of `want` events may go out at `now`, counting them as
    /// emitted, or how long to wait until a batch is due.
    pub fn permit(&mut self, now: Instant, want: usize) -> Permit {
        if want == 0 {
            return Permit::Emit(0);
        }
        let elapsed = now.saturating_duration_since(self.start).as_secs_f64();
        let due = (elapsed * self.rate).floor() as u64 + 1;
        if due.saturating_sub(self.emitted) > self.max_lag {
            self.emitted = due - self.max_lag;
        }
        let available = due.saturating_sub(self.emitted);
        let batch = self.quantum.min(want as u64);
        if available >= batch {
            return self.emit(available.min(want as u64));
        }
        let last_of_batch = self.emitted + batch - 1;
        let target = self.start + Duration::from_secs_f64(last_of_batch as f64 / self.rate);
        let wait = target.saturating_duration_since(now);
        if wait.is_zero() {
            // Float rounding put the due time a hair in the past: release what is due.
            return self.emit(available.max(1).min(want as u64));
        }
        Permit::Wait(wait)
    }

    fn emit(&mut self, n: u64) -> Permit {
        self.emitted += n;
        Permit::Emit(n as usize)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn low_rate_releases_one_event_per_interval() {
        let t0 = Instant::now();
        let mut p = Pacer::new(10.0, t0);
        assert_eq!(p.permit(t0, 100), Permit::Emit(1));
        match p.permit(t0, 100) {
            Permit::Wait(d) => assert!(d > ms(99) && d <= ms(100), "{d:?}"),
            other => panic!("expected a wait, got {other:?}"),
        }
        assert_eq!(p.permit(t0 + ms(100), 100), Permit::Emit(1));
        assert_eq!(p.permit(t0 + ms(350), 100), Permit::Emit(2));
    }

    #[test]
    fn long_run_emits_rate_times_elapsed() {
        let t0 = Instant::now();
        let mut p = Pacer::new(1000.0, t0);
        let mut now = t0;
        let mut total = 0u64;
        let mut sleeps = 0u64;
        while now < t0 + Duration::from_secs(10) {
            match p.permit(now, 64) {
                Permit::Emit(n) => total += n as u64,
                Permit::Wait(d) => {
                    sleeps += 1;
                    now += d;
                }
            }
        }
        assert!((9_999..=10_002).contains(&total), "{total}");
        assert!(sleeps >= 9_000, "paced by sleeping, not by spinning: {sleeps}");
    }

    #[test]
    fn high_rate_releases_batches_not_single_events() {
        let t0 = Instant::now();
        let mut p = Pacer::new(1_000_000.0, t0);
        match p.permit(t0, 10_000) {
            Permit::Wait(d) => assert!(d > Duration::from_micros(498) && d < Duration::from_micros(500), "{d:?}"),
            other => panic!("{other:?}"),
        }
        match p.permit(t0 + ms(1), 10_000) {
            Permit::Emit(n) => assert!((1000..=1001).contains(&n), "{n}"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn stall_does_not_cause_a_flood() {
        let t0 = Instant::now();
        let mut p = Pacer::new(1000.0, t0);
        // Downstream held the generator for 60 s: only 1 s of backlog comes out.
        assert_eq!(p.permit(t0 + Duration::from_secs(60), 1_000_000), Permit::Emit(1000));
        assert!(matches!(p.permit(t0 + Duration::from_secs(60), 1_000_000), Permit::Wait(_)));
    }

    #[test]
    fn never_more_than_asked() {
        let t0 = Instant::now();
        let mut p = Pacer::new(1000.0, t0);
        assert_eq!(p.permit(t0 + ms(50), 7), Permit::Emit(7));
        assert_eq!(p.permit(t0 + ms(50), 0), Permit::Emit(0));
    }
}
