//! One batch on one worker (routing, the retry policy, accounting) and the
//! ledger, without threads; supervision is in `supervisor_tests`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::job::run_job;
use super::ledger::{Batch, Ledger};
use super::slots::Slots;
use super::worker::{Clock, WorkerState};
use super::*;
use crate::actors::stats::JobResult;
use crate::actors::versions::{RouteKey, Version, VersionSet};
use crate::event::Event;
use crate::runtime::test_guests::PRELUDE;
use crate::runtime::{ProcessorSpec, Runtime, RuntimeSettings};

/// Echoes every event.
pub(super) const ECHO: &str = r#"(func (export "process_event") (param $p i32) (param $n i32) (result i64)
    (i64.or (i64.shl (i64.extend_i32_u (local.get $p)) (i64.const 32)) (i64.extend_i32_u (local.get $n))))"#;

pub(super) fn load(runtime: &Runtime, body: &str, version: &str) -> Version {
    let wasm = wat::parse_str(format!("(module {PRELUDE} {body})")).expect("wat");
    let spec = ProcessorSpec { version: Some(version.into()), ..ProcessorSpec::named("p") };
    let module = runtime.load_bytes(&wasm, spec).expect("load");
    Version { name: version.into(), module, ready: Default::default(), weight: 50, circuit_open: false }
}

pub(super) fn events(n: usize) -> Vec<Event> {
    (0..n).map(|i| Event::new(format!("e{i}"), "t", 0, serde_json::json!({}))).collect()
}

pub(super) fn runtime() -> Runtime {
    Runtime::new(RuntimeSettings { cache_dir: None, epoch_tick: Duration::from_millis(1) }).expect("runtime")
}

fn run(slots: &mut Slots, max_retries: u32, set: &Arc<VersionSet>, n: usize) -> JobResult {
    let config = WorkerConfig::new("p".into(), max_retries);
    let batch = Batch { seq: 7, events: Arc::new(events(n)), versions: set.clone() };
    run_job(slots, &config, &WorkerState::new(Clock::new()), &batch)
}

fn permit() -> tokio::sync::OwnedSemaphorePermit {
    Arc::new(tokio::sync::Semaphore::new(1)).try_acquire_owned().expect("permit")
}

#[test]
fn a_batch_split_between_versions_comes_back_in_input_order() {
    let runtime = runtime();
    let set = VersionSet::new(vec![load(&runtime, ECHO, "v1"), load(&runtime, ECHO, "v2")], RouteKey::Id);
    let set = Arc::new(set.expect("set"));
    let result = run(&mut Slots::default(), 1, &set, 200);
    assert_eq!(result.seq, 7);
    let ids: Vec<String> = result.outputs.iter().map(|e| e.id().to_owned()).collect();
    assert_eq!(ids, (0..200).map(|i| format!("e{i}")).collect::<Vec<_>>());
    let v1 = result.per_version[0].1.received;
    let v2 = result.per_version[1].1.received;
    assert!(v1 > 0 && v2 > 0 && v1 + v2 == 200, "{v1} + {v2}");
    for e in &result.outputs {
        let tag = e.metadata_get(crate::event::MODULE_VERSION_KEY);
        let expected = if set.route(e) == 0 { "v1" } else { "v2" };
        assert_eq!(tag.as_deref(), Some(expected), "{}", e.id());
    }
    assert_eq!(result.total.received, 200);
    assert_eq!(result.total.produced, 200);
    assert!(result.permit.is_none(), "the permit waits in the ledger");
}

/// A hot reload's swap as two workers see it: their first batches of the new
/// version run on the instances prepared with it (none is made on a worker),
/// and the old version's instances go once that batch was handed on.
#[test]
fn after_a_swap_each_worker_runs_its_first_batch_on_a_ready_instance() {
    let runtime = runtime();
    let old = load(&runtime, ECHO, "v1");
    let before = Arc::new(VersionSet::new(vec![old.clone()], RouteKey::Id).expect("set"));
    let mut workers = [Slots::default(), Slots::default()];
    workers.iter_mut().for_each(|slots| assert_eq!(run(slots, 0, &before, 10).outputs.len(), 10));
    assert_eq!(old.module.instances_alive(), 2);

    let mut new = load(&runtime, ECHO, "v2");
    new.ready = crate::runtime::ReadyInstances::prepare(&new.module, 2).expect("prepare");
    let after = Arc::new(VersionSet::new(vec![new.clone()], RouteKey::Id).expect("set"));
    assert_eq!(new.module.instances_alive(), 2, "made before the swap");
    for slots in &mut workers {
        let result = run(slots, 0, &after, 10);
        assert_eq!((result.outputs.len(), result.total.restarts), (10, 0));
    }
    assert!(new.ready.is_empty(), "each worker took one");
    assert_eq!(new.module.instances_alive(), 2, "and made none");
    assert_eq!(old.module.instances_alive(), 2, "held until each worker's batch is handed on");
    workers.iter_mut().for_each(Slots::drop_swapped_out);
    assert_eq!(old.module.instances_alive(), 0, "the old version's instances are gone");
}

