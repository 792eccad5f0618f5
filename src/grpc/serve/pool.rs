//! The WASM side of `flowctl serve`: a few worker threads, each holding its
//! own instance, fed whole batches of wire events through a crossbeam
//! channel. A worker maps the batch into flowctl events, runs it, maps the
//! outputs back and answers on the batch's oneshot, so the gRPC runtime's
//! threads only decode, encode and wait; guest code never runs on them.
//!
//! An event the module fails on (trap, fuel, deadline, guest error, ...) is
//! not lost: it goes back in its place in the output, as it came in, with
//! metadata [`ERROR_KEY`] and [`ERROR_KIND_KEY`]. A panic in the host while
//! running a batch fails that batch's events the same way and replaces the
//! worker's instance.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Instant;

use tokio::sync::oneshot;

use super::metrics::{BatchCounts, ServeMetrics};
use crate::actors::VersionSet;
use crate::event::{Event, MODULE_VERSION_KEY};
use crate::grpc::mapping::{from_proto, to_proto};
use crate::grpc::pb;
use crate::runtime::{EventResult, InstanceSlot, LoadedModule, ProcessError};

/// Metadata key of a failed event sent back: the error message.
pub const ERROR_KEY: &str = "flowctl.error";
/// Metadata key of a failed event sent back: the error kind (`trap`, `fuel`,
/// `deadline`, `memory`, `guest_error`, ...; see `ProcessError::kind`).
pub const ERROR_KIND_KEY: &str = "flowctl.error_kind";

/// A batch for the workers.
pub struct Batch {
    pub events: Vec<pb::Event>,
    /// The versions when the batch was read: a batch runs on the module that
    /// was current then, so version tags never go backwards within a stream.
    pub versions: Arc<VersionSet>,
    /// The outputs, in input order (failed inputs in their place, marked).
    pub reply: oneshot::Sender<Vec<pb::Event>>,
}

/// What every worker needs besides the batch.
#[derive(Debug, Clone)]
pub struct WorkerContext {
    /// Processor name, in logs and the `component` metric label.
    pub processor: Arc<str>,
    /// `source_component_id` of outputs whose input carried none.
    pub source_component_id: Arc<str>,
}

/// The worker threads; they end when the pool is dropped and the queue drained.
pub struct WorkerPool {
    jobs: Option<crossbeam_channel::Sender<Batch>>,
    threads: Vec<JoinHandle<()>>,
}

impl WorkerPool {
    pub fn start(size: usize, context: &WorkerContext) -> std::io::Result<WorkerPool> {
        // Unbounded: each stream bounds its own batches in flight (see `stream`),
        // so the gRPC threads never block on a full queue.
        let (jobs, queue) = crossbeam_channel::unbounded::<Batch>();
        let threads = (0..size.max(1))
            .map(|i| {
                let (context, queue) = (context.clone(), queue.clone());
                std::thread::Builder::new().name(format!("wasm-serve-{i}")).spawn(move || worker_loop(&context, &queue))
            })
            .collect::<std::io::Result<Vec<_>>>()?;
        Ok(WorkerPool { jobs: Some(jobs), threads })
    }

    /// Queues a batch; gives it back when the pool is stopping.
    pub fn submit(&self, batch: Batch) -> Result<(), Batch> {
        match &self.jobs {
            Some(jobs) => jobs.send(batch).map_err(|e| e.0),
            None => Err(batch),
        }
    }
}

impl Drop for WorkerPool {
    fn drop(&mut self) {
        self.jobs.take();
        for thread in self.threads.drain(..) {
            let _ = thread.join();
        }
    }
}

