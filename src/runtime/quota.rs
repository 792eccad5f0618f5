//! Per-processor quotas (the original design's multi-tenant section): CPU
//! seconds per hour, HTTP requests per minute and memory MB-hours per hour,
//! each over a fixed window. A processor over any quota is *breached* until
//! that window ends: its batches are then held before dispatch (`pause`, so
//! backpressure reaches its sources) or its events dead-lettered as
//! `quota_exceeded` (`dead_letter`), as `on_breach` says. Breaches and
//! recoveries are audit lines.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::error::ProcessError;
use super::metrics::{AUDIT_TARGET, QUOTA_BREACHES, QUOTA_LIMIT, QUOTA_USED};

/// What happens to a processor's events while it is over a quota.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum QuotaAction {
    /// Dead-letter them as `quota_exceeded` without running them.
    #[default]
    DeadLetter,
    /// Hold them until the window ends.
    Pause,
}

impl QuotaAction {
    pub fn label(self) -> &'static str {
        match self {
            Self::DeadLetter => "dead_letter",
            Self::Pause => "pause",
        }
    }
}

/// A processor's quotas; `None` = unlimited.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Quotas {
    pub cpu_seconds_per_hour: Option<f64>,
    pub http_requests_per_minute: Option<u32>,
    pub memory_mb_hours: Option<f64>,
    pub on_breach: QuotaAction,
}

impl Quotas {
    pub fn is_empty(&self) -> bool {
        self.cpu_seconds_per_hour.is_none() && self.http_requests_per_minute.is_none() && self.memory_mb_hours.is_none()
    }

    fn limit(&self, kind: QuotaKind) -> Option<f64> {
        match kind {
            QuotaKind::Cpu => self.cpu_seconds_per_hour,
            QuotaKind::Http => self.http_requests_per_minute.map(f64::from),
            QuotaKind::Memory => self.memory_mb_hours,
        }
    }
}

/// One metered resource.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QuotaKind {
    Cpu,
    Http,
    Memory,
}

impl QuotaKind {
    pub const ALL: [QuotaKind; 3] = [QuotaKind::Cpu, QuotaKind::Http, QuotaKind::Memory];

    /// The config key, also the `quota` label and the audit target.
    pub fn label(self) -> &'static str {
        match self {
            Self::Cpu => "cpu_seconds_per_hour",
            Self::Http => "http_requests_per_minute",
            Self::Memory => "memory_mb_hours",
        }
    }

    fn window(self) -> Duration {
        match self {
            Self::Http => Duration::from_secs(60),
            Self::Cpu | Self::Memory => Duration::from_secs(3600),
        }
    }
}

/// Usage of one resource in its current window.
#[derive(Debug, Clone, Copy)]
struct Window {
    start: Instant,
    used: f64,
    /// Whether this window's breach was announced (audited and counted once).
    breached: bool,
}

impl Window {
    /// Time left before the window of `kind` that started at `start` ends.
    fn resets_in(&self, kind: QuotaKind, now: Instant) -> Duration {
        (self.start + kind.window()).saturating_duration_since(now)
    }
}

/// Where a quota stands, for `flowctl status`.
#[derive(Debug, Clone, PartialEq)]
pub struct QuotaReading {
    pub quota: &'static str,
    pub used: f64,
    pub limit: f64,
    /// Time left in the window.
    pub resets_in: Duration,
}

/// The meter of one processor, shared by all its versions.
pub struct QuotaMeter {
    processor: String,
    tenant: String,
    quotas: Mutex<Quotas>,
    /// Whether any quota is set: read on every guest call, so not behind the lock.
    active: AtomicBool,
    windows: Mutex<[Window; 3]>,
    used: [metrics::Gauge; 3],
    limits: [metrics::Gauge; 3],
    breaches: [metrics::Counter; 3],
}

impl QuotaMeter {
    pub fn new(processor: &str, tenant: &str, quotas: Quotas) -> Self {
        let labels = |kind: QuotaKind| {
            [("processor", processor.to_owned()), ("tenant", tenant.to_owned()), ("quota", kind.label().to_owned())]
        };
        let meter = Self {
            processor: processor.to_owned(),
            tenant: tenant.to_owned(),
            quotas: Mutex::new(Quotas::default()),
            active: AtomicBool::new(false),
            windows: Mutex::new([Window { start: Instant::now(), used: 0.0, breached: false }; 3]),
            used: QuotaKind::ALL.map(|k| metrics::gauge!(QUOTA_USED, &labels(k))),
            limits: QuotaKind::ALL.map(|k| metrics::gauge!(QUOTA_LIMIT, &labels(k))),
            breaches: QuotaKind::ALL.map(|k| metrics::counter!(QUOTA_BREACHES, &labels(k))),
        };
        meter.set_quotas(quotas);
        meter
    }

