//! A processor's state as `GET /admin/status` and `flowctl status` show it.

use std::sync::PoisonError;

use super::control::ProcessorControl;
use super::guard::BreakerState;
use super::report::{BreakerPolicy, ProcessorStatus, QuotaStatus, RollbackPolicy, VersionStatus};
use crate::runtime::quota::QuotaMeter;

impl ProcessorControl {
    pub fn status(&self) -> ProcessorStatus {
        // A cooldown may have ended while no batch came back.
        self.tick();
        let routing = self.shared().load_full();
        let total: u64 = routing.versions().iter().map(|v| u64::from(v.weight)).sum();
        let entries = self.lock();
        let versions = entries
            .iter()
            .zip(routing.versions())
            .enumerate()
            .map(|(i, (e, routed))| {
                let share = match total {
                    // Nothing routable by weight: the fallback version takes everything.
                    0 => f64::from(u8::from(routing.versions().iter().position(|v| !v.circuit_open).unwrap_or(0) == i)),
                    _ => f64::from(routed.weight) / total as f64,
                };
                let state = if e.rolled_back {
                    "rolled_back"
                } else if e.weight == 0 {
                    "idle"
                } else {
                    "active"
                };
                VersionStatus {
                    name: e.name().to_string(),
                    sha256: e.module.sha256().chars().take(12).collect(),
                    file: e.file.display().to_string(),
                    weight: e.weight,
                    traffic_percent: if e.circuit() == BreakerState::Open && total > 0 { 0.0 } else { share * 100.0 },
                    state: state.to_string(),
                    circuit: e.circuit().label().to_string(),
                    events: e.events,
                    errors: e.errors,
                    error_rate: e.window.rate(),
                    window_events: e.window.len() as u64,
                    restarts: e.restarts,
                }
            })
            .collect();
        // The runtime counts each module's live instances in every worker.
        let instances = entries.iter().map(|e| e.module.instances_alive()).sum::<u64>() as i64;
        let (tenant, quotas) = entries.first().map(|e| quota_status(e.module.quota())).unwrap_or_default();
        drop(entries);
        ProcessorStatus {
            id: self.id().to_string(),
            route_by: self.policy.route_by.clone(),
            pool_size: self.policy.pool_size,
            instances,
            rollback: self
                .policy
                .rollback
                .as_ref()
                .map(|r| RollbackPolicy { max_error_rate: r.max_error_rate, min_events: r.min_events }),
            circuit_breaker: self.policy.breaker.as_ref().map(|b| BreakerPolicy {
                max_restarts: b.max_restarts,
                window_ms: b.window.as_millis() as u64,
                cooldown_ms: b.cooldown.as_millis() as u64,
            }),
            reloads: self.reloads.lock().unwrap_or_else(PoisonError::into_inner).clone(),
            versions,
            tenant,
            quotas,
        }
    }
}

/// The processor's tenant and quotas (the meter is shared by all its versions).
fn quota_status(meter: &QuotaMeter) -> (String, Vec<QuotaStatus>) {
    let on_breach = meter.action().label();
    let quotas = meter
        .readings()
        .into_iter()
        .map(|r| QuotaStatus {
            quota: r.quota.to_owned(),
            used: r.used,
            limit: r.limit,
            exceeded: r.used > r.limit,
            on_breach: on_breach.to_owned(),
            resets_in_ms: r.resets_in.as_millis() as u64,
        })
        .collect();
    (meter.tenant().to_owned(), quotas)
}
