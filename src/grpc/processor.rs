//! `type: grpc` processors: a remote `flowctl.v1.ProcessorService` as a
//! pipeline stage, in place of the WASM instance pool. The processor's
//! batcher still cuts numbered batches and its collector still puts the
//! results back in order; in between, [`GrpcStage`] runs each batch as one
//! `Process` stream on the gRPC runtime ([`super::io`]): send the batch,
//! half-close, read until the server ends the stream. So a remote processor
//! may filter (no output) or split (several), and order holds across batches.
//!
//! A failed stream is retried whole after a backoff (outputs of the failed
//! attempt are discarded, so nothing is emitted twice); once `max_retries`
//! are spent, every event of the batch is dead-lettered and the pipeline
//! goes on. While attempts fail, `/readyz` names the processor.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use actix::prelude::*;
use bytes::Bytes;
use prost::Message as _;
use tokio::sync::{mpsc, OwnedSemaphorePermit, Semaphore};
use tonic::codegen::http::uri::PathAndQuery;

use super::codec::PreEncodedCodec;
use super::mapping::{from_proto, to_proto};
use super::pb;
use super::remote::{Backoff, Remote, RemoteChannel, RemoteError};
use crate::actors::messages::{Job, WorkerOutput};
use crate::actors::stats::{BatchStats, JobResult, Outcome};
use crate::actors::versions::VersionSet;
use crate::config::GrpcProcessorConfig;
use crate::connectors::DeadLetter;
use crate::event::Event;
use crate::progress::Ticket;
use crate::telemetry::Health;

/// The version name a remote processor's batches, metrics and dead letters carry.
pub const VERSION: &str = "grpc";

/// Why one attempt at a batch failed.
#[derive(Debug, thiserror::Error)]
pub enum CallError {
    #[error("{endpoint} answered {code:?}: {message}")]
    Status { endpoint: String, code: tonic::Code, message: String },
    #[error("{endpoint} did not finish the batch within {timeout:?}")]
    Timeout { endpoint: String, timeout: Duration },
}

impl CallError {
    fn status(endpoint: &str, status: &tonic::Status) -> Self {
        CallError::Status { endpoint: endpoint.to_owned(), code: status.code(), message: status.message().to_owned() }
    }

    /// The dead letters' `error_kind`: a small fixed set (it is a metric label).
    pub fn kind(&self) -> &'static str {
        match self {
            // A refused or lost connection surfaces as UNAVAILABLE, or UNKNOWN
            // ("service was not ready", a broken HTTP/2 stream), or CANCELLED.
            CallError::Status {
                code: tonic::Code::Unavailable | tonic::Code::Unknown | tonic::Code::Cancelled,
                ..
            } => "grpc_unavailable",
            CallError::Status { .. } => "grpc_error",
            CallError::Timeout { .. } => "grpc_timeout",
        }
    }
}

/// Dispatcher actor of one `type: grpc` processor: takes the batcher's jobs,
/// runs up to `concurrency` batches at once, hands results to the collector.
pub struct GrpcStage {
    caller: Arc<Caller>,
    /// Bounds the batches between dispatch and in-order emission; a permit
    /// travels with its batch's result and is released by the collector.
    permits: Arc<Semaphore>,
    /// For the end marker; running batches hold clones.
    results: Option<mpsc::Sender<WorkerOutput>>,
}

impl GrpcStage {
    /// Prepares the client (it connects on the first batch, and again after
    /// a lost connection). Results arrive on the returned receiver, for the
    /// processor's collector.
    pub fn new(
        processor: Arc<str>,
        pipeline: &str,
        config: &GrpcProcessorConfig,
        health: Health,
    ) -> Result<(GrpcStage, mpsc::Receiver<WorkerOutput>), RemoteError> {
        let remote = Remote::for_spec(&config.remote)?;
        // The channel's connection task runs on the gRPC runtime, never on actix's thread.
        let channel = {
            let _on_grpc_runtime = super::io::runtime().enter();
            remote.connect_lazy()
        };
        let concurrency = config.concurrency.max(1);
        // One more than the batches in flight: room for the end marker.
        let (results_tx, results_rx) = mpsc::channel(concurrency + 1);
        let caller = Caller {
            processor,
            pipeline: pipeline.to_owned(),
            endpoint: remote.uri().to_owned(),
            channel,
            timeout: config.timeout,
            max_retries: config.max_retries,
            backoff: Backoff::new(&config.remote.backoff),
            health: StageHealth { health, state: Mutex::new(Failing::default()) },
            versions: Arc::new(VersionSet::no_module()),
        };
        let stage = GrpcStage {
            caller: Arc::new(caller),
            permits: Arc::new(Semaphore::new(concurrency)),
            results: Some(results_tx),
        };
        Ok((stage, results_rx))
    }
}