/// Traps on the event whose id is "e3" (length 2, last byte '3').
const TRAP_ON_E3: &str = r#"(func (export "process_event") (param $p i32) (param $n i32) (result i64)
    (if (i32.eq (i32.load8_u (i32.add (local.get $p) (i32.const 8))) (i32.const 51)) (then unreachable))
    (i64.or (i64.shl (i64.extend_i32_u (local.get $p)) (i64.const 32)) (i64.extend_i32_u (local.get $n))))"#;

#[test]
fn a_trapping_event_runs_on_one_plus_max_retries_instances_then_is_dead_lettered() {
    let runtime = runtime();
    let set = Arc::new(VersionSet::new(vec![load(&runtime, TRAP_ON_E3, "v1")], RouteKey::Id).expect("set"));
    for max_retries in [0, 1, 2, 5] {
        let result = run(&mut Slots::default(), max_retries, &set, 6);
        let ids: Vec<&str> = result.outputs.iter().map(|e| e.id()).collect();
        assert_eq!(ids, ["e0", "e1", "e2", "e4", "e5"]);
        assert_eq!(result.dead_letters.len(), 1);
        let letter = &result.dead_letters[0];
        assert_eq!((letter.event.id(), letter.error_kind.as_str(), letter.version.as_str()), ("e3", "trap", "v1"));
        // No `process_batch`: one call per event, so only e3 costs instances,
        // one per run: its first and `max_retries` more. No second layer of retries.
        assert_eq!(result.total.restarts, 1 + u64::from(max_retries), "max_retries {max_retries}");
        assert_eq!(result.total.usage.restarts_total(), 1 + u64::from(max_retries));
        assert_eq!(result.total.dead_lettered + result.total.produced, 6);
    }
}

#[test]
fn events_of_a_version_with_an_open_circuit_are_refused_without_running() {
    let runtime = runtime();
    let mut open = load(&runtime, ECHO, "v2");
    open.circuit_open = true;
    open.weight = 0;
    let set = Arc::new(VersionSet::new(vec![load(&runtime, ECHO, "v1"), open], RouteKey::Id).expect("set"));
    let result = run(&mut Slots::default(), 2, &set, 50);
    assert_eq!(result.outputs.len(), 50, "weight 0: everything went to v1");

    let mut lone = load(&runtime, ECHO, "v1");
    lone.circuit_open = true;
    let set = Arc::new(VersionSet::new(vec![lone], RouteKey::Id).expect("set"));
    let mut slots = Slots::default();
    let result = run(&mut slots, 2, &set, 5);
    assert!(result.outputs.is_empty());
    assert!(result.dead_letters.iter().all(|l| l.error_kind == "circuit_open"), "{:?}", result.dead_letters[0]);
    assert_eq!((result.dead_letters.len(), result.total.restarts, slots.live()), (5, 0, 0), "no instance touched");
    assert!(result.outcomes.iter().all(|o| o.failed && o.version == 0));
}

#[test]
fn a_panic_in_a_guest_call_is_retried_under_the_same_policy() {
    let runtime = runtime();
    let set = Arc::new(VersionSet::new(vec![load(&runtime, ECHO, "v1")], RouteKey::Id).expect("set"));
    let mut config = WorkerConfig::new("p".into(), 2);
    // Every call panics: each event runs 1 + max_retries times, then fails as a trap.
    config.fault = Some(Arc::new(|at, _| assert!(at != Fault::InCall, "host bug")));
    let batch = Batch { seq: 1, events: Arc::new(events(2)), versions: set };
    let result = run_job(&mut Slots::default(), &config, &WorkerState::new(Clock::new()), &batch);
    assert_eq!(result.dead_letters.len(), 2);
    assert!(result
        .dead_letters
        .iter()
        .all(|l| l.error_kind == "trap" && l.message.contains("worker panicked: host bug")));
    assert_eq!(result.total.restarts, 2 * 3, "each panic discards the instance");
}

