//! An instance that replaces itself: the unit a worker thread owns.

use std::sync::Arc;
use std::time::Duration;

use super::error::ProcessError;
use super::instance::Instance;
use super::metrics::AUDIT_TARGET;
use super::module::LoadedModule;
use super::quota::{thread_cpu_time, QuotaKind};
use super::usage::{RestartReason, Usage};
use super::EventResult;
use crate::event::Event;

/// Calls after which an instance is replaced, so a Store's memory (which only
/// ever grows) stays bounded even for a guest that never fails.
pub const RECYCLE_AFTER_CALLS: u64 = 10_000;

/// A lazily created instance of one module that survives guest failures.
pub struct InstanceSlot {
    module: Arc<LoadedModule>,
    instance: Option<Instance>,
    /// Restarts by reason, fuel and bytes of every instance this slot ran.
    usage: Usage,
    /// Calls on the current instance.
    calls: u64,
}

impl InstanceSlot {
    pub fn new(module: Arc<LoadedModule>) -> InstanceSlot {
        Self { module, instance: None, usage: Usage::default(), calls: 0 }
    }

    pub fn module(&self) -> &Arc<LoadedModule> {
        &self.module
    }

    /// Instances thrown away after a fatal error so far.
    pub fn restarts(&self) -> u64 {
        self.usage.restarts_total()
    }

    /// Cumulative restarts by reason, fuel and bytes; callers take deltas
    /// around a batch (see [`Usage::since`]).
    pub fn usage(&self) -> Usage {
        self.usage
    }

    /// Whether an instance is instantiated now (slots create them lazily and
    /// drop them after a fatal error).
    pub fn is_live(&self) -> bool {
        self.instance.is_some()
    }

    /// Linear memory of the current instance (0 when none is live).
    pub fn memory_bytes(&self) -> u64 {
        self.instance.as_ref().map_or(0, Instance::memory_bytes)
    }

    /// One result per event, in order. On a fatal error the instance is
    /// discarded and the batch re-run one event at a time, each on a healthy
    /// instance, so every good event is processed and each bad one carries
    /// its own error.
    ///
    /// A processor over a quota has its events refused (`quota_exceeded`)
    /// or waits here for the quota's window to end, as its quotas say.
    pub fn process(&mut self, events: &[Event]) -> Vec<EventResult> {
        if events.is_empty() {
            return Vec::new();
        }
        let quota = &self.module.shared.scope.quota;
        let metered = quota.is_active();
        if metered {
            if let Err(err) = quota.admit() {
                return events.iter().map(|_| Err(err.clone())).collect();
            }
        }
        let cpu_before = if metered { thread_cpu_time() } else { Duration::ZERO };
        let results = self.isolating(events);
        if metered {
            let used = thread_cpu_time().saturating_sub(cpu_before);
            self.module.shared.scope.quota.record(QuotaKind::Cpu, used.as_secs_f64());
        }
        for err in results.iter().filter_map(|r| r.as_ref().err()) {
            if let Some(limit) = err.breached_limit() {
                audit_limit(&self.module, limit, err);
            }
        }
        results
    }

    /// The batch in one call; after a fatal error, event by event.
    fn isolating(&mut self, events: &[Event]) -> Vec<EventResult> {
        let err = match self.call(events) {
            Ok(results) => return results,
            Err(err) => err,
        };
        if events.len() == 1 {
            return vec![Err(err)];
        }
        events
            .iter()
            .map(|event| match self.call(std::slice::from_ref(event)) {
                Ok(mut results) => results.pop().unwrap_or_else(|| Ok(Vec::new())),
                Err(err) => Err(err),
            })
            .collect()
    }

    /// One call on the current (or a new) instance; drops it on a fatal error.
    fn call(&mut self, events: &[Event]) -> Result<Vec<EventResult>, ProcessError> {
        if self.calls >= RECYCLE_AFTER_CALLS {
            self.instance = None;
        }
        let instance = match &mut self.instance {
            Some(instance) => instance,
            None => {
                let fresh = self.module.instantiate().inspect_err(|err| self.count_restart(err))?;
                self.calls = 0;
                self.instance.insert(fresh)
            }
        };
        self.calls += 1;
        let result = instance.process_batch(events);
        self.usage.add(&instance.take_usage());
        if let Err(err) = &result {
            if err.poisons_instance() {
                self.instance = None;
                self.count_restart(err);
            }
        }
        result
    }

    /// Counted here, exported per batch by the engine (labelled with the
    /// pipeline and version, which the runtime does not know).
    fn count_restart(&mut self, err: &ProcessError) {
        self.usage.count_restart(RestartReason::of(err));
        tracing::debug!(processor = %self.module.spec().name, kind = err.kind(), "discarding instance: {err}");
    }
}

/// One audit line per breached limit: what the guest tried and was stopped at.
fn audit_limit(module: &LoadedModule, limit: &'static str, err: &ProcessError) {
    let scope = &module.shared.scope;
    tracing::warn!(
        target: AUDIT_TARGET,
        tenant = scope.quota.tenant(),
        processor = %scope.name,
        version = module.version(),
        action = "limit",
        target = limit,
        allowed = false,
        reason = %err,
        "limit breached"
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::Runtime;

    /// Worker threads own slots and share loaded modules and the runtime.
    #[test]
    fn runtime_types_cross_threads() {
        fn send_sync<T: Send + Sync>() {}
        fn send<T: Send>() {}
        send_sync::<Runtime>();
        send_sync::<LoadedModule>();
        send::<Instance>();
        send::<InstanceSlot>();
    }
}
