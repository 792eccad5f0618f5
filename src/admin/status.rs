//! A processor's state as `GET /admin/status` and `flowctl status` show it.

use std::sync::PoisonError;

use super::control::ProcessorControl;
use super::guard::BreakerState;
use super::report::{BreakerPolicy, ProcessorStatus, RollbackPolicy, VersionStatus};

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
        }
    }
}
