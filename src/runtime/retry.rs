//! The one retry policy for guest calls: how a share of a batch is cut into
//! calls, how the event that broke a call is found, and how often it is tried
//! again. The engine's workers run it with the processor's `max_retries`;
//! [`super::InstanceSlot::process`] (tools, `flowctl serve`) with none.
//!
//! 1. First attempt: one call for the whole share when the module exports
//!    `process_batch`, else one call per event (each with its own deadline,
//!    so a fault costs only its own event and good events never run twice).
//! 2. A call of several events that fails as a whole is re-run one event per
//!    call to isolate the culprit. For each of its events this isolating run
//!    is the first retry; it happens even with `max_retries: 0`, so good
//!    events are not dead-lettered for a neighbour's fault.
//! 3. An event whose own call fails with an error that poisons the instance
//!    (trap, fuel, deadline, memory, ...) runs again, each time on a fresh
//!    instance, until it ran `1 + max_retries` times in all (the isolating run
//!    included); then it fails with the last error.
//! 4. An error that leaves the instance healthy (`guest_error`,
//!    `input_too_large`, `circuit_open`) is final at once.
//!
//! So with `max_retries: R >= 1`, one event that always breaks its instance,
//! among N events of one version, costs N + R calls and 1 + R instances, each
//! discarded, whether or not the module batches. With R = 0: N calls and one
//! instance for a module without `process_batch`, N + 1 calls and two
//! instances (the batch call and the isolating run) for one with it.

use super::error::ProcessError;
use super::EventResult;
use crate::event::Event;

/// A call's outcome: one result per event, or the call failed as a whole
/// (the slot then discarded the instance if the error poisons it).
pub type CallResult = Result<Vec<EventResult>, ProcessError>;

/// See the module documentation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Runs of a failing event after its first, the isolating run included.
    pub max_retries: u32,
}

impl RetryPolicy {
    /// Isolation only: a failed batch call is re-run event by event, nothing more.
    pub const ISOLATE_ONLY: RetryPolicy = RetryPolicy { max_retries: 0 };

    /// Runs `events` through `call` under this policy: one result per event, in order.
    /// `batched`: the module exports `process_batch` (one call may take many events).
    pub fn run(
        self,
        events: &[Event],
        batched: bool,
        mut call: impl FnMut(&[Event]) -> CallResult,
    ) -> Vec<EventResult> {
        if let [event] = events {
            // A batch of one (`--batch 1`, `batch_size: 1`): the call's own
            // results are handed on when final, with no second vector.
            return match call(events) {
                Ok(results) if is_final(&results) => results,
                first => vec![self.settle(event, 1, first, &mut call)],
            };
        }
        if !batched {
            return events.iter().map(|event| self.alone(event, 0, &mut call)).collect();
        }
        match call(events) {
            Ok(results) => fit(results, events.len())
                .into_iter()
                .zip(events)
                .map(|(result, event)| match result {
                    Err(err) if err.poisons_instance() => self.alone(event, 1, &mut call),
                    other => other,
                })
                .collect(),
            Err(_) => events.iter().map(|event| self.alone(event, 1, &mut call)).collect(),
        }
    }

    /// Most calls [`RetryPolicy::run`] makes for `events` events; bounds how
    /// long a batch may legitimately take.
    pub fn max_calls(self, events: usize, batched: bool) -> u64 {
        let (n, r) = (events as u64, u64::from(self.max_retries));
        if batched && events >= 2 {
            1 + n * r.max(1)
        } else {
            n * (1 + r)
        }
    }

    /// Runs one event alone until it passes, fails for good, or has run its
    /// share; `runs` is how often it already ran (in a failed batch call).
    fn alone(self, event: &Event, runs: u32, call: &mut impl FnMut(&[Event]) -> CallResult) -> EventResult {
        let first = call(std::slice::from_ref(event));
        self.settle(event, runs + 1, first, call)
    }

