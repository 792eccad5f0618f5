//! `type: grpc` source: pulls events from a remote `flowctl.v1.SourceService`
//! (`StreamEvents`). A task on the gRPC runtime ([`super::io`]) owns the
//! stream and hands mapped events over a bounded channel to the blocking
//! [`Source`] side, so a slow pipeline slows the remote source (HTTP/2 flow
//! control) and no engine thread drives a socket.
//!
//! When the stream or the connection fails, the task reconnects with
//! exponential backoff and resumes: `SaveState` (the last event flowctl
//! received), `GetState`, then `StreamEvents{resume: true, resume_token}`.
//! Repeats after a resume are dropped by id ([`super::resume`]). A stream the
//! source ends normally ends the source (a finite source). A pipeline that
//! restarts resumes the same way from its saved position (the `SaveState` map
//! of the last finished event); the task connects only once it knows whether
//! to (first poll, or [`Source::resume`]).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;

use tokio::sync::mpsc::{self, error::TryRecvError};
use tokio::sync::oneshot;

use super::mapping;
use super::pb::{self, source_service_client::SourceServiceClient};
use super::remote::{Backoff, Remote, RemoteChannel};
use super::resume::{Dedupe, LastSeen, LAST_EVENT_ID, WINDOW};
use crate::config::GrpcSourceConfig;
use crate::connectors::{ConnectorError, Source, IDLE_POLL};
use crate::event::Event;
use crate::progress::SourcePosition;
use crate::telemetry::names;

/// Events waiting between the stream task and the pipeline: enough to keep
/// the source thread's batches full, small enough to bound memory.
const CHANNEL_EVENTS: usize = 8192;

/// Largest event accepted from a source (tonic's default is 4 MiB; whole
/// Stellar ledgers can be larger).
pub const MAX_MESSAGE_BYTES: usize = 64 * 1024 * 1024;

/// What the stream task hands to the source thread.
enum Item {
    Event(Event),
    /// The remote source ended its stream normally: the source is finished.
    End,
}

pub struct GrpcSource {
    id: String,
    /// Starts the stream task: with a saved position (resume) or without (the
    /// first poll). Until then the task does not connect.
    go: Option<oneshot::Sender<Option<HashMap<String, String>>>>,
    /// The `SaveState` map of the last event polled: this source's position.
    last: std::collections::BTreeMap<String, String>,
    rx: mpsc::Receiver<Item>,
    /// To wait on the channel with a timeout from this (non-runtime) thread.
    runtime: tokio::runtime::Handle,
    /// Payload bytes received, written by the task.
    bytes: Arc<AtomicU64>,
    ended: bool,
    task: tokio::task::JoinHandle<()>,
}

impl GrpcSource {
    /// Checks the remote's settings and starts streaming in the background.
    pub fn start(id: &str, config: &GrpcSourceConfig) -> Result<Self, ConnectorError> {
        let other = |message: String| ConnectorError::Other { connector: id.to_owned(), message };
        let remote = Remote::for_spec(&config.remote).map_err(|e| other(e.to_string()))?;
        let (tx, rx) = mpsc::channel(CHANNEL_EVENTS);
        let (go, started) = oneshot::channel();
        let bytes = Arc::new(AtomicU64::new(0));
        let component = ("component", id.to_owned());
        let stream = StreamTask {
            id: id.to_owned(),
            remote,
            params: config.params.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
            state_key: config.state_key.clone(),
            backoff: Backoff::new(&config.remote.backoff),
            tx,
            bytes: bytes.clone(),
            reconnects: metrics::counter!(names::GRPC_RECONNECTS, std::slice::from_ref(&component)),
            duplicates: metrics::counter!(names::GRPC_DUPLICATES_DROPPED, &[component]),
        };
        let runtime = super::io::handle();
        let task = runtime.spawn(stream.run(started));
        Ok(Self { id: id.to_owned(), go: Some(go), last: Default::default(), rx, runtime, bytes, ended: false, task })
    }

    fn task_gone(&mut self) -> Result<bool, ConnectorError> {
        self.ended = true;
        Err(ConnectorError::Other { connector: self.id.clone(), message: "the gRPC stream task stopped".into() })
    }
}

