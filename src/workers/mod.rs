//! The threads that run WASM. Each processor owns `pool_size` of them, fed
//! batches through a bounded crossbeam channel; results go back to the
//! processor's collector actor through a bounded tokio channel. No guest
//! code ever runs on an async executor thread.
//!
//! A worker owns one `InstanceSlot` per module version it has seen. A batch
//! is split by version (sticky weighted routing), each share runs on its
//! version's slot, and the results are merged back into input order. A guest
//! error that poisons its instance is retried on a fresh instance up to
//! `max_retries` times before the event is dead-lettered. A panic inside the
//! host while running a batch discards the worker's instances (a restart of
//! the worker) and re-runs the batch, so no event is lost to it.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;
use std::time::Instant;

use tokio::sync::mpsc;

use crate::actors::messages::{WorkItem, WorkerOutput};
use crate::actors::stats::{BatchStats, JobResult, Outcome};
use crate::actors::versions::{Version, VersionSet};
use crate::connectors::DeadLetter;
use crate::event::Event;
use crate::runtime::{EventResult, InstanceSlot, LoadedModule, ProcessError, Usage};

/// What every worker of one processor shares.
#[derive(Debug, Clone)]
pub struct WorkerConfig {
    pub processor: Arc<str>,
    pub max_retries: u32,
}

/// Starts `count` worker threads. They end when `jobs` disconnects or the
/// collector is gone.
pub fn spawn_workers(
    count: usize,
    config: &WorkerConfig,
    jobs: crossbeam_channel::Receiver<WorkItem>,
    results: mpsc::Sender<WorkerOutput>,
) -> std::io::Result<Vec<std::thread::JoinHandle<()>>> {
    (0..count.max(1))
        .map(|i| {
            let (config, jobs, results) = (config.clone(), jobs.clone(), results.clone());
            std::thread::Builder::new()
                .name(format!("wasm-{}-{i}", config.processor))
                .spawn(move || worker_loop(&config, &jobs, &results))
        })
        .collect()
}

fn worker_loop(
    config: &WorkerConfig,
    jobs: &crossbeam_channel::Receiver<WorkItem>,
    results: &mpsc::Sender<WorkerOutput>,
) {
    let mut slots = Slots::default();
    while let Ok(item) = jobs.recv() {
        let result = run_job(&mut slots, config, item);
        if results.blocking_send(WorkerOutput::Done(Box::new(result))).is_err() {
            break;
        }
    }
}

/// The instances one worker holds, one per module version.
#[derive(Default)]
struct Slots {
    slots: Vec<InstanceSlot>,
    /// Usage of slots discarded after a panic, so per-batch deltas stay whole.
    retired: Vec<(Arc<LoadedModule>, Usage)>,
}

impl Slots {
    fn get(&mut self, module: &Arc<LoadedModule>) -> &mut InstanceSlot {
        let pos = match self.slots.iter().position(|s| Arc::ptr_eq(s.module(), module)) {
            Some(pos) => pos,
            None => {
                self.slots.push(InstanceSlot::new(module.clone()));
                self.slots.len() - 1
            }
        };
        &mut self.slots[pos]
    }

    fn discard(&mut self, module: &Arc<LoadedModule>) {
        let used = self.usage(module);
        self.slots.retain(|s| !Arc::ptr_eq(s.module(), module));
        self.retired.retain(|(m, _)| !Arc::ptr_eq(m, module));
        self.retired.push((module.clone(), used));
    }

    /// Restarts by reason, fuel and bytes of `module` in this worker so far.
    fn usage(&self, module: &Arc<LoadedModule>) -> Usage {
        let mut total = Usage::default();
        for (_, used) in self.retired.iter().filter(|(m, _)| Arc::ptr_eq(m, module)) {
            total.add(used);
        }
        for slot in self.slots.iter().filter(|s| Arc::ptr_eq(s.module(), module)) {
            total.add(&slot.usage());
        }
        total
    }

    #[cfg(test)]
    fn live(&self) -> usize {
        self.slots.iter().filter(|s| s.is_live()).count()
    }

