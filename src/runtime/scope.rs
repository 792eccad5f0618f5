//! What a processor keeps across its versions and hot reloads: the budgets a
//! guest could otherwise reset by being reloaded (distinct metric names, log
//! lines per second, HTTP requests per minute, quotas). One [`ProcessorScope`] per processor name, owned
//! by the [`super::Runtime`] and shared by every module version loaded under that name.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use dashmap::DashMap;

use super::http::RateWindow;
use super::metrics::{GUEST_LOG_LINES_DROPPED, GUEST_METRICS_DROPPED, MAX_GUEST_METRICS};
use super::quota::QuotaMeter;
use super::ProcessorSpec;
use crate::progress::ProcessorState;

/// The tenant label of processors that name none.
pub const DEFAULT_TENANT: &str = "default";

/// Per-processor state shared by all its versions.
pub struct ProcessorScope {
    pub name: String,
    /// Distinct (sanitised) guest metric names created so far, at most [`MAX_GUEST_METRICS`].
    metric_names: Mutex<HashSet<String>>,
    /// Guest log lines (`log` and WASI stdout/stderr) allowed per second.
    log_lines: Mutex<TokenBucket>,
    /// `flowctl_dropped_guest_metric_updates_total` of this processor.
    pub guest_metrics_dropped: metrics::Counter,
    /// `flowctl_dropped_guest_log_lines_total` of this processor.
    pub guest_log_lines_dropped: metrics::Counter,
    /// CPU, HTTP and memory use against the processor's quotas.
    pub quota: QuotaMeter,
    /// `http.max_requests_per_minute` of all its versions together.
    pub http_rate: Arc<RateWindow>,
    /// Keyed state, when `permissions.state` is granted: one for every version.
    pub state: Option<Arc<ProcessorState>>,
}

/// Whether a guest metric name may be recorded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetricAdmission {
    /// Already known.
    Known,
    /// New, and under the cap: the first update of this name.
    First,
    /// New, and the cap is reached.
    Refused,
}

impl ProcessorScope {
    fn new(spec: &ProcessorSpec) -> Self {
        let name = spec.name.as_str();
        let tenant = spec.tenant.as_deref().unwrap_or(DEFAULT_TENANT);
        Self {
            name: name.to_owned(),
            metric_names: Mutex::new(HashSet::new()),
            log_lines: Mutex::new(TokenBucket::new(spec.limits.log_lines_per_second)),
            quota: QuotaMeter::new(name, tenant, spec.quotas.clone()),
            http_rate: Arc::new(RateWindow::new()),
            state: spec.permissions.state.then(|| ProcessorState::new(name, spec.limits.state.clone())),
            guest_metrics_dropped: metrics::counter!(GUEST_METRICS_DROPPED, "processor" => name.to_owned()),
            guest_log_lines_dropped: metrics::counter!(GUEST_LOG_LINES_DROPPED, "processor" => name.to_owned()),
        }
    }

    /// Admits `name` under the processor's cap of distinct metric names.
    pub fn admit_metric(&self, name: &str) -> MetricAdmission {
        let mut names = self.metric_names.lock().unwrap_or_else(|p| p.into_inner());
        if names.contains(name) {
            MetricAdmission::Known
        } else if names.len() < MAX_GUEST_METRICS {
            names.insert(name.to_owned());
            MetricAdmission::First
        } else {
            MetricAdmission::Refused
        }
    }

    /// Takes one log line from this second's budget; a refused line is counted as dropped.
    pub fn admit_log_line(&self) -> bool {
        let admitted = self.log_lines.lock().unwrap_or_else(|p| p.into_inner()).take(Instant::now());
        if !admitted {
            self.guest_log_lines_dropped.increment(1);
        }
        admitted
    }

    /// Applies a (re)loaded version's log rate and quotas.
    fn update(&self, spec: &ProcessorSpec) {
        self.log_lines.lock().unwrap_or_else(|p| p.into_inner()).set_rate(spec.limits.log_lines_per_second);
        self.quota.set_quotas(spec.quotas.clone());
    }
}

/// Scopes by processor name.
#[derive(Default)]
pub struct Scopes {
    by_name: DashMap<String, Arc<ProcessorScope>>,
}

impl Scopes {
    /// The scope of processor `spec.name`, created on first use; its log
    /// rate and quotas are the latest loaded version's.
    pub fn get(&self, spec: &ProcessorSpec) -> Arc<ProcessorScope> {
        if let Some(scope) = self.by_name.get(&spec.name) {
            scope.update(spec);
            return scope.clone();
        }
        self.by_name.entry(spec.name.clone()).or_insert_with(|| Arc::new(ProcessorScope::new(spec))).clone()
    }

    /// The keyed state of processor `name`, if it was loaded with `permissions.state`.
    pub fn state_of(&self, name: &str) -> Option<Arc<ProcessorState>> {
        self.by_name.get(name).and_then(|scope| scope.state.clone())
    }
}

/// A token bucket refilled continuously at `rate` tokens per second, holding
/// at most one second's worth: bursts up to `rate`, `rate` per second sustained.
#[derive(Debug)]
struct TokenBucket {
    rate: f64,
    tokens: f64,
    refilled: Instant,
}

impl TokenBucket {
    fn new(rate: u32) -> Self {
        Self { rate: f64::from(rate), tokens: f64::from(rate), refilled: Instant::now() }
    }

    fn set_rate(&mut self, rate: u32) {
        self.rate = f64::from(rate);
        self.tokens = self.tokens.min(self.rate);
    }

    fn take(&mut self, now: Instant) -> bool {
        let elapsed = now.saturating_duration_since(self.refilled).as_secs_f64();
        self.tokens = (self.tokens + elapsed * self.rate).min(self.rate);
        self.refilled = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn bucket_allows_a_burst_then_the_rate() {
        let start = Instant::now();
        let mut bucket = TokenBucket::new(10);
        let burst = (0..100).filter(|_| bucket.take(start)).count();
        assert_eq!(burst, 10);
        assert!(!bucket.take(start + Duration::from_millis(50)));
        assert!(bucket.take(start + Duration::from_millis(110)));
        let later = start + Duration::from_secs(60);
        assert_eq!((0..100).filter(|_| bucket.take(later)).count(), 10, "refill is capped at one second");
    }

    #[test]
    fn metric_names_are_capped_per_processor_across_versions() {
        let scopes = Scopes::default();
        let v1 = scopes.get(&ProcessorSpec::named("p"));
        for i in 0..MAX_GUEST_METRICS {
            assert_eq!(v1.admit_metric(&format!("m{i}")), MetricAdmission::First);
        }
        let v2 = scopes.get(&ProcessorSpec { version: Some("v2".into()), ..ProcessorSpec::named("p") });
        assert!(Arc::ptr_eq(&v1, &v2), "a reloaded version shares the scope");
        assert!(v1.http_rate.take(1).is_ok());
        assert!(v2.http_rate.take(1).is_err(), "and its HTTP budget");
        assert_eq!(v2.admit_metric("m0"), MetricAdmission::Known);
        assert_eq!(v2.admit_metric("new"), MetricAdmission::Refused);
        assert_eq!(scopes.get(&ProcessorSpec::named("other")).admit_metric("new"), MetricAdmission::First);
    }

    #[test]
    fn zero_log_rate_drops_every_line() {
        let scopes = Scopes::default();
        let mut quiet = ProcessorSpec::named("quiet");
        quiet.limits.log_lines_per_second = 0;
        let scope = scopes.get(&quiet);
        assert!(!scope.admit_log_line());
    }
}
