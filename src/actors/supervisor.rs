//! The supervisor: has the pipeline prepared (`prepare`), builds the actor
//! graph from the validated `Pipeline`, starts the checkpointer, reports
//! health, and runs until every sink drained (finite sources) or a shutdown
//! signal came and the drain finished or the grace period ran out; then
//! commits the last checkpoint.

use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::Arc;
use std::time::Duration;

use actix::prelude::*;
use tokio::sync::oneshot;

use super::batcher::Batcher;
use super::collector::Collector;
use super::dead_letters::{Close, DeadLetterActor};
use super::error::EngineError;
use super::fanout::FanOut;
use super::messages::{Flow, Job};
use super::pool::PoolActor;
use super::prepare::{prepare, Prepared, ProgressMode};
use super::processor_health::Readiness;
use super::sink::{queue_gauge, spawn_sink_thread, SinkActor, SinkThread, ThreadDone};
use super::source::{SourceActor, SourceThread};
use super::stats::{ConnectorCounters, InFlight, ProcessorCounters, RunReport, SinkReport, SourceReport};
use super::versions::RouteKey;
use crate::admin::Control;
use crate::config::{Pipeline, ProcessorKind};
use crate::connectors::{Sink, Source};
use crate::grpc::processor::GrpcStage;
use crate::progress::{Checkpointer, Resumed, SourceProgress};
use crate::reload::Reloader;
use crate::runtime::Runtime;
use crate::telemetry::Health;

/// Largest batch a source hands over when no processor asks for more.
const MIN_SOURCE_BATCH: usize = 256;
/// How long the dead letters may take to flush after the grace period expired.
const DEAD_LETTER_FLUSH: Duration = Duration::from_secs(2);

/// Longest a writer holds finished-but-unflushed events: half a checkpoint
/// interval, so each checkpoint sees what was written before the last one.
fn flush_every(checkpoint_interval: Duration) -> Duration {
    (checkpoint_interval / 2).max(Duration::from_millis(5))
}

/// What a caller can set besides the pipeline file.
#[derive(Default)]
pub struct EngineOptions {
    /// Component states for `/readyz`.
    pub health: Health,
    /// Sources to use instead of building the one the pipeline names, by id
    /// (benches and tests that need to observe events from inside).
    pub sources: HashMap<String, Box<dyn Source>>,
    /// Sinks to use instead of the pipeline's, by id.
    pub sinks: HashMap<String, Box<dyn Sink>>,
    /// Where the processors register for the admin API (traffic, rollback, status).
    pub control: Control,
    /// Ignore saved source positions (`flowctl run --from-start`); new ones are still saved.
    pub from_start: bool,
    /// Keep no progress at all: nothing resumed or saved (benches measuring what it costs).
    pub without_checkpoints: bool,
}

/// Runs a pipeline until its sources end and everything drained, or until
/// `shutdown` resolves and the drain finished (or `shutdown_grace` passed).
/// Must run inside an actix `System` (see `cli::run`).
pub async fn run_pipeline(
    pipeline: Pipeline,
    runtime: Runtime,
    shutdown: impl Future<Output = ()>,
) -> Result<RunReport, EngineError> {
    run_pipeline_with(pipeline, runtime, EngineOptions::default(), shutdown).await
}