impl Actor for GrpcStage {
    type Context = Context<Self>;
}

impl Handler<Job> for GrpcStage {
    type Result = ();

    fn handle(&mut self, job: Job, ctx: &mut Self::Context) {
        match job {
            Job::Batch { seq, events, .. } => {
                let Some(results) = self.results.clone() else {
                    tracing::error!(component = %self.caller.processor, seq, "batch arrived after the end of stream");
                    return;
                };
                let (permits, caller) = (self.permits.clone(), self.caller.clone());
                // Waiting for a permit here (not in the task) keeps the batcher
                // waiting too: backpressure, and batches start in order.
                let dispatch = async move {
                    let Ok(permit) = permits.acquire_owned().await else { return };
                    super::io::handle().spawn(async move {
                        let result = caller.run(seq, events, permit).await;
                        let _ = results.send(WorkerOutput::Done(Box::new(result))).await;
                    });
                };
                ctx.wait(dispatch.into_actor(self));
            }
            Job::End { next_seq } => {
                if let Some(results) = self.results.take() {
                    let end = async move {
                        let _ = results.send(WorkerOutput::End { next_seq }).await;
                    };
                    ctx.wait(end.into_actor(self));
                }
            }
        }
    }
}

/// What every batch of one processor shares.
struct Caller {
    processor: Arc<str>,
    /// `source_component_id` of events flowctl made itself.
    pipeline: String,
    endpoint: String,
    channel: RemoteChannel,
    timeout: Duration,
    max_retries: u32,
    /// Cloned per batch: each batch backs off on its own.
    backoff: Backoff,
    health: StageHealth,
    versions: Arc<VersionSet>,
}

impl Caller {
    /// One batch, retried whole until it succeeds or the retries are spent.
    async fn run(&self, seq: u64, events: Vec<Event>, permit: OwnedSemaphorePermit) -> JobResult {
        let start = Instant::now();
        // Encoded once: a retry sends the same bytes again.
        let wire: Vec<Bytes> =
            events.iter().map(|e| Bytes::from(to_proto(e, &self.pipeline).encode_to_vec())).collect();
        let mut backoff = self.backoff.clone();
        let mut attempt = 0;
        let outcome = loop {
            let began = Instant::now();
            match self.attempt(&wire).await {
                Ok(outputs) => {
                    self.health.up(&self.processor, began);
                    break Ok(outputs);
                }
                Err(err) => {
                    self.health.down(&self.processor, &err);
                    if attempt >= self.max_retries {
                        break Err(err);
                    }
                    attempt += 1;
                    let delay = backoff.next_delay();
                    tracing::debug!(component = %self.processor, seq, attempt, ?delay, "retrying a batch: {err}");
                    tokio::time::sleep(delay).await;
                }
            }
        };
        let busy_ns = start.elapsed().as_nanos() as u64;
        self.result(seq, events, outcome, busy_ns, permit)
    }

    /// One `Process` stream: the whole batch out, every output back.
    async fn attempt(&self, batch: &[Bytes]) -> Result<Vec<pb::Event>, CallError> {
        let call = async {
            // `ProcessorService.Process` as the generated client calls it, with events encoded already.
            let mut client = tonic::client::Grpc::new(self.channel.clone());
            let status = |s: tonic::Status| CallError::status(&self.endpoint, &s);
            let not_ready = |e| status(tonic::Status::unknown(format!("Service was not ready: {e}")));
            client.ready().await.map_err(not_ready)?;
            let path = PathAndQuery::from_static("/flowctl.v1.ProcessorService/Process");
            // The request stream ends after the batch: that is the half-close.
            let request = tonic::Request::new(tokio_stream::iter(batch.to_vec()));
            let codec = PreEncodedCodec::<pb::Event>::default();
            let mut stream = client.streaming(request, path, codec).await.map_err(status)?.into_inner();
            let mut outputs = Vec::with_capacity(batch.len());
            while let Some(event) = stream.message().await.map_err(status)? {
                outputs.push(event);
            }
            Ok(outputs)
        };
        tokio::time::timeout(self.timeout, call)
            .await
            .unwrap_or_else(|_| Err(CallError::Timeout { endpoint: self.endpoint.clone(), timeout: self.timeout }))
    }