#[test]
fn the_ledger_gives_up_on_a_batch_due_longer_than_its_patience_and_then_refuses_its_result() {
    let runtime = runtime();
    let set = Arc::new(VersionSet::new(vec![load(&runtime, ECHO, "v1")], RouteKey::Id).expect("set"));
    let semaphore = Arc::new(tokio::sync::Semaphore::new(1));
    let ledger = Ledger::default();
    let patience = Duration::from_secs(2);
    let held = semaphore.clone().try_acquire_owned().expect("permit");
    ledger.dispatch(3, events(4), set.clone(), held, patience);
    assert!(ledger.overdue(4, Instant::now()).is_none(), "not dispatched: nothing to give up on");
    let t0 = Instant::now();
    assert!(ledger.overdue(3, t0).is_none(), "the clock starts when the batch is first due");
    assert!(ledger.overdue(3, t0 + patience).is_none());
    let running = ledger.start(3).expect("still wanted");
    let abandoned = ledger.overdue(3, t0 + patience + Duration::from_millis(1)).expect("overdue");
    assert_eq!((abandoned.seq, abandoned.failure.kind, abandoned.len()), (3, BATCH_TIMEOUT, 4));
    assert!(ledger.start(3).is_none(), "a worker taking it now skips it");
    let result = abandoned.into_result("p");
    drop(running);
    assert_eq!((result.total.received, result.total.dead_lettered, result.outputs.len()), (4, 4, 0));
    assert!(result.dead_letters.iter().all(|l| l.error_kind == BATCH_TIMEOUT && l.version == "v1"));
    assert!(result.outcomes.iter().all(|o| o.failed));
    assert_eq!(semaphore.available_permits(), 0, "the permit travels with the dead letters");
    drop(result);
    assert_eq!(semaphore.available_permits(), 1, "and is released with them");
    assert!(ledger.arrived(3).is_none(), "a late result finds nothing: it is dropped");
    assert!(ledger.is_empty());
}

#[test]
fn a_failed_batch_is_given_up_on_as_soon_as_it_is_due() {
    let runtime = runtime();
    let set = Arc::new(VersionSet::new(vec![load(&runtime, ECHO, "v1")], RouteKey::Id).expect("set"));
    let ledger = Ledger::default();
    ledger.dispatch(0, events(2), set.clone(), permit(), Duration::from_secs(3600));
    ledger.dispatch(1, events(2), set, permit(), Duration::from_secs(3600));
    ledger.fail(0, Failure::worker_died("boom"));
    let abandoned = ledger.overdue(0, Instant::now()).expect("failed");
    assert_eq!(abandoned.failure.kind, WORKER_DIED);
    assert!(abandoned.failure.message.contains("boom"));
    assert!(ledger.overdue(1, Instant::now()).is_none());
    assert!(ledger.arrived(1).is_some(), "a result in time takes its permit");
    // Once no worker is left, whatever is still in flight has failed.
    let set = Arc::new(VersionSet::new(vec![load(&runtime, ECHO, "v1")], RouteKey::Id).expect("set"));
    ledger.dispatch(2, events(1), set, permit(), Duration::from_secs(3600));
    ledger.fail_all(&Failure::no_worker());
    assert_eq!(ledger.overdue(2, Instant::now()).map(|b| b.failure.kind), Some(NO_WORKER));
}

#[test]
fn patience_covers_every_call_the_policy_may_make() {
    let runtime = runtime();
    let set = VersionSet::new(vec![load(&runtime, ECHO, "v1")], RouteKey::Id).expect("set");
    let timeout = set.versions()[0].module.spec().limits.timeout;
    let policy = crate::runtime::RetryPolicy { max_retries: 2 };
    // No `process_batch`: 10 events × 3 runs, each at two deadlines.
    assert_eq!(patience(policy, 10, &set), timeout * 2 * 30 + STUCK_GRACE + WAIT_MARGIN);
}

#[test]
fn a_batch_whose_result_was_sent_is_never_given_up_on() {
    let runtime = runtime();
    let set = Arc::new(VersionSet::new(vec![load(&runtime, ECHO, "v1")], RouteKey::Id).expect("set"));
    let ledger = Ledger::default();
    ledger.dispatch(0, events(2), set, permit(), Duration::ZERO);
    let batch = ledger.start(0).expect("batch");
    let events = ledger.sent(0).expect("the ledger's reference");
    drop(batch);
    assert_eq!(Arc::strong_count(&events), 1, "the worker frees the events");
    ledger.fail(0, Failure::worker_died("after sending"));
    let t0 = Instant::now();
    assert!(ledger.overdue(0, t0).is_none() && ledger.overdue(0, t0 + Duration::from_secs(1)).is_none());
    assert!(ledger.arrived(0).is_some(), "its result arrives and takes the permit");
}