    /// Drops instances of versions no longer in the set (after a swap).
    fn retain(&mut self, set: &VersionSet) {
        self.slots.retain(|s| set.versions().iter().any(|v| Arc::ptr_eq(&v.module, s.module())));
        self.retired.retain(|(m, _)| set.versions().iter().any(|v| Arc::ptr_eq(&v.module, m)));
    }
}

/// Runs one batch: route, process, retry, account, in input order.
fn run_job(slots: &mut Slots, config: &WorkerConfig, item: WorkItem) -> JobResult {
    let WorkItem { seq, events, versions, permit } = item;
    slots.retain(&versions);
    let usage_before: Vec<Usage> = versions.versions().iter().map(|v| slots.usage(&v.module)).collect();
    let mut per_version = vec![BatchStats::default(); versions.versions().len()];
    let processed = process_by_version(slots, config, &versions, events, &mut per_version);

    let mut outputs = Vec::with_capacity(processed.len());
    let mut dead_letters = Vec::new();
    let mut outcomes = Vec::with_capacity(processed.len());
    for (event, result, vi) in processed {
        let version = &versions.versions()[vi];
        let stats = &mut per_version[vi];
        let result = match result {
            Err(err) if err.poisons_instance() => {
                let start = Instant::now();
                let r = retry(slots, &version.module, &event, err, config.max_retries, &mut stats.restarts);
                stats.busy_ns += start.elapsed().as_nanos() as u64;
                r
            }
            other => other,
        };
        // Version sets hold a handful of versions; u16 is plenty.
        outcomes.push(Outcome { version: vi as u16, failed: result.is_err() });
        stats.received += 1;
        match result {
            Ok(outs) if outs.is_empty() => stats.filtered += 1,
            Ok(outs) => {
                stats.produced += 1;
                stats.emitted += outs.len() as u64;
                outputs.extend(outs);
            }
            Err(err) => {
                stats.dead_lettered += 1;
                dead_letters.push(DeadLetter {
                    processor: config.processor.to_string(),
                    version: version.name.to_string(),
                    error_kind: err.kind().to_string(),
                    message: err.to_string(),
                    at: Event::now_millis(),
                    event,
                });
            }
        }
    }
    for ((stats, version), before) in per_version.iter_mut().zip(versions.versions()).zip(&usage_before) {
        stats.usage = slots.usage(&version.module).since(before);
    }
    let mut total = BatchStats::default();
    per_version.iter().for_each(|s| total.merge(s));
    let per_version = versions.versions().iter().map(|v| v.name.clone()).zip(per_version).collect();
    JobResult { seq, outputs, dead_letters, total, per_version, versions, outcomes, permit }
}

/// Each event with its result and version index, in input order.
fn process_by_version(
    slots: &mut Slots,
    config: &WorkerConfig,
    versions: &VersionSet,
    events: Vec<Event>,
    stats: &mut [BatchStats],
) -> Vec<(Event, EventResult, usize)> {
    if versions.versions().len() == 1 {
        let results = run_version(slots, config, &versions.versions()[0], &events, &mut stats[0]);
        return events.into_iter().zip(results).map(|(e, r)| (e, r, 0)).collect();
    }
    let n = events.len();
    let mut groups: Vec<(Vec<usize>, Vec<Event>)> = vec![(Vec::new(), Vec::new()); versions.versions().len()];
    for (i, event) in events.into_iter().enumerate() {
        let group = &mut groups[versions.route(&event)];
        group.0.push(i);
        group.1.push(event);
    }
    let mut placed: Vec<Option<(Event, EventResult, usize)>> = (0..n).map(|_| None).collect();
    for (vi, (indices, group)) in groups.into_iter().enumerate() {
        if group.is_empty() {
            continue;
        }
        let results = run_version(slots, config, &versions.versions()[vi], &group, &mut stats[vi]);
        for ((i, event), result) in indices.into_iter().zip(group).zip(results) {
            placed[i] = Some((event, result, vi));
        }
    }
    placed.into_iter().flatten().collect()
}

/// One version's share of a batch, timed; refused as a whole while the
/// version's circuit breaker is open (no instance is touched).
fn run_version(
    slots: &mut Slots,
    config: &WorkerConfig,
    version: &Version,
    events: &[Event],
    stats: &mut BatchStats,
) -> Vec<EventResult> {
    if version.circuit_open {
        let err = ProcessError::CircuitOpen { version: version.name.to_string() };
        return events.iter().map(|_| Err(err.clone())).collect();
    }
    let start = Instant::now();
    let results = guarded_process(slots, config, &version.module, events, &mut stats.restarts);
    stats.busy_ns += start.elapsed().as_nanos() as u64;
    results
}