    /// The result of `event`, whose `runs`-th run returned `latest`: that
    /// result when final, else the event runs alone again until it passes,
    /// fails for good, or has run its share.
    fn settle(
        self,
        event: &Event,
        mut runs: u32,
        mut latest: CallResult,
        call: &mut impl FnMut(&[Event]) -> CallResult,
    ) -> EventResult {
        let allowed = self.max_retries.saturating_add(1).max(runs);
        loop {
            let err = match latest.map(|results| fit(results, 1).pop()) {
                Ok(Some(Ok(outputs))) => return Ok(outputs),
                Ok(Some(Err(err))) | Err(err) if !err.poisons_instance() => return Err(err),
                Ok(Some(Err(err))) | Err(err) => err,
                Ok(None) => ProcessError::MalformedOutput("no result for this event".into()),
            };
            if runs >= allowed {
                return Err(err);
            }
            runs += 1;
            latest = call(std::slice::from_ref(event));
        }
    }
}

/// Whether the results of a one-event call are its final result: exactly
/// one, and not an error that calls for another run on a fresh instance.
fn is_final(results: &[EventResult]) -> bool {
    matches!(results, [result] if result.as_ref().err().is_none_or(|err| !err.poisons_instance()))
}

/// Exactly one result per event, whatever the call returned.
fn fit(mut results: Vec<EventResult>, n: usize) -> Vec<EventResult> {
    if results.len() != n {
        tracing::error!(expected = n, got = results.len(), "runtime returned a wrong number of results");
        results.resize_with(n, || Err(ProcessError::MalformedOutput("no result for this event".into())));
    }
    results
}

#[cfg(test)]
mod tests {
    use super::super::test_guests::{guest, load, spec};
    use super::super::{InstanceSlot, Limits, ProcessorSpec};
    use super::*;