fn worker_loop(context: &WorkerContext, queue: &crossbeam_channel::Receiver<Batch>) {
    let mut slot: Option<InstanceSlot> = None;
    let mut metrics = ServeMetrics::new(&context.processor);
    while let Ok(Batch { events, versions, reply }) = queue.recv() {
        let Some(module) = current_module(&versions) else {
            let err = ProcessError::Instantiate("no module version is loaded".into());
            let _ = reply.send(events.into_iter().map(|e| failed(&from_proto(e), &err, "", context)).collect());
            continue;
        };
        // One instance per worker: a batch of another version (after a reload)
        // gets a fresh one, prepared by the reload while any are left.
        let slot = match &mut slot {
            Some(s) if Arc::ptr_eq(s.module(), module) => s,
            other => {
                let ready = versions.versions().first().map(|v| v.ready.clone()).unwrap_or_default();
                other.insert(InstanceSlot::with_ready(module.clone(), ready))
            }
        };
        let (outputs, counts) = run_batch(slot, events, context);
        metrics.record(module, &counts);
        // The stream may be gone (client left): its outputs have nowhere to go.
        let _ = reply.send(outputs);
    }
}

/// Runs one batch: outputs in input order, failed inputs marked in their place.
fn run_batch(slot: &mut InstanceSlot, wire: Vec<pb::Event>, context: &WorkerContext) -> (Vec<pb::Event>, BatchCounts) {
    let events: Vec<Event> = wire.into_iter().map(from_proto).collect();
    let before = slot.usage();
    let started = Instant::now();
    let results = guarded_process(slot, &events, context);
    let mut counts = BatchCounts {
        received: events.len() as u64,
        busy: started.elapsed(),
        usage: slot.usage().since(&before),
        ..BatchCounts::default()
    };
    let module = slot.module().clone();
    let mut outputs = Vec::with_capacity(events.len());
    let mut first_failure = None;
    for (event, result) in events.iter().zip(results) {
        match result {
            Ok(outs) => {
                counts.filtered += u64::from(outs.is_empty());
                counts.emitted += outs.len() as u64;
                outputs.extend(outs.iter().map(|e| to_proto(e, &context.source_component_id)));
            }
            Err(err) => {
                tracing::debug!(processor = %context.processor, version = module.version(), event = %event.id(), kind = err.kind(), "event failed: {err}");
                counts.failed.push(err.kind());
                outputs.push(failed(event, &err, module.version(), context));
                first_failure.get_or_insert((event.id(), err));
            }
        }
    }
    // One line per batch, not per event: a module failing everything must not flood the log.
    if let Some((event, err)) = first_failure {
        tracing::warn!(
            processor = %context.processor,
            version = module.version(),
            failed = counts.failed.len(),
            event,
            kind = err.kind(),
            "{} of {} events failed and were sent back marked with {ERROR_KEY}; the first, {event}: {err}",
            counts.failed.len(),
            counts.received,
        );
    }
    (outputs, counts)
}

/// `slot.process` with a host panic contained: the batch fails, the instance is replaced.
fn guarded_process(slot: &mut InstanceSlot, events: &[Event], context: &WorkerContext) -> Vec<EventResult> {
    match catch_unwind(AssertUnwindSafe(|| slot.process(events))) {
        Ok(mut results) => {
            if results.len() != events.len() {
                tracing::error!(
                    expected = events.len(),
                    got = results.len(),
                    "runtime returned a wrong number of results"
                );
                results.resize_with(events.len(), || {
                    Err(ProcessError::MalformedOutput("no result for this event".into()))
                });
            }
            results
        }
        Err(panic) => {
            let reason = crate::workers::panic_message(&panic);
            tracing::error!(processor = %context.processor, "worker panicked, replacing its instance: {reason}");
            *slot = InstanceSlot::new(slot.module().clone());
            crate::runtime::refuse_all(events, &ProcessError::Trap(format!("worker panicked: {reason}")))
        }
    }
}

/// `event` as it came in, marked with why it failed and on which version.
fn failed(event: &Event, err: &ProcessError, version: &str, context: &WorkerContext) -> pb::Event {
    let mut wire = to_proto(event, &context.source_component_id);
    wire.metadata.insert(ERROR_KEY.to_owned(), err.to_string());
    wire.metadata.insert(ERROR_KIND_KEY.to_owned(), err.kind().to_owned());
    if !version.is_empty() {
        wire.metadata.insert(MODULE_VERSION_KEY.to_owned(), version.to_owned());
    }
    wire
}

/// The module a batch of `versions` runs on: `serve` has one version at a time.
pub fn current_module(versions: &VersionSet) -> Option<&Arc<LoadedModule>> {
    versions.versions().first().map(|v| &v.module)
}
