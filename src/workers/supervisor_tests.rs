//! Supervision with real worker threads: a worker that dies outside a guest
//! call, and guest calls that block in the host where no deadline reaches
//! (injected in test code: a guest cannot block like this once every host
//! call honours the call's deadline, which is exactly what the watchdog backs up).

use std::collections::BTreeMap;
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use tokio::sync::mpsc;

use super::tests::{events, load, runtime, ECHO};
use super::*;
use crate::actors::messages::WorkerOutput;
use crate::actors::processor_health::Readiness;
use crate::actors::stats::JobResult;
use crate::actors::versions::{RouteKey, VersionSet};
use crate::runtime::{Limits, LoadedModule, ProcessorSpec, Runtime};
use crate::telemetry::Health;

/// Generous: a broken supervisor fails the test instead of hanging it.
const PATIENCE: Duration = Duration::from_secs(60);

fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let start = Instant::now();
    while !done() {
        assert!(start.elapsed() < PATIENCE, "gave up waiting for {what}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// A started pool fed by hand, as the pool actor feeds it.
struct Pool {
    workers: Workers,
    results: mpsc::Receiver<WorkerOutput>,
    received: BTreeMap<u64, Box<JobResult>>,
    set: Arc<VersionSet>,
    metrics: PrometheusHandle,
    /// Keeps the metric handles registered at start alive.
    _recorder: metrics_exporter_prometheus::PrometheusRecorder,
}

impl Pool {
    fn start(pool_size: usize, config: WorkerConfig, set: Arc<VersionSet>, readiness: Option<Readiness>) -> Pool {
        let recorder = PrometheusBuilder::new().build_recorder();
        let (tx, results) = mpsc::channel(16);
        // The supervisor's handles are registered here, on this thread, into this recorder.
        let workers = metrics::with_local_recorder(&recorder, || start(pool_size, 1, config, tx, readiness)).unwrap();
        Pool { workers, results, received: BTreeMap::new(), set, metrics: recorder.handle(), _recorder: recorder }
    }

    fn dispatch(&self, seq: u64) {
        let permit = Arc::new(tokio::sync::Semaphore::new(1)).try_acquire_owned().unwrap();
        self.workers.ledger.dispatch(seq, events(3), self.set.clone(), permit, Duration::from_secs(3600));
        self.workers.jobs[0].send(seq).unwrap();
    }

    fn wait_for_result(&mut self, seq: u64) -> Box<JobResult> {
        wait_until(&format!("the result of batch {seq}"), || {
            while let Ok(WorkerOutput::Done(result)) = self.results.try_recv() {
                self.received.insert(result.seq, result);
            }
            self.received.contains_key(&seq)
        });
        self.received.remove(&seq).unwrap()
    }

    fn counter(&self, name: &str, labels: &str) -> u64 {
        let text = self.metrics.render();
        let line = format!("{name}{{component=\"p\"{labels}}} ");
        text.lines().find_map(|l| l.strip_prefix(&line)).map_or(0, |v| v.parse().unwrap())
    }

    /// Ends the job stream; every regular worker exits, then the supervisor.
    fn finish(self) {
        let Pool { workers, .. } = self;
        drop(workers.jobs);
        wait_until("the supervisor to stop", || workers.supervisor.is_finished());
        workers.supervisor.join().unwrap();
    }
}

#[test]
fn a_worker_that_dies_outside_a_guest_call_is_replaced_and_its_batch_dead_lettered() {
    let set = Arc::new(VersionSet::new(vec![load(&runtime(), ECHO, "v1")], RouteKey::Id).unwrap());
    let mut config = WorkerConfig::new("p".into(), 1);
    config.fault = Some(Arc::new(|at, seq| assert!(!(at == Fault::BeforeSend && seq == 1), "bug while sending")));
    let mut pool = Pool::start(1, config, set, None);
    for seq in 0..3 {
        pool.dispatch(seq);
    }
    assert_eq!(pool.wait_for_result(0).outputs.len(), 3);
    // The only worker died holding batch 1; its replacement runs batch 2.
    assert_eq!(pool.wait_for_result(2).outputs.len(), 3);
    let ledger = pool.workers.ledger.clone();
    let mut lost = None;
    wait_until("batch 1 marked failed", || {
        lost = ledger.overdue(1, Instant::now());
        lost.is_some()
    });
    let lost = lost.unwrap();
    assert_eq!(lost.failure.kind, WORKER_DIED);
    assert!(lost.failure.message.contains("bug while sending"), "{}", lost.failure.message);
    let result = lost.into_result("p");
    assert_eq!(result.dead_letters.len(), 3, "its events are dead-lettered, not lost");
    assert!(pool.received.is_empty() && pool.results.try_recv().is_err(), "and it has no other result");
    assert_eq!(pool.counter(names_restarts(), ",reason=\"died\""), 1);
    pool.finish();
}

fn names_restarts() -> &'static str {
    crate::telemetry::names::WORKER_RESTARTS
}

/// A host call that blocks until the test opens the gate.
#[derive(Default)]
struct Gate {
    open: Mutex<bool>,
    opened: Condvar,
}

impl Gate {
    fn wait(&self) {
        let mut open = self.open.lock().unwrap();
        while !*open {
            open = self.opened.wait(open).unwrap();
        }
    }

    fn open(&self) {
        *self.open.lock().unwrap() = true;
        self.opened.notify_all();
    }
}

/// A guest of `imports` and `body` whose calls have a 20 ms deadline.
fn with_short_deadline(runtime: &Runtime, imports: &str, body: &str, state: bool) -> Arc<LoadedModule> {
    let wasm = wat::parse_str(format!("(module {imports} {} {body})", crate::runtime::test_guests::PRELUDE)).unwrap();
    let limits = Limits { timeout: Duration::from_millis(20), ..Limits::default() };
    let mut spec = ProcessorSpec { limits, ..ProcessorSpec::named("p") };
    spec.permissions.state = state;
    runtime.load_bytes(&wasm, spec).unwrap()
}

fn only_version(module: &Arc<LoadedModule>) -> Arc<VersionSet> {
    let version = crate::actors::versions::Version {
        name: "v1".into(),
        module: module.clone(),
        ready: Default::default(),
        weight: 1,
        circuit_open: false,
    };
    Arc::new(VersionSet::new(vec![version], RouteKey::Id).unwrap())
}

/// A config whose guest calls of the batches `blocked` picks wait for `gate`.
fn blocking_calls(gate: &Arc<Gate>, blocked: fn(u64) -> bool) -> WorkerConfig {
    let mut config = WorkerConfig::new("p".into(), 0);
    let gate = gate.clone();
    config.fault = Some(Arc::new(move |at, seq| {
        if at == Fault::InCall && blocked(seq) {
            gate.wait();
        }
    }));
    config
}

fn dead_lettered_as_deadline(result: &JobResult) -> bool {
    result.outputs.is_empty()
        && result.dead_letters.len() == 3
        && result.dead_letters.iter().all(|d| d.error_kind == "deadline")
}

#[test]
fn a_stuck_call_makes_the_processor_unready_and_its_worker_is_replaced_within_bounds() {
    let module = with_short_deadline(&runtime(), "", ECHO, false);
    let set = only_version(&module);
    let gate = Arc::new(Gate::default());
    // Batches 0 and 2 block inside their guest call.
    let config = blocking_calls(&gate, |seq| seq % 2 == 0 && seq < 4);
    let health = Health::new();
    health.set_up("p");
    let mut pool = Pool::start(1, config, set, Some(Readiness::new("p".into(), health.clone())));
    let reason = || health.readiness().err().map(|r| r.join("\n")).unwrap_or_default();

    pool.dispatch(0);
    wait_until("the stuck call in /readyz", || {
        reason() == "p: stuck worker: 1 guest call(s) running past their deadline"
    });
    // Given up at once: a collector waiting for batch 0 dead-letters it now,
    // not after its patience.
    let abandoned = pool.workers.ledger.overdue(0, std::time::Instant::now()).expect("batch 0 given up");
    assert_eq!(abandoned.failure.kind, super::STUCK_CALL);
    // Capacity remains: a replacement runs the next batch while batch 0 is stuck.
    pool.dispatch(1);
    assert_eq!(pool.wait_for_result(1).outputs.len(), 3);
    // The replacement sticks too; with pool_size 1 no third thread is started.
    pool.dispatch(2);
    wait_until("two stuck calls", || reason().contains("2 guest call(s)"));
    assert_eq!(pool.counter(crate::telemetry::names::STUCK_CALLS, ""), 2);
    assert_eq!(pool.counter(names_restarts(), ",reason=\"stuck\""), 1, "at most pool_size extra threads");
    pool.dispatch(3);

    gate.open();
    // A stuck call's result is a deadline error, whether or not the collector
    // gave up on its batch before it came (then it is dropped as late).
    for seq in [0, 2] {
        assert!(dead_lettered_as_deadline(&pool.wait_for_result(seq)), "batch {seq}");
    }
    let result = pool.wait_for_result(3);
    assert_eq!((result.outputs.len(), result.dead_letters.len()), (3, 0));
    wait_until("readiness back", || health.readiness().is_ok());
    // Both stuck instances were discarded; the replaced worker exited with
    // its slots; the other worker ran batch 3 on a fresh instance.
    wait_until("one instance left", || module.instances_alive() == 1);
    pool.finish();
}

/// Sets key "k" to "abc", then echoes the event.
const SET_K_IMPORTS: &str = r#"(import "flowctl" "state_set" (func $set (param i32 i32 i32 i32) (result i32)))"#;
const SET_K: &str = r#"(data (i32.const 100) "k") (data (i32.const 110) "abc")
    (func (export "process_event") (param $p i32) (param $n i32) (result i64)
      (drop (call $set (i32.const 100) (i32.const 1) (i32.const 110) (i32.const 3)))
      (call $pack (local.get $p) (local.get $n)))"#;

#[test]
fn a_stuck_call_given_up_on_leaves_no_state_write_behind() {
    let runtime = runtime();
    let module = with_short_deadline(&runtime, SET_K_IMPORTS, SET_K, true);
    let state = runtime.processor_state("p").expect("state granted");
    let gate = Arc::new(Gate::default());
    let mut pool = Pool::start(1, blocking_calls(&gate, |seq| seq == 0), only_version(&module), None);

    pool.dispatch(0);
    wait_until("batch 0 given up", || pool.workers.ledger.overdue(0, Instant::now()).is_some());
    // The call writes once the gate opens, after it was flagged stuck.
    gate.open();
    assert!(dead_lettered_as_deadline(&pool.wait_for_result(0)));
    assert_eq!(state.get(b"k"), None, "the batch went to the dead letters, its write with it");

    pool.dispatch(1);
    assert_eq!(pool.wait_for_result(1).outputs.len(), 3);
    assert_eq!(state.get(b"k"), Some(b"abc".to_vec()), "a call that was not stuck writes");
    pool.finish();
}