    /// Echoes; traps on an input holding a `!` (the culprit's id), in
    /// `process_event` and, when `batched`, in `process_batch` (which echoes
    /// the input array: one event object per entry).
    fn culprit_traps(batched: bool) -> String {
        let echo = r#"(param $p i32) (param $n i32) (result i64)
            (call $check (local.get $p) (local.get $n)) (call $pack (local.get $p) (local.get $n)))"#;
        let batch = if batched { format!(r#"(func (export "process_batch") {echo}"#) } else { String::new() };
        guest(
            "",
            &format!(
                r#"(func $check (param $p i32) (param $n i32) (local $i i32)
                  (local.set $i (local.get $p))
                  (block $done (loop $scan
                    (br_if $done (i32.ge_u (local.get $i) (i32.add (local.get $p) (local.get $n))))
                    (if (i32.eq (i32.load8_u (local.get $i)) (i32.const 33)) (then unreachable))
                    (local.set $i (i32.add (local.get $i) (i32.const 1)))
                    (br $scan))))
                (func (export "process_event") {echo}
                {batch}"#
            ),
        )
    }

    /// `n` events; the one at `bad` (if any) is the culprit.
    fn events(n: usize, bad: Option<usize>) -> Vec<Event> {
        let id = |i| if Some(i) == bad { format!("e{i}!") } else { format!("e{i}") };
        (0..n).map(|i| Event::new(id(i), "t", 0, serde_json::json!({}))).collect()
    }

    /// Results, calls made, instances discarded.
    fn run(policy: RetryPolicy, wat: &str, spec: ProcessorSpec, events: &[Event]) -> (Vec<EventResult>, u64, u64) {
        let mut slot = InstanceSlot::new(load(wat, spec));
        let batched = slot.module().report().has_process_batch;
        let mut calls = 0;
        let results = policy.run(events, batched, |chunk| {
            calls += 1;
            slot.call(chunk)
        });
        (results, calls, slot.restarts())
    }

    #[test]
    fn one_bad_event_costs_n_plus_r_calls_and_one_plus_r_instances_batched_or_not() {
        for batched in [true, false] {
            let wat = culprit_traps(batched);
            for r in 1..=3u32 {
                let policy = RetryPolicy { max_retries: r };
                let (results, calls, discarded) = run(policy, &wat, spec(), &events(10, Some(3)));
                assert_eq!((calls, discarded), (10 + u64::from(r), 1 + u64::from(r)), "batched {batched}, R {r}");
                assert!(calls <= policy.max_calls(10, batched));
                for (i, result) in results.iter().enumerate() {
                    match result {
                        Ok(out) => assert!(i != 3 && out[0].id() == format!("e{i}"), "event {i}"),
                        Err(err) => assert!(i == 3 && err.kind() == "trap", "event {i}: {err}"),
                    }
                }
            }
        }
    }

    #[test]
    fn without_retries_a_failed_batch_is_still_isolated_once() {
        let (results, calls, discarded) =
            run(RetryPolicy::ISOLATE_ONLY, &culprit_traps(true), spec(), &events(10, Some(3)));
        assert_eq!((calls, discarded), (11, 2), "the batch call, then the isolating run");
        assert_eq!(results.iter().filter(|r| r.is_ok()).count(), 9, "the good events are not lost");
        let (_, calls, discarded) = run(RetryPolicy::ISOLATE_ONLY, &culprit_traps(false), spec(), &events(10, Some(3)));
        assert_eq!((calls, discarded), (10, 1), "one call per event: nothing to isolate, no retry");
    }

    #[test]
    fn a_batch_of_one_runs_under_the_same_policy() {
        for batched in [true, false] {
            let wat = culprit_traps(batched);
            let (results, calls, discarded) = run(RetryPolicy { max_retries: 2 }, &wat, spec(), &events(1, None));
            assert_eq!((results.len(), calls, discarded), (1, 1, 0), "batched {batched}");
            assert_eq!(results[0].as_ref().map(|out| out[0].id().to_owned()).ok().as_deref(), Some("e0"));
            for r in 0..=3u32 {
                let policy = RetryPolicy { max_retries: r };
                let (results, calls, discarded) = run(policy, &wat, spec(), &events(1, Some(0)));
                let expected = 1 + u64::from(r);
                assert_eq!((results.len(), calls, discarded), (1, expected, expected), "batched {batched}, R {r}");
                assert_eq!(results[0].as_ref().map_err(ProcessError::kind).unwrap_err(), "trap");
                assert!(calls <= policy.max_calls(1, batched));
            }
        }
    }

    #[test]
    fn a_good_batch_is_one_call() {
        let (results, calls, _) = run(RetryPolicy { max_retries: 2 }, &culprit_traps(true), spec(), &events(50, None));
        assert_eq!((results.iter().filter(|r| r.is_ok()).count(), calls), (50, 1));
    }

    #[test]
    fn an_error_that_leaves_the_instance_healthy_is_final_at_once() {
        // The guest reports a failure for the culprit through the ABI.
        let refuses = guest(
            "",
            r#"(func (export "process_event") (param $p i32) (param $n i32) (result i64)
                (if (i32.eq (i32.load8_u (i32.add (local.get $p) (i32.const 9))) (i32.const 33))
                  (then (return (i64.const 0))))
                (call $pack (local.get $p) (local.get $n)))"#,
        );
        let (results, calls, discarded) = run(RetryPolicy { max_retries: 5 }, &refuses, spec(), &events(10, Some(3)));
        assert_eq!((calls, discarded), (10, 0));
        assert_eq!(results[3].as_ref().map_err(ProcessError::kind).unwrap_err(), "guest_error");
        let (results, calls, discarded) = run(RetryPolicy { max_retries: 5 }, &refuses, spec(), &events(1, Some(0)));
        assert_eq!((results.len(), calls, discarded), (1, 1, 0), "alone too");
        assert_eq!(results[0].as_ref().map_err(ProcessError::kind).unwrap_err(), "guest_error");
        // A batch over `max_input` fails as a whole without harming the
        // instance: its events still run, one per call, and pass.
        let one = events(1, None)[0].to_json().len();
        let small = ProcessorSpec { limits: Limits { max_input_bytes: one * 3, ..spec().limits }, ..spec() };
        let (results, calls, discarded) = run(RetryPolicy::ISOLATE_ONLY, &culprit_traps(true), small, &events(5, None));
        assert_eq!((results.iter().filter(|r| r.is_ok()).count(), calls, discarded), (5, 6, 0));
    }
}
