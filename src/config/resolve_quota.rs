//! A wasm processor's `tenant:` and `quotas:` (see `runtime::quota`).

use super::raw::RawQuotas;
use super::resolve::Resolver;
use crate::runtime::{QuotaAction, Quotas};

pub(crate) fn quotas(r: &mut Resolver, raw: &RawQuotas, key: &str) -> Quotas {
    let mut positive = |value: &Option<serde_saphyr::Spanned<f64>>, field: &str| {
        let value = value.as_ref()?;
        if value.value.is_finite() && value.value > 0.0 {
            Some(value.value)
        } else {
            r.problems.on(value, format!("{key}.{field}"), "must be a number above 0");
            None
        }
    };
    let cpu_seconds_per_hour = positive(&raw.cpu_seconds_per_hour, "cpu_seconds_per_hour");
    let memory_mb_hours = positive(&raw.memory_mb_hours, "memory_mb_hours");
    let http_requests_per_minute = raw.http_requests_per_minute.as_ref().and_then(|n| {
        if n.value == 0 {
            r.problems.on(n, format!("{key}.http_requests_per_minute"), "must be at least 1");
        }
        (n.value > 0).then_some(n.value)
    });
    let on_breach = match raw.on_breach.as_ref().map(|a| (a, a.value.as_str())) {
        None | Some((_, "dead_letter")) => QuotaAction::DeadLetter,
        Some((_, "pause")) => QuotaAction::Pause,
        Some((action, other)) => {
            let message = format!("{other:?} is not a quota action (use dead_letter or pause)");
            r.problems.on(action, format!("{key}.on_breach"), message);
            QuotaAction::DeadLetter
        }
    };
    Quotas { cpu_seconds_per_hour, http_requests_per_minute, memory_mb_hours, on_breach }
}