    pub fn tenant(&self) -> &str {
        &self.tenant
    }

    /// Applies a (re)loaded pipeline's quotas; usage so far is kept.
    pub fn set_quotas(&self, quotas: Quotas) {
        for kind in QuotaKind::ALL {
            self.limits[kind as usize].set(quotas.limit(kind).unwrap_or(0.0));
        }
        self.active.store(!quotas.is_empty(), Ordering::Relaxed);
        *self.quotas.lock().unwrap_or_else(|p| p.into_inner()) = quotas;
    }

    /// Whether any quota is set (metering costs nothing otherwise).
    pub fn is_active(&self) -> bool {
        self.active.load(Ordering::Relaxed)
    }

    /// Adds `amount` (seconds, requests or MB-hours) to a resource's window.
    pub fn record(&self, kind: QuotaKind, amount: f64) {
        let quotas = self.quotas.lock().unwrap_or_else(|p| p.into_inner()).clone();
        let Some(limit) = quotas.limit(kind) else {
            return;
        };
        let now = Instant::now();
        let mut windows = self.windows.lock().unwrap_or_else(|p| p.into_inner());
        let window = &mut windows[kind as usize];
        self.roll(kind, window, now);
        window.used += amount;
        self.used[kind as usize].set(window.used);
        if window.used > limit && !window.breached {
            window.breached = true;
            self.breaches[kind as usize].increment(1);
            let resets_in = window.resets_in(kind, now);
            let action = quotas.on_breach.label();
            self.audit(kind, false, &format!("used {:.3} of {limit}; {action} for {resets_in:?}", window.used));
        }
    }

    /// Whether an HTTP request fits the quota. Every attempt counts, so a
    /// request over the quota is refused and breaches it.
    pub fn take_http_request(&self) -> bool {
        let Some(limit) = self.quotas.lock().unwrap_or_else(|p| p.into_inner()).http_requests_per_minute else {
            return true;
        };
        self.record(QuotaKind::Http, 1.0);
        let windows = self.windows.lock().unwrap_or_else(|p| p.into_inner());
        windows[QuotaKind::Http as usize].used <= f64::from(limit)
    }

    /// The quota the processor is over now and how long until its window ends.
    pub fn breach(&self) -> Option<(QuotaKind, Duration)> {
        let quotas = self.quotas.lock().unwrap_or_else(|p| p.into_inner()).clone();
        let now = Instant::now();
        let mut windows = self.windows.lock().unwrap_or_else(|p| p.into_inner());
        QuotaKind::ALL.into_iter().find_map(|kind| {
            let limit = quotas.limit(kind)?;
            let window = &mut windows[kind as usize];
            self.roll(kind, window, now);
            (window.used > limit).then(|| (kind, window.resets_in(kind, now)))
        })
    }

    /// The error events get while the processor is over a quota with
    /// `on_breach: dead_letter`; `None` when they may run (or must wait: see
    /// [`QuotaMeter::pause_for`]).
    pub fn refusal(&self) -> Option<ProcessError> {
        if !self.is_active() || self.action() != QuotaAction::DeadLetter {
            return None;
        }
        let (kind, _) = self.breach()?;
        Some(ProcessError::QuotaExceeded { quota: kind.label().to_owned(), tenant: self.tenant.clone() })
    }

    /// How long to hold the next batch while the processor is over a quota
    /// with `on_breach: pause`: until the window ends, re-checked at least
    /// every 250 ms so a raised quota (a reload) takes effect soon.
    pub fn pause_for(&self) -> Option<Duration> {
        if !self.is_active() || self.action() != QuotaAction::Pause {
            return None;
        }
        let (_, resets_in) = self.breach()?;
        Some(resets_in.clamp(Duration::from_millis(1), Duration::from_millis(250)))
    }

    /// Current usage of every quota that is set.
    pub fn readings(&self) -> Vec<QuotaReading> {
        let quotas = self.quotas.lock().unwrap_or_else(|p| p.into_inner()).clone();
        let now = Instant::now();
        let mut windows = self.windows.lock().unwrap_or_else(|p| p.into_inner());
        QuotaKind::ALL
            .into_iter()
            .filter_map(|kind| {
                let limit = quotas.limit(kind)?;
                let window = &mut windows[kind as usize];
                self.roll(kind, window, now);
                Some(QuotaReading {
                    quota: kind.label(),
                    used: window.used,
                    limit,
                    resets_in: window.resets_in(kind, now),
                })
            })
            .collect()
    }