impl Source for GrpcSource {
    fn poll_batch(&mut self, out: &mut Vec<Event>, max: usize) -> Result<bool, ConnectorError> {
        if let Some(go) = self.go.take() {
            let _ = go.send(None);
        }
        if self.ended {
            return Ok(false);
        }
        let first = match self.rx.try_recv() {
            Ok(item) => item,
            Err(TryRecvError::Disconnected) => return self.task_gone(),
            Err(TryRecvError::Empty) => {
                let rx = &mut self.rx;
                // The timer must be made inside the runtime: hence the async block.
                match self.runtime.block_on(async { tokio::time::timeout(IDLE_POLL, rx.recv()).await }) {
                    Err(_idle) => return Ok(true),
                    Ok(None) => return self.task_gone(),
                    Ok(Some(item)) => item,
                }
            }
        };
        let start = out.len();
        let mut next = Some(first);
        while let Some(item) = next.take() {
            match item {
                Item::Event(event) => {
                    self.last = saved_state(&event);
                    out.push(event);
                }
                Item::End => {
                    self.ended = true;
                    return Ok(false);
                }
            }
            if out.len() - start < max {
                next = self.rx.try_recv().ok();
            }
        }
        Ok(true)
    }

    fn bytes_read(&self) -> Option<u64> {
        Some(self.bytes.load(Relaxed))
    }

    /// Empty before the first event: resuming from it starts the stream over.
    fn position(&self) -> Option<SourcePosition> {
        Some(SourcePosition::Grpc { state: self.last.clone() })
    }

    /// The first stream tells the remote source where the last run finished
    /// (`SaveState`) and resumes from its token, as after a dropped stream.
    fn resume(&mut self, at: &SourcePosition) -> Result<(), ConnectorError> {
        let SourcePosition::Grpc { state } = at else {
            return Err(ConnectorError::Other {
                connector: self.id.clone(),
                message: format!("the saved position is a {} position, not a grpc source's; run with --from-start or `flowctl state reset`", at.kind()),
            });
        };
        self.last = state.clone();
        if let Some(go) = self.go.take() {
            let state = (!state.is_empty()).then(|| state.iter().map(|(k, v)| (k.clone(), v.clone())).collect());
            let _ = go.send(state);
        }
        Ok(())
    }
}

/// The `SaveState` map for `event` (its id, and its Stellar cursor if it has one).
fn saved_state(event: &Event) -> std::collections::BTreeMap<String, String> {
    let mut state = std::collections::BTreeMap::from([(LAST_EVENT_ID.to_owned(), event.id().to_owned())]);
    for (key, value) in event.metadata() {
        if key == mapping::keys::LEDGER_SEQUENCE || key == mapping::keys::INDEX_IN_LEDGER {
            state.insert(key.into_owned(), value.into_owned());
        }
    }
    state
}

impl Drop for GrpcSource {
    fn drop(&mut self) {
        // The pipeline stopped: stop reading (and reconnecting) now.
        self.task.abort();
    }
}