/// [`run_pipeline`] with [`EngineOptions`].
pub async fn run_pipeline_with(
    pipeline: Pipeline,
    runtime: Runtime,
    options: EngineOptions,
    shutdown: impl Future<Output = ()>,
) -> Result<RunReport, EngineError> {
    let EngineOptions { health, sources, sinks, control, from_start, without_checkpoints } = options;
    let progress = ProgressMode { from_start, without_checkpoints };
    let pipeline = Arc::new(pipeline);
    let (for_prepare, for_reload) = (pipeline.clone(), runtime.clone());
    let (mut prepared, progress) =
        tokio::task::spawn_blocking(move || prepare(&for_prepare, &runtime, &control, sources, sinks, progress))
            .await
            .map_err(|e| EngineError::Start(format!("loading modules panicked: {e}")))??;
    let reload_targets = std::mem::take(&mut prepared.reload_targets);
    let Resumed { store, board, trackers, states } = progress;
    let mut graph = Graph::start(&pipeline, prepared, &trackers, &health)?;
    let checkpointer = match store {
        Some(store) => Some(
            Checkpointer::start(
                &pipeline.name,
                store,
                board,
                trackers.into_iter().flatten().collect(),
                states,
                pipeline.settings.checkpoint_interval,
            )
            .map_err(|e| EngineError::Start(format!("cannot start the checkpointer: {e}")))?,
        ),
        None => None,
    };
    // Watches until the run ends (dropped with this scope). Not being able to
    // watch (e.g. the inotify limit) costs hot reload, not the running pipeline.
    let _reloader = match pipeline.settings.hot_reload && !reload_targets.is_empty() {
        true => Reloader::start(for_reload, reload_targets, crate::reload::DEBOUNCE)
            .inspect_err(|e| tracing::warn!("hot reload is off for this run: {e}"))
            .ok(),
        false => None,
    };
    for id in graph.component_ids() {
        health.set_up(&id);
    }
    tracing::info!(pipeline = %pipeline.name, "pipeline running");
    let report = graph.supervise(pipeline.settings.shutdown_grace, shutdown).await;
    // The last commit: everything finished by the drain.
    if let Some(checkpointer) = checkpointer {
        tokio::task::spawn_blocking(move || checkpointer.finish()).await.ok();
    }
    for id in graph.component_ids() {
        health.set_down(&id, "stopped");
    }
    report.log();
    Ok(report)
}

/// The started actor graph and what the supervisor watches.
struct Graph {
    stop_sources: Arc<AtomicBool>,
    in_flight: InFlight,
    sources: Vec<(String, Arc<ConnectorCounters>)>,
    processors: Vec<(String, Arc<ProcessorCounters>)>,
    sinks: Vec<(String, Arc<ConnectorCounters>)>,
    dead_letter_counts: Arc<ConnectorCounters>,
    sink_done: Vec<(String, ThreadDone)>,
    processor_ended: Vec<oneshot::Receiver<()>>,
    dead_letters: Addr<DeadLetterActor>,
    dead_letters_done: Option<ThreadDone>,
}