    /// Never called with `windows` locked (locks are taken quotas first).
    pub fn action(&self) -> QuotaAction {
        self.quotas.lock().unwrap_or_else(|p| p.into_inner()).on_breach
    }

    /// Starts a new window once the current one is over, announcing the end of a breach.
    fn roll(&self, kind: QuotaKind, window: &mut Window, now: Instant) {
        if now.saturating_duration_since(window.start) < kind.window() {
            return;
        }
        if window.breached {
            self.audit(kind, true, "quota window reset");
        }
        *window = Window { start: now, used: 0.0, breached: false };
        self.used[kind as usize].set(0.0);
    }

    fn audit(&self, kind: QuotaKind, allowed: bool, reason: &str) {
        tracing::warn!(
            target: AUDIT_TARGET,
            tenant = %self.tenant,
            processor = %self.processor,
            action = "quota",
            target = kind.label(),
            allowed,
            reason,
            "quota {}",
            if allowed { "available again" } else { "exceeded" }
        );
    }
}

/// CPU time the calling thread has used; what `cpu_seconds_per_hour` counts
/// (so a guest blocked in a host call is not charged for waiting).
pub fn thread_cpu_time() -> Duration {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: `ts` is a valid, writable timespec; the call only writes into it.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    if rc != 0 {
        return Duration::ZERO;
    }
    Duration::new(u64::try_from(ts.tv_sec).unwrap_or(0), u32::try_from(ts.tv_nsec).unwrap_or(0))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meter(quotas: Quotas) -> QuotaMeter {
        QuotaMeter::new("p", "acme", quotas)
    }

    #[test]
    fn usage_past_a_quota_breaches_it() {
        let m = meter(Quotas { cpu_seconds_per_hour: Some(1.0), ..Quotas::default() });
        m.record(QuotaKind::Cpu, 0.6);
        assert_eq!(m.breach(), None);
        assert_eq!(m.refusal(), None);
        m.record(QuotaKind::Cpu, 0.6);
        let (kind, resets_in) = m.breach().unwrap();
        assert_eq!(kind, QuotaKind::Cpu);
        assert!(resets_in > Duration::from_secs(3500));
        let err = m.refusal().unwrap();
        assert_eq!(m.pause_for(), None, "dead_letter does not pause");
        assert_eq!(err, ProcessError::QuotaExceeded { quota: "cpu_seconds_per_hour".into(), tenant: "acme".into() });
        assert_eq!(err.kind(), "quota_exceeded");
        assert!(!err.poisons_instance());
        let reading = &m.readings()[0];
        assert_eq!((reading.quota, reading.used, reading.limit), ("cpu_seconds_per_hour", 1.2, 1.0));
    }

    #[test]
    fn http_requests_over_the_quota_are_refused() {
        let m = meter(Quotas { http_requests_per_minute: Some(2), ..Quotas::default() });
        assert!(m.take_http_request());
        assert!(m.take_http_request());
        assert_eq!(m.breach(), None, "exactly at the quota");
        assert!(!m.take_http_request());
        assert_eq!(m.breach().map(|b| b.0), Some(QuotaKind::Http));
    }

    #[test]
    fn thread_cpu_time_advances_with_work() {
        let before = thread_cpu_time();
        let mut x = 0u64;
        for i in 0..5_000_000u64 {
            x = x.wrapping_mul(31).wrapping_add(i);
        }
        std::hint::black_box(x);
        assert!(thread_cpu_time() > before);
    }

    #[test]
    fn unset_quotas_meter_nothing() {
        let m = meter(Quotas::default());
        assert!(!m.is_active());
        m.record(QuotaKind::Memory, 1e9);
        assert!(m.take_http_request());
        assert_eq!(m.breach(), None);
        assert!(m.readings().is_empty());
    }

    #[test]
    fn a_raised_quota_ends_the_breach() {
        let m = meter(Quotas { memory_mb_hours: Some(1.0), on_breach: QuotaAction::Pause, ..Quotas::default() });
        m.record(QuotaKind::Memory, 2.0);
        assert!(m.breach().is_some());
        assert_eq!(m.pause_for(), Some(Duration::from_millis(250)));
        assert_eq!(m.refusal(), None, "pause does not refuse");
        m.set_quotas(Quotas { memory_mb_hours: Some(10.0), on_breach: QuotaAction::Pause, ..Quotas::default() });
        assert_eq!(m.breach(), None);
        assert_eq!(m.pause_for(), None);
    }
}