/// `slot.process` with panics contained: a panicking worker drops its
/// instances and re-runs the batch, up to `max_retries` times.
fn guarded_process(
    slots: &mut Slots,
    config: &WorkerConfig,
    module: &Arc<LoadedModule>,
    events: &[Event],
    restarts: &mut u64,
) -> Vec<EventResult> {
    let mut attempt = 0;
    loop {
        let slot = slots.get(module);
        let before = slot.restarts();
        match catch_unwind(AssertUnwindSafe(|| slot.process(events))) {
            Ok(results) => {
                *restarts += slot.restarts() - before;
                return fit(results, events.len());
            }
            Err(panic) => {
                slots.discard(module);
                *restarts += 1;
                attempt += 1;
                let reason = panic_message(&panic);
                tracing::error!(processor = %config.processor, attempt, "worker panicked, restarting it: {reason}");
                if attempt > config.max_retries {
                    let err = ProcessError::Trap(format!("worker panicked: {reason}"));
                    return events.iter().map(|_| Err(err.clone())).collect();
                }
            }
        }
    }
}

/// Re-runs one event that poisoned its instance, each time on a fresh one.
fn retry(
    slots: &mut Slots,
    module: &Arc<LoadedModule>,
    event: &Event,
    mut err: ProcessError,
    max_retries: u32,
    restarts: &mut u64,
) -> EventResult {
    for _ in 0..max_retries {
        let slot = slots.get(module);
        let before = slot.restarts();
        let outcome = catch_unwind(AssertUnwindSafe(|| slot.process(std::slice::from_ref(event))));
        let Ok(mut results) = outcome else {
            slots.discard(module);
            *restarts += 1;
            continue;
        };
        *restarts += slot.restarts() - before;
        match results.pop() {
            Some(Ok(outs)) => return Ok(outs),
            Some(Err(e)) if e.poisons_instance() => err = e,
            Some(Err(e)) => return Err(e),
            None => {}
        }
    }
    Err(err)
}

/// Exactly one result per event, whatever the slot returned.
fn fit(mut results: Vec<EventResult>, n: usize) -> Vec<EventResult> {
    if results.len() != n {
        tracing::error!(expected = n, got = results.len(), "runtime returned a wrong number of results");
        results.resize_with(n, || Err(ProcessError::MalformedOutput("no result for this event".into())));
    }
    results
}