impl Graph {
    fn start(
        pipeline: &Pipeline,
        prepared: Prepared,
        trackers: &[Option<Arc<SourceProgress>>],
        health: &Health,
    ) -> Result<Graph, EngineError> {
        let Prepared { mut versions, sources, sinks, dead_letters, .. } = prepared;
        let capacity = pipeline.settings.channel_capacity.max(1);
        let flush_every = flush_every(pipeline.settings.checkpoint_interval);
        let in_flight = InFlight::default();
        let io = |what: &str| {
            let what = what.to_string();
            move |e: std::io::Error| EngineError::Start(format!("cannot start thread for {what}: {e}"))
        };
        let dead_letter_counts = Arc::new(ConnectorCounters::default());
        let (dl_actor, dl_done) =
            DeadLetterActor::spawn(dead_letters, capacity, dead_letter_counts.clone(), in_flight.clone(), flush_every)
                .map_err(io("dead letters"))?;
        let dl = dl_actor.start();

        // Consumers' mailboxes first, so every producer knows its subscribers.
        let mut subscribers: HashMap<String, Vec<Recipient<Flow>>> = HashMap::new();
        let mut subscribe = |inputs: &[String], recipient: Recipient<Flow>| {
            for input in inputs {
                subscribers.entry(input.clone()).or_default().push(recipient.clone());
            }
        };
        let mut batcher_ctxs = Vec::new();
        for p in &pipeline.processors {
            let mut ctx = Context::<Batcher>::new();
            ctx.set_mailbox_capacity(capacity);
            subscribe(&p.inputs, ctx.address().recipient());
            batcher_ctxs.push(ctx);
        }
        let mut sink_ctxs = Vec::new();
        for s in &pipeline.sinks {
            let mut ctx = Context::<SinkActor>::new();
            ctx.set_mailbox_capacity(capacity);
            subscribe(&s.inputs, ctx.address().recipient());
            sink_ctxs.push(ctx);
        }
        let mut fanout = |id: &str| {
            FanOut {
                from: id.into(),
                subscribers: subscribers.remove(id).unwrap_or_default(),
                in_flight: in_flight.clone(),
                mailbox_capacity: capacity,
            }
            .start()
        };

        let mut processors = Vec::new();
        let mut processor_ended = Vec::new();
        for (p, ctx) in pipeline.processors.iter().zip(batcher_ctxs) {
            let id: Arc<str> = p.id.as_str().into();
            let out = fanout(&p.id);
            let counters = Arc::new(ProcessorCounters::default());
            let (ended_tx, ended_rx) = oneshot::channel();
            let pipeline_name: Arc<str> = pipeline.name.as_str().into();
            // The stage that runs the batches, where its results arrive, and
            // what judges a WASM processor's versions and batches (a remote one judges itself).
            let (stage, results, wasm_parts): (Recipient<Job>, _, _) = match &p.kind {
                ProcessorKind::Wasm(wasm) => {
                    let control =
                        versions.remove(&p.id).ok_or_else(|| EngineError::NoVersions { processor: p.id.clone() })?;
                    let readiness = Readiness::new(id.clone(), health.clone());
                    let (pool, results, ledger) =
                        PoolActor::start_workers(id.clone(), wasm, &control, Some(readiness.clone()))
                            .map_err(io(&p.id))?;
                    (pool.start().recipient(), results, Some((control, ledger, readiness)))
                }
                ProcessorKind::Grpc(grpc) => {
                    let (stage, results) = GrpcStage::new(id.clone(), &pipeline.name, grpc, health.clone())
                        .map_err(|e| EngineError::Start(format!("processor {}: {e}", p.id)))?;
                    (stage.start().recipient(), results, None)
                }
            };
            let collector = Collector::new(
                id.clone(),
                pipeline_name,
                results,
                out,
                dl.clone(),
                counters.clone(),
                in_flight.clone(),
                ended_tx,
            );
            match wasm_parts {
                Some((control, ledger, readiness)) => {
                    collector.with_readiness(readiness).with_control(control).with_ledger(ledger).start()
                }
                None => collector.start(),
            };
            let inputs = p.inputs.iter().map(|i| Arc::from(i.as_str())).collect::<HashSet<_>>();
            let mut batcher = Batcher::new(id, inputs, p.batch_size(), p.batch_timeout(), stage);
            if let ProcessorKind::Wasm(wasm) = &p.kind {
                batcher = batcher.with_lanes(RouteKey::parse(&wasm.route_by), wasm.lanes());
            }
            ctx.run(batcher.with_queue_metrics(&pipeline.name));
            processors.push((p.id.clone(), counters));
            processor_ended.push(ended_rx);
        }

        let mut sink_counts = Vec::new();
        let mut sink_done = Vec::new();
        for ((spec, sink), ctx) in pipeline.sinks.iter().zip(sinks).zip(sink_ctxs) {
            let id: Arc<str> = spec.id.as_str().into();
            let counters = Arc::new(ConnectorCounters::default());
            let thread = SinkThread {
                id: id.clone(),
                pipeline: pipeline.name.as_str().into(),
                capacity,
                counters: counters.clone(),
                in_flight: in_flight.clone(),
                health: health.clone(),
                dead_letters: dl.clone(),
                flush_every,
            };
            let (bridge, done) = spawn_sink_thread(thread, sink).map_err(io(&spec.id))?;
            let inputs = spec.inputs.iter().map(|i| Arc::from(i.as_str())).collect();
            let queued = queue_gauge(&pipeline.name, &id);
            ctx.run(SinkActor { id, inputs, ended: HashSet::new(), bridge, in_flight: in_flight.clone(), queued });
            sink_counts.push((spec.id.clone(), counters));
            sink_done.push((spec.id.clone(), done));
        }

        let stop_sources = Arc::new(AtomicBool::new(false));
        let batch_max = pipeline.processors.iter().map(|p| p.batch_size()).max().unwrap_or(0).max(MIN_SOURCE_BATCH);
        let mut source_counts = Vec::new();
        for ((spec, source), progress) in pipeline.sources.iter().zip(sources).zip(trackers) {
            let id: Arc<str> = spec.id.as_str().into();
            let counters = Arc::new(ConnectorCounters::default());
            let thread = SourceThread {
                id: id.clone(),
                pipeline: pipeline.name.as_str().into(),
                batch_max,
                stop: stop_sources.clone(),
                counters: counters.clone(),
                in_flight: in_flight.clone(),
                progress: progress.clone(),
            };
            let rx = thread.spawn(source, capacity).map_err(io(&spec.id))?;
            let fanout = fanout(&spec.id);
            SourceActor { id, rx: Some(rx), fanout, dead_letters: dl.clone(), mailbox_capacity: capacity }.start();
            source_counts.push((spec.id.clone(), counters));
        }

        Ok(Graph {
            stop_sources,
            in_flight,
            sources: source_counts,
            processors,
            sinks: sink_counts,
            dead_letter_counts,
            sink_done,
            processor_ended,
            dead_letters: dl,
            dead_letters_done: Some(dl_done),
        })
    }