/// Why one stream ended other than normally.
#[derive(Debug, thiserror::Error)]
enum StreamFailure {
    #[error("cannot connect: {0}")]
    Connect(#[from] tonic::transport::Error),
    #[error("{}: {}", .0.code(), .0.message())]
    Status(#[from] tonic::Status),
}

/// How one stream ended without failing.
enum StreamEnd {
    /// The remote source ended it: no more events.
    Finished,
    /// The pipeline stopped reading.
    Abandoned,
}

/// The task that owns the connection, across reconnects.
struct StreamTask {
    id: String,
    remote: Remote,
    params: HashMap<String, String>,
    state_key: String,
    backoff: Backoff,
    tx: mpsc::Sender<Item>,
    bytes: Arc<AtomicU64>,
    reconnects: metrics::Counter,
    duplicates: metrics::Counter,
}

impl StreamTask {
    /// Waits for `started` (the position to resume from, if any), then streams.
    async fn run(mut self, started: oneshot::Receiver<Option<HashMap<String, String>>>) {
        let saved = tokio::select! {
            saved = started => saved.ok().flatten(),
            () = self.tx.closed() => return,
        };
        let mut dedupe = Dedupe::new(WINDOW);
        let mut last = saved.as_ref().map(LastSeen::from_state).unwrap_or_default();
        let mut resume = saved.is_some();
        let mut reconnects = 0u64;
        loop {
            match self.stream_once(&mut dedupe, &mut last, std::mem::take(&mut resume) || reconnects > 0).await {
                Ok(StreamEnd::Finished) => {
                    tracing::info!(component = %self.id, endpoint = %self.remote.uri(), reconnects,
                        duplicates_dropped = dedupe.dropped(), "grpc source: the remote source ended its stream");
                    let _ = self.tx.send(Item::End).await;
                    return;
                }
                Ok(StreamEnd::Abandoned) => return,
                Err(failure) => {
                    let delay = self.backoff.next_delay();
                    reconnects += 1;
                    self.reconnects.increment(1);
                    tracing::warn!(component = %self.id, endpoint = %self.remote.uri(), error = %failure,
                        retry_in_ms = delay.as_millis() as u64, reconnects,
                        "grpc source: stream failed; reconnecting and resuming");
                    tokio::select! {
                        () = tokio::time::sleep(delay) => {}
                        () = self.tx.closed() => return,
                    }
                }
            }
        }
    }

    /// One connection and one `StreamEvents` call, until it ends or fails.
    async fn stream_once(
        &mut self,
        dedupe: &mut Dedupe,
        last: &mut LastSeen,
        reconnect: bool,
    ) -> Result<StreamEnd, StreamFailure> {
        let channel = self.remote.connect().await?;
        let mut client = SourceServiceClient::new(channel).max_decoding_message_size(MAX_MESSAGE_BYTES);
        let request = match reconnect {
            true => {
                dedupe.resumed();
                self.resume_request(&mut client, last).await
            }
            false => self.fresh_request(),
        };
        let mut stream = client.stream_events(request).await?.into_inner();
        let mut delivered_any = false;
        while let Some(event) = stream.message().await? {
            self.bytes.fetch_add(event.payload.len() as u64, Relaxed);
            if !dedupe.admit(&event.id) {
                self.duplicates.increment(1);
                continue;
            }
            if !delivered_any {
                // The peer works again: the next failure starts the backoff over.
                delivered_any = true;
                self.backoff.reset();
            }
            last.record(&event);
            if self.tx.send(Item::Event(mapping::from_proto(event))).await.is_err() {
                return Ok(StreamEnd::Abandoned);
            }
        }
        Ok(StreamEnd::Finished)
    }

    fn fresh_request(&self) -> pb::StreamRequest {
        pb::StreamRequest { params: self.params.clone(), resume: false, resume_token: String::new() }
    }

    /// Tells the source where flowctl got to, asks for its token, and asks to
    /// resume from it. Without a token the stream starts over (`resume: false`)
    /// and the id window drops what was delivered already.
    async fn resume_request(
        &self,
        client: &mut SourceServiceClient<RemoteChannel>,
        last: &LastSeen,
    ) -> pb::StreamRequest {
        let Some(state) = last.state() else {
            return self.fresh_request();
        };
        let key = self.state_key.clone();
        if let Err(status) = client.save_state(pb::SaveStateRequest { state, key: key.clone() }).await {
            tracing::warn!(component = %self.id, code = %status.code(), "grpc source: SaveState failed: {}", status.message());
        }
        match client.get_state(pb::StateRequest { key }).await {
            Ok(response) if !response.get_ref().resume_token.is_empty() => pb::StreamRequest {
                params: self.params.clone(),
                resume: true,
                resume_token: response.into_inner().resume_token,
            },
            Ok(_) => {
                tracing::warn!(component = %self.id, "grpc source: GetState returned no resume token; starting over");
                self.fresh_request()
            }
            Err(status) => {
                tracing::warn!(component = %self.id, code = %status.code(),
                    "grpc source: GetState failed ({}); starting over", status.message());
                self.fresh_request()
            }
        }
    }
}
