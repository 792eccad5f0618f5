//! An instance that replaces itself: the unit a worker thread owns.

use std::sync::Arc;

use super::error::ProcessError;
use super::instance::Instance;
use super::metrics::AUDIT_TARGET;
use super::module::LoadedModule;
use super::quota::{thread_cpu_time, QuotaKind};
use super::ready::ReadyInstances;
use super::retry::{CallResult, RetryPolicy};
use super::usage::{RestartReason, Usage};
use super::EventResult;
use crate::event::Event;

/// Calls after which an instance whose linear memory grew since its first
/// call is replaced, so a Store's memory (which only ever grows) gives back
/// what a spike or a leak took even for a guest that never fails. One whose
/// memory did not grow has nothing to give back and is kept: replacing it
/// would only cost a new instance and its first page faults.
pub const RECYCLE_AFTER_CALLS: u64 = 10_000;

/// A lazily created (or prepared, see [`ReadyInstances`]) instance of one module that survives guest failures.
pub struct InstanceSlot {
    module: Arc<LoadedModule>,
    instance: Option<Instance>,
    /// Instances prepared ahead (after a hot reload), taken before making one here.
    ready: ReadyInstances,
    /// Restarts by reason, fuel and bytes of every instance this slot ran.
    usage: Usage,
    /// Calls on the current instance (since it was last checked for recycling).
    calls: u64,
    /// Linear memory of the current instance once its first call returned.
    settled_memory: u64,
    /// Largest linear memory of an instance this slot dropped.
    dropped_peak_memory: u64,
}

impl InstanceSlot {
    pub fn new(module: Arc<LoadedModule>) -> InstanceSlot {
        Self::with_ready(module, ReadyInstances::default())
    }