/// What a caught panic said (its `&str` or `String` payload).
pub(crate) fn panic_message(panic: &Box<dyn std::any::Any + Send>) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::actors::versions::{RouteKey, Version};
    use crate::runtime::test_guests::PRELUDE;
    use crate::runtime::{ProcessorSpec, Runtime, RuntimeSettings};

    /// Echoes every event.
    const ECHO: &str = r#"(func (export "process_event") (param $p i32) (param $n i32) (result i64)
        (i64.or (i64.shl (i64.extend_i32_u (local.get $p)) (i64.const 32)) (i64.extend_i32_u (local.get $n))))"#;

    fn load(runtime: &Runtime, body: &str, version: &str) -> Version {
        let wasm = wat::parse_str(format!("(module {PRELUDE} {body})")).expect("wat");
        let spec = ProcessorSpec { version: Some(version.into()), ..ProcessorSpec::named("p") };
        let module = runtime.load_bytes(&wasm, spec).expect("load");
        Version { name: version.into(), module, weight: 50, circuit_open: false }
    }

    fn item(versions: &Arc<VersionSet>, n: usize) -> WorkItem {
        let permit = Arc::new(tokio::sync::Semaphore::new(1)).try_acquire_owned().expect("permit");
        let events = (0..n).map(|i| Event::new(format!("e{i}"), "t", 0, serde_json::json!({}))).collect();
        WorkItem { seq: 7, events, versions: versions.clone(), permit }
    }

    fn runtime() -> Runtime {
        Runtime::new(RuntimeSettings { cache_dir: None, epoch_tick: std::time::Duration::from_millis(1) })
            .expect("runtime")
    }

    #[test]
    fn a_batch_split_between_versions_comes_back_in_input_order() {
        let runtime = runtime();
        let set = VersionSet::new(vec![load(&runtime, ECHO, "v1"), load(&runtime, ECHO, "v2")], RouteKey::Id);
        let set = Arc::new(set.expect("set"));
        let config = WorkerConfig { processor: "p".into(), max_retries: 1 };
        let result = run_job(&mut Slots::default(), &config, item(&set, 200));
        assert_eq!(result.seq, 7);
        let ids: Vec<String> = result.outputs.iter().map(|e| e.id.clone()).collect();
        assert_eq!(ids, (0..200).map(|i| format!("e{i}")).collect::<Vec<_>>());
        let v1 = result.per_version[0].1.received;
        let v2 = result.per_version[1].1.received;
        assert!(v1 > 0 && v2 > 0 && v1 + v2 == 200, "{v1} + {v2}");
        for e in &result.outputs {
            let tag = e.metadata.get(crate::event::MODULE_VERSION_KEY).map(String::as_str);
            let expected = if set.route(e) == 0 { "v1" } else { "v2" };
            assert_eq!(tag, Some(expected), "{}", e.id);
        }
        assert_eq!(result.total.received, 200);
        assert_eq!(result.total.produced, 200);
    }

    #[test]
    fn a_trapping_event_is_retried_then_dead_lettered_and_the_others_pass() {
        let runtime = runtime();
        // Traps on the event whose id is "e3" (length 2, last byte '3').
        let trap_on_e3 = r#"(func (export "process_event") (param $p i32) (param $n i32) (result i64)
            (if (i32.eq (i32.load8_u (i32.add (local.get $p) (i32.const 8))) (i32.const 51)) (then unreachable))
            (i64.or (i64.shl (i64.extend_i32_u (local.get $p)) (i64.const 32)) (i64.extend_i32_u (local.get $n))))"#;
        let set = Arc::new(VersionSet::new(vec![load(&runtime, trap_on_e3, "v1")], RouteKey::Id).expect("set"));
        let config = WorkerConfig { processor: "p".into(), max_retries: 2 };
        let result = run_job(&mut Slots::default(), &config, item(&set, 6));
        let ids: Vec<&str> = result.outputs.iter().map(|e| e.id.as_str()).collect();
        assert_eq!(ids, ["e0", "e1", "e2", "e4", "e5"]);
        assert_eq!(result.dead_letters.len(), 1);
        let letter = &result.dead_letters[0];
        assert_eq!(
            (letter.event.id.as_str(), letter.error_kind.as_str(), letter.version.as_str()),
            ("e3", "trap", "v1")
        );
        // The batch failure, the isolating re-run, then two retries: each discards an instance.
        assert!(result.total.restarts >= 3, "{:?}", result.total);
        assert_eq!(result.total.dead_lettered + result.total.produced, 6);
    }

    #[test]
    fn events_of_a_version_with_an_open_circuit_are_refused_without_running() {
        let runtime = runtime();
        let mut open = load(&runtime, ECHO, "v2");
        open.circuit_open = true;
        open.weight = 0;
        let set = VersionSet::new(vec![load(&runtime, ECHO, "v1"), open], RouteKey::Id).expect("set");
        let set = Arc::new(set);
        let config = WorkerConfig { processor: "p".into(), max_retries: 2 };
        let result = run_job(&mut Slots::default(), &config, item(&set, 50));
        assert_eq!(result.outputs.len(), 50, "weight 0: everything went to v1");

        let mut lone = load(&runtime, ECHO, "v1");
        lone.circuit_open = true;
        let set = Arc::new(VersionSet::new(vec![lone], RouteKey::Id).expect("set"));
        let mut slots = Slots::default();
        let result = run_job(&mut slots, &config, item(&set, 5));
        assert!(result.outputs.is_empty());
        assert!(result.dead_letters.iter().all(|l| l.error_kind == "circuit_open"), "{:?}", result.dead_letters[0]);
        assert_eq!((result.dead_letters.len(), result.total.restarts, slots.live()), (5, 0, 0), "no instance touched");
        assert!(result.outcomes.iter().all(|o| o.failed && o.version == 0));
    }
}