    fn result(
        &self,
        seq: u64,
        events: Vec<Event>,
        outcome: Result<Vec<pb::Event>, CallError>,
        busy_ns: u64,
        permit: OwnedSemaphorePermit,
    ) -> JobResult {
        let received = events.len() as u64;
        let mut total = BatchStats { received, busy_ns, ..BatchStats::default() };
        let (outputs, dead_letters, failed) = match outcome {
            Ok(wire) => {
                // The protocol does not tie outputs to inputs: each holds the whole batch's source input.
                let ticket = Ticket::group(events.iter().filter_map(Event::ticket));
                let outputs: Vec<Event> = wire.into_iter().map(|e| from_proto(e).with_ticket(ticket.clone())).collect();
                total.emitted = outputs.len() as u64;
                total.produced = produced(&events, &outputs);
                total.filtered = received - total.produced;
                (outputs, Vec::new(), false)
            }
            Err(err) => {
                tracing::warn!(component = %self.processor, seq, events = received, "dead-lettering a batch: {err}");
                total.dead_lettered = received;
                let (kind, message, at) = (err.kind(), err.to_string(), Event::now_millis());
                let letters = events
                    .into_iter()
                    .map(|event| DeadLetter {
                        processor: self.processor.to_string(),
                        version: VERSION.to_owned(),
                        error_kind: kind.to_owned(),
                        message: message.clone(),
                        at,
                        event,
                    })
                    .collect();
                (Vec::new(), letters, true)
            }
        };
        let outcomes = vec![Outcome { version: 0, failed }; received as usize];
        JobResult {
            seq,
            outputs,
            dead_letters,
            per_version: vec![(VERSION.into(), total.clone())],
            total,
            versions: self.versions.clone(),
            outcomes,
            permit: Some(permit),
        }
    }
}

/// Inputs that yielded an output. The protocol does not tie outputs to
/// inputs, so an input counts as produced when an output carries its id;
/// a processor that gives every output a new id gets `min(inputs, outputs)`.
fn produced(inputs: &[Event], outputs: &[Event]) -> u64 {
    if outputs.is_empty() {
        return 0;
    }
    let ids: std::collections::HashSet<&str> = outputs.iter().map(|e| e.id()).collect();
    let matched = inputs.iter().filter(|e| ids.contains(e.id())).count();
    let n = if matched > 0 { matched } else { inputs.len().min(outputs.len()) };
    n as u64
}

/// Readiness of one remote processor: down from a failed attempt until an
/// attempt that began after the last failure succeeds (a stream opened
/// before the server died may still end well, and proves nothing).
struct StageHealth {
    health: Health,
    state: Mutex<Failing>,
}

#[derive(Default)]
struct Failing {
    /// Whether the last transition was to down (to log transitions once).
    down: bool,
    last_failure: Option<Instant>,
}

impl StageHealth {
    fn lock(&self) -> std::sync::MutexGuard<'_, Failing> {
        // Two plain fields, each assigned whole: a poisoned value is still consistent.
        self.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn down(&self, id: &str, err: &CallError) {
        let mut state = self.lock();
        state.last_failure = Some(Instant::now());
        // Set on every failure, not only on the transition: the supervisor
        // marks every component up once the graph started, which may come later.
        self.health.set_down(id, format!("grpc processor failing: {err}"));
        if !state.down {
            state.down = true;
            tracing::warn!(component = %id, "processor down: {err}");
        }
    }

    fn up(&self, id: &str, began: Instant) {
        let mut state = self.lock();
        if state.down && state.last_failure.is_none_or(|failed| began > failed) {
            state.down = false;
            self.health.set_up(id);
            tracing::info!(component = %id, "processor recovered: the remote processor answers again");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn events(ids: &[&str]) -> Vec<Event> {
        ids.iter().map(|id| Event::new(*id, "t", 0, serde_json::json!({}))).collect()
    }

    #[test]
    fn produced_counts_inputs_by_id_and_falls_back_to_counts() {
        let inputs = events(&["a", "b", "c"]);
        assert_eq!(produced(&inputs, &events(&["a", "a", "c"])), 2, "a split and a filter");
        assert_eq!(produced(&inputs, &events(&["x", "y"])), 2, "new ids: as many as outputs");
        assert_eq!(produced(&inputs, &events(&["x", "y", "z", "w"])), 3, "never more than the inputs");
        assert_eq!(produced(&inputs, &[]), 0);
    }

    #[test]
    fn lost_connections_are_unavailable() {
        let status = |code| CallError::Status { endpoint: "e".into(), code, message: String::new() };
        assert_eq!(status(tonic::Code::Unavailable).kind(), "grpc_unavailable");
        assert_eq!(status(tonic::Code::Unknown).kind(), "grpc_unavailable");
        assert_eq!(status(tonic::Code::InvalidArgument).kind(), "grpc_error");
        let timeout = CallError::Timeout { endpoint: "e".into(), timeout: Duration::from_secs(1) };
        assert_eq!(timeout.kind(), "grpc_timeout");
    }
}