    /// A slot whose next instances come from `ready` while it has any left.
    pub fn with_ready(module: Arc<LoadedModule>, ready: ReadyInstances) -> InstanceSlot {
        Self {
            module,
            instance: None,
            ready,
            usage: Usage::default(),
            calls: 0,
            settled_memory: 0,
            dropped_peak_memory: 0,
        }
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

    /// Whether the next call first makes a new instance (whose `init` runs
    /// under a deadline of its own before the call's).
    pub fn instantiates_next(&self) -> bool {
        self.instance.is_none() || self.recycles_next()
    }

    /// Whether the current instance is replaced before the next call (see
    /// [`RECYCLE_AFTER_CALLS`]).
    fn recycles_next(&self) -> bool {
        self.calls >= RECYCLE_AFTER_CALLS && self.memory_bytes() > self.settled_memory
    }

    /// Linear memory of the current instance (0 when none is live).
    pub fn memory_bytes(&self) -> u64 {
        self.instance.as_ref().map_or(0, Instance::memory_bytes)
    }

    /// Largest linear memory of any instance this slot ran, including those
    /// recycled or discarded after a fault (memory only grows within one).
    pub fn peak_memory_bytes(&self) -> u64 {
        self.dropped_peak_memory.max(self.memory_bytes())
    }

    fn drop_instance(&mut self) {
        if let Some(instance) = self.instance.take() {
            self.dropped_peak_memory = self.dropped_peak_memory.max(instance.memory_bytes());
        }
    }

    /// One result per event, in order, under [`RetryPolicy::ISOLATE_ONLY`]:
    /// a call that fails as a whole is re-run one event per call, so every
    /// good event is processed and each bad one carries its own error. The
    /// engine's workers run [`InstanceSlot::call`] under their processor's policy instead.
    pub fn process(&mut self, events: &[Event]) -> Vec<EventResult> {
        if let Err(err) = self.admit() {
            return super::refuse_all(events, &err);
        }
        let batched = self.module.report().has_process_batch;
        RetryPolicy::ISOLATE_ONLY.run(events, batched, |chunk| self.call(chunk))
    }

    /// Whether events may run now: refused (`quota_exceeded`) while the
    /// processor is over a quota with `on_breach: dead_letter`. (A `pause`
    /// holds batches before they are dispatched: see `actors::pool`.)
    pub fn admit(&self) -> Result<(), ProcessError> {
        self.module.quota().refusal().map_or(Ok(()), Err)
    }

    /// One guest call on the current (or a new) instance, which is dropped
    /// when the error poisons it: the next call gets a fresh one. Its CPU
    /// time counts against the processor's quota, and every limit it breached
    /// is an audit line.
    pub fn call(&mut self, events: &[Event]) -> CallResult {
        self.call_settled(events, || true)
    }

    /// [`InstanceSlot::call`], asking `keep_writes` once the guest call
    /// returned whether its state writes still count: a worker whose call
    /// was given up on as stuck meanwhile says no, so a batch that went to
    /// the dead letters (and whose keys later batches moved on) leaves no
    /// write behind. Not asked when no instance could be made.
    pub fn call_settled(&mut self, events: &[Event], keep_writes: impl FnOnce() -> bool) -> CallResult {
        if self.recycles_next() {
            self.drop_instance();
        } else if self.calls >= RECYCLE_AFTER_CALLS {
            // Kept, and counted afresh; from 1, so that the memory after its
            // first call stays what later growth is measured against.
            self.calls = 1;
        }
        let instance = match &mut self.instance {
            Some(instance) => instance,
            None => {
                let fresh = match self.ready.take(&self.module) {
                    Some(ready) => ready,
                    None => self.module.instantiate().inspect_err(|err| self.count_restart(err))?,
                };
                self.calls = 0;
                self.instance.insert(fresh)
            }
        };
        self.calls += 1;
        let quota = self.module.quota();
        let cpu_before = quota.is_active().then(thread_cpu_time);
        let result = instance.process_batch_held(events);
        if self.calls == 1 {
            self.settled_memory = instance.memory_bytes();
        }
        let keep = keep_writes();
        instance.settle_state(keep && result.is_ok());
        if let Some(before) = cpu_before {
            quota.record(QuotaKind::Cpu, thread_cpu_time().saturating_sub(before).as_secs_f64());
        }
        self.usage.add(&instance.take_usage());
        match &result {
            Err(err) => {
                audit_limit(&self.module, err);
                if err.poisons_instance() {
                    self.drop_instance();
                    self.count_restart(err);
                }
            }
            Ok(results) => results.iter().filter_map(|r| r.as_ref().err()).for_each(|e| audit_limit(&self.module, e)),
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
fn audit_limit(module: &LoadedModule, err: &ProcessError) {
    let Some(limit) = err.breached_limit() else { return };
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

    /// A guest that counts its calls in a global and runs `on_call` (WAT
    /// statements, the count in `$calls`) before echoing its input.
    fn counting_guest(on_call: &str) -> String {
        use super::super::test_guests::{guest, ECHO};
        guest(
            "",
            &format!(
                r#"(global $calls (mut i32) (i32.const 0))
                (func (export "process_event") (param $p i32) (param $n i32) (result i64)
                  (global.set $calls (i32.add (global.get $calls) (i32.const 1)))
                  {on_call} {ECHO})"#
            ),
        )
    }

    fn run_calls(slot: &mut InstanceSlot, calls: u64) {
        let event = [crate::runtime::test_guests::event("a")];
        for call in 1..=calls {
            assert!(slot.call(&event).is_ok(), "call {call} failed");
        }
    }

    #[test]
    fn an_instance_whose_memory_grew_is_recycled() {
        use super::super::test_guests::{load, spec};
        // Grows one page on its second call, after its first settled it.
        let guest =
            counting_guest("(if (i32.eq (global.get $calls) (i32.const 2)) (then (drop (memory.grow (i32.const 1)))))");
        let mut slot = InstanceSlot::new(load(&guest, spec()));
        run_calls(&mut slot, RECYCLE_AFTER_CALLS);
        assert_eq!(slot.memory_bytes(), 2 * 65536);
        run_calls(&mut slot, 1);
        assert_eq!(slot.memory_bytes(), 65536, "a new instance, back to its one page");
        assert_eq!(slot.peak_memory_bytes(), 2 * 65536);
    }

    #[test]
    fn the_modules_memory_gauge_follows_growth_within_a_call() {
        use super::super::test_guests::{load, spec};
        // Grows one page on its third call only.
        let guest =
            counting_guest("(if (i32.eq (global.get $calls) (i32.const 3)) (then (drop (memory.grow (i32.const 1)))))");
        let module = load(&guest, spec());
        let mut slot = InstanceSlot::new(module.clone());
        run_calls(&mut slot, 2);
        assert_eq!(module.instance_memory_bytes(), 65536);
        run_calls(&mut slot, 1);
        assert_eq!(module.instance_memory_bytes(), 2 * 65536, "counted after the call that grew");
        run_calls(&mut slot, 5);
        assert_eq!(module.instance_memory_bytes(), 2 * 65536);
        drop(slot);
        assert_eq!(module.instance_memory_bytes(), 0);
    }

    #[test]
    fn growth_after_an_instance_was_kept_is_given_back_at_the_next_check() {
        use super::super::test_guests::{load, spec};
        // Kept at the first check, then grows on its next call.
        let grow_at = RECYCLE_AFTER_CALLS + 1;
        let guest = counting_guest(&format!(
            "(if (i32.eq (global.get $calls) (i32.const {grow_at})) (then (drop (memory.grow (i32.const 1)))))"
        ));
        let mut slot = InstanceSlot::new(load(&guest, spec()));
        run_calls(&mut slot, 2 * RECYCLE_AFTER_CALLS - 1);
        assert_eq!(slot.memory_bytes(), 2 * 65536, "kept through the first check");
        run_calls(&mut slot, 1);
        assert_eq!(slot.memory_bytes(), 65536, "replaced at the second");
    }

    #[test]
    fn an_instance_whose_memory_never_grew_is_kept() {
        use super::super::test_guests::{load, spec};
        // Fails on its call RECYCLE_AFTER_CALLS + 2, which only a kept instance reaches.
        let fail_at = RECYCLE_AFTER_CALLS + 2;
        let guest =
            counting_guest(&format!("(if (i32.eq (global.get $calls) (i32.const {fail_at})) (then unreachable))"));
        let mut slot = InstanceSlot::new(load(&guest, spec()));
        run_calls(&mut slot, fail_at - 1);
        let event = [crate::runtime::test_guests::event("a")];
        assert!(slot.call(&event).is_err(), "the same instance made call {fail_at}");
    }

    #[test]
    fn the_peak_memory_outlives_a_discarded_instance() {
        use super::super::test_guests::{load, process, spec};
        let grows_then_traps = process("(drop (memory.grow (i32.const 3))) unreachable");
        let mut slot = InstanceSlot::new(load(&grows_then_traps, spec()));
        assert!(slot.call(&[crate::runtime::test_guests::event("a")]).is_err());
        assert!(!slot.is_live(), "a trap discards the instance");
        assert_eq!(slot.peak_memory_bytes(), 4 * 65536, "one page of its own and three grown");
    }

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