    fn component_ids(&self) -> Vec<String> {
        let ids = self.sources.iter().map(|(id, _)| id);
        ids.chain(self.processors.iter().map(|(id, _)| id))
            .chain(self.sinks.iter().map(|(id, _)| id))
            .cloned()
            .collect()
    }

    async fn supervise(&mut self, grace: Duration, shutdown: impl Future<Output = ()>) -> RunReport {
        let sink_done = std::mem::take(&mut self.sink_done);
        let processor_ended = std::mem::take(&mut self.processor_ended);
        let finished = async move {
            for ended in processor_ended {
                let _ = ended.await;
            }
            let mut errors = Vec::new();
            for (id, done) in sink_done {
                match done.await {
                    Ok(Ok(())) => {}
                    Ok(Err(e)) => errors.push(format!("sink {id}: {e}")),
                    Err(_) => errors.push(format!("sink {id}: its thread stopped without a final flush")),
                }
            }
            errors
        };
        tokio::pin!(finished, shutdown);
        let (interrupted, outcome) = tokio::select! {
            errors = &mut finished => (false, Some(errors)),
            () = &mut shutdown => (true, None),
        };
        let outcome = match outcome {
            Some(errors) => Some(errors),
            None => {
                tracing::info!(grace = ?grace, in_flight = self.in_flight.get(), "shutdown requested: stopping sources and draining");
                self.stop_sources.store(true, Relaxed);
                tokio::time::timeout(grace, &mut finished).await.ok()
            }
        };
        let drained = outcome.is_some();
        let mut errors = outcome.unwrap_or_default();
        if !drained {
            tracing::warn!(
                in_flight = self.in_flight.get(),
                "grace period expired with {} events still in flight",
                self.in_flight.get()
            );
        }
        errors.extend(self.close_dead_letters(if drained { grace } else { DEAD_LETTER_FLUSH }).await);
        self.report(interrupted, drained, errors)
    }

    async fn close_dead_letters(&mut self, wait: Duration) -> Option<String> {
        let _ = self.dead_letters.send(Close).await;
        let done = self.dead_letters_done.take()?;
        match tokio::time::timeout(wait, done).await {
            Ok(Ok(Ok(()))) => None,
            Ok(Ok(Err(e))) => Some(format!("dead letters: {e}")),
            Ok(Err(_)) | Err(_) => Some("dead letters: not flushed before exit".to_string()),
        }
    }

    fn report(&self, interrupted: bool, drained: bool, errors: Vec<String>) -> RunReport {
        RunReport {
            sources: self
                .sources
                .iter()
                .map(|(id, c)| SourceReport {
                    id: id.clone(),
                    emitted: c.events.load(Relaxed),
                    rejected: c.rejected.load(Relaxed),
                })
                .collect(),
            processors: self.processors.iter().map(|(id, c)| c.report(id)).collect(),
            sinks: self
                .sinks
                .iter()
                .map(|(id, c)| SinkReport {
                    id: id.clone(),
                    written: c.events.load(Relaxed),
                    lost: c.rejected.load(Relaxed),
                })
                .collect(),
            dead_letters_written: self.dead_letter_counts.events.load(Relaxed),
            in_flight: self.in_flight.get(),
            interrupted,
            drained,
            errors,
        }
    }
}
