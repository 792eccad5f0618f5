//! The `type: grpc` sink's task: `Consume` streams, one at a time.
//!
//! A `ConsumeResponse` only arrives when a stream ends, so streams rotate:
//! after `stream_events` events or `stream_timeout` (or at a flush) the send
//! side is closed and the response read. Every event sent on the open stream
//! stays "unconfirmed" until then. When a stream fails (consumer gone,
//! connection refused, an error status), the task reconnects with backoff and
//! sends the unconfirmed events again on a new stream; after `max_retries`
//! failed attempts in a row it dead-letters them (`grpc_unavailable`).
//! Nothing is dropped silently: each event is confirmed, dead-lettered, or
//! still held.
//!
//! Events arrive encoded (by the sink thread, once): a stream sends those
//! bytes as they are ([`PreEncodedCodec`]), so a re-send copies nothing but a
//! reference, and only the rare paths (a consumer naming failed events, dead
//! letters) decode them again.

use std::collections::VecDeque;
use std::time::Duration;

use bytes::Bytes;
use prost::Message as _;
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;
use tokio_stream::wrappers::ReceiverStream;
use tonic::codegen::http::uri::PathAndQuery;

use super::codec::PreEncodedCodec;
use super::consume_reply::{self, CONSUMER_REJECTED, GRPC_UNAVAILABLE};
use super::pb;
use super::remote::{Backoff, Remote, RemoteChannel};
use super::sink::Failures;

/// Events buffered between the task and the open stream's HTTP/2 body.
const REQUEST_BUFFER: usize = 1024;

/// Longest wait for a `ConsumeResponse` after the stream was closed, or for
/// room on a stream the consumer stopped reading; a consumer that takes
/// longer counts as failed (its events are sent again).
const CONFIRM_TIMEOUT: Duration = Duration::from_secs(60);

/// What the sink thread sends.
pub(super) enum Command {
    /// Encoded `flowctl.v1.Event`s.
    Events(Vec<Bytes>),
    /// Answer once everything sent before is confirmed or dead-lettered.
    Flush(oneshot::Sender<()>),
}

/// Events in hand and how delivering them goes.
#[derive(Default)]
pub(super) struct DeliveryState {
    /// Written, not yet put on a stream.
    pending: VecDeque<Bytes>,
    /// Put on the current (or last failed) stream, not yet confirmed.
    unconfirmed: Vec<Bytes>,
    /// Failed attempts in a row for `unconfirmed`.
    failed_attempts: u32,
    last_error: String,
    /// Flushes waiting for everything in hand to be confirmed.
    flushes: Vec<oneshot::Sender<()>>,
    client: Option<tonic::client::Grpc<RemoteChannel>>,
}

pub(super) struct ConsumeTask {
    pub id: String,
    pub remote: Remote,
    pub stream_events: usize,
    pub stream_timeout: Duration,
    /// `max_retries`, at least one.
    pub max_attempts: u32,
    pub backoff: Backoff,
    pub rx: mpsc::Receiver<Command>,
    pub failures: Failures,
    pub reconnects: metrics::Counter,
    pub resent: metrics::Counter,
    pub state: DeliveryState,
}

/// How one stream attempt ended.
enum Attempt {
    /// Closed by flowctl and answered: every event on it is done.
    Confirmed(pb::ConsumeResponse),
    /// The consumer answered before flowctl closed the stream: only the
    /// first `consumed + failed` events are known to have been read.
    EndedEarly(pb::ConsumeResponse),
    Failed(String),
}

impl ConsumeTask {
    pub async fn run(mut self) {
        loop {
            let s = &mut self.state;
            if s.pending.is_empty() && s.unconfirmed.is_empty() {
                for done in s.flushes.drain(..) {
                    let _ = done.send(());
                }
                match self.rx.recv().await {
                    None => return,
                    Some(Command::Events(events)) => s.pending.extend(events),
                    Some(Command::Flush(done)) => s.flushes.push(done),
                }
                continue;
            }
            let attempt = self.attempt().await;
            self.settle(attempt).await;
        }
    }

    /// One stream: (re)sends the unconfirmed events, or takes new ones until
    /// the stream is full, its time is up or a flush asks; closes; reads the answer.
    async fn attempt(&mut self) -> Attempt {
        let s = &mut self.state;
        let retry = !s.unconfirmed.is_empty();
        if !retry {
            let n = s.pending.len().min(self.stream_events);
            s.unconfirmed.extend(s.pending.drain(..n));
        }
        let mut client = match &s.client {
            Some(client) => client.clone(),
            None => match self.remote.connect().await {
                Ok(channel) => s.client.insert(tonic::client::Grpc::new(channel)).clone(),
                Err(error) => return Attempt::Failed(format!("cannot connect: {error}")),
            },
        };
        let deadline = Instant::now() + self.stream_timeout;
        let (req_tx, req_rx) = mpsc::channel(REQUEST_BUFFER);
        let mut call = tokio::spawn(async move { consume(&mut client, req_rx).await });
        if retry {
            self.resent.increment(s.unconfirmed.len() as u64);
        }
        let mut open = true;
        for event in &s.unconfirmed {
            match put(&req_tx, event.clone()).await {
                Put::Sent => {}
                Put::Closed => {
                    open = false; // the call ended: its result says why
                    break;
                }
                Put::Stalled => return stalled(call),
            }
        }
        // A retry stream carries exactly the events that failed, so their attempts count true.
        while open && !retry && s.unconfirmed.len() < self.stream_events && Instant::now() < deadline {
            if let Some(event) = s.pending.pop_front() {
                // Unconfirmed from now on, whatever happens to the stream.
                s.unconfirmed.push(event.clone());
                match put(&req_tx, event).await {
                    Put::Sent => {}
                    Put::Closed => open = false,
                    Put::Stalled => return stalled(call),
                }
                continue;
            }
            tokio::select! {
                command = self.rx.recv() => match command {
                    Some(Command::Events(events)) => s.pending.extend(events),
                    Some(Command::Flush(done)) => {
                        s.flushes.push(done);
                        break;
                    }
                    None => break,
                },
                () = tokio::time::sleep_until(deadline) => break,
                result = &mut call => return early(result),
            }
        }
        // An answer that came before the close may not cover what was still buffered.
        open &= !call.is_finished();
        drop(req_tx); // closes the send side: the consumer answers now
        match tokio::time::timeout(CONFIRM_TIMEOUT, &mut call).await {
            Ok(result) if open => confirmed(result),
            Ok(result) => early(result),
            Err(_) => {
                call.abort();
                Attempt::Failed(format!("no ConsumeResponse within {CONFIRM_TIMEOUT:?}"))
            }
        }
    }

    /// Applies an attempt's outcome: dead letters, re-queueing, backoff.
    async fn settle(&mut self, attempt: Attempt) {
        let s = &mut self.state;
        match attempt {
            Attempt::Confirmed(response) => {
                let sent = std::mem::take(&mut s.unconfirmed);
                self.reject(&response, &sent);
                self.succeeded();
            }
            Attempt::EndedEarly(response) => {
                let read = (response.events_consumed.max(0) + response.events_failed.max(0)) as usize;
                let read = read.min(s.unconfirmed.len());
                let unread = s.unconfirmed.split_off(read);
                let sent = std::mem::take(&mut s.unconfirmed);
                tracing::warn!(component = %self.id, read, unread = unread.len(),
                    "grpc sink: the consumer ended a stream before flowctl closed it; sending the unread events again");
                self.resent.increment(unread.len() as u64);
                for event in unread.into_iter().rev() {
                    self.state.pending.push_front(event);
                }
                self.reject(&response, &sent);
                if read > 0 {
                    self.succeeded();
                } else {
                    self.failed("the consumer ended the stream without reading from it".into()).await;
                }
            }
            Attempt::Failed(error) => self.failed(error).await,
        }
    }

    fn succeeded(&mut self) {
        self.state.failed_attempts = 0;
        self.backoff.reset();
    }

    /// Dead-letters the events the response names as failed.
    fn reject(&self, response: &pb::ConsumeResponse, sent: &[Bytes]) {
        if response.events_failed <= 0 {
            return;
        }
        let sent: Vec<pb::Event> = sent.iter().map(decode).collect();
        let verdict = consume_reply::judge(response, &sent);
        if verdict.unnamed > 0 {
            tracing::warn!(component = %self.id, events_failed = response.events_failed,
                named = verdict.rejected.len(), unnamed = verdict.unnamed, errors = ?response.errors,
                "grpc sink: the consumer reported failed events without naming them; only named ones are dead-lettered");
        }
        let letters: Vec<_> = verdict
            .rejected
            .into_iter()
            .map(|(i, reason)| consume_reply::dead_letter(&self.id, CONSUMER_REJECTED, reason, &sent[i]))
            .collect();
        self.push_failures(letters);
    }

    /// A failed attempt: back off and try again, or give the events up.
    async fn failed(&mut self, error: String) {
        let s = &mut self.state;
        s.client = None;
        s.failed_attempts += 1;
        s.last_error = error;
        if s.failed_attempts >= self.max_attempts {
            let message = format!(
                "gave up after {} failed attempts to deliver to {}: {}",
                s.failed_attempts,
                self.remote.uri(),
                s.last_error
            );
            tracing::error!(component = %self.id, events = s.unconfirmed.len(), "grpc sink: {message}");
            let letters = std::mem::take(&mut s.unconfirmed)
                .iter()
                .map(|event| consume_reply::dead_letter(&self.id, GRPC_UNAVAILABLE, message.clone(), &decode(event)))
                .collect();
            s.failed_attempts = 0;
            self.push_failures(letters);
            return;
        }
        let delay = self.backoff.next_delay();
        self.reconnects.increment(1);
        tracing::warn!(component = %self.id, endpoint = %self.remote.uri(), error = %s.last_error,
            attempt = s.failed_attempts, unconfirmed = s.unconfirmed.len(), retry_in_ms = delay.as_millis() as u64,
            "grpc sink: stream failed; reconnecting to send the unconfirmed events again");
        tokio::time::sleep(delay).await;
    }

    fn push_failures(&self, letters: Vec<crate::connectors::DeadLetter>) {
        if !letters.is_empty() {
            self.failures.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).extend(letters);
        }
    }
}

/// How putting one event on a stream went.
enum Put {
    Sent,
    /// The call already ended (its result says why).
    Closed,
    /// The consumer stopped reading for [`CONFIRM_TIMEOUT`].
    Stalled,
}

/// Puts one event on the stream. Waiting for room has a deadline, so a
/// consumer that stops reading cannot block the sink forever; the timer is
/// only armed when the buffer is full.
async fn put(tx: &mpsc::Sender<Bytes>, event: Bytes) -> Put {
    let event = match tx.try_send(event) {
        Ok(()) => return Put::Sent,
        Err(mpsc::error::TrySendError::Closed(_)) => return Put::Closed,
        Err(mpsc::error::TrySendError::Full(event)) => event,
    };
    match tokio::time::timeout(CONFIRM_TIMEOUT, tx.send(event)).await {
        Ok(Ok(())) => Put::Sent,
        Ok(Err(_)) => Put::Closed,
        Err(_) => Put::Stalled,
    }
}

/// `ConsumerService.Consume` with events encoded already (what the generated client does, with [`PreEncodedCodec`]).
async fn consume(client: &mut tonic::client::Grpc<RemoteChannel>, events: mpsc::Receiver<Bytes>) -> CallResult {
    client.ready().await.map_err(|e| tonic::Status::unavailable(format!("consumer not ready: {e}")))?;
    let path = PathAndQuery::from_static("/flowctl.v1.ConsumerService/Consume");
    let codec = PreEncodedCodec::<pb::ConsumeResponse>::default();
    client.client_streaming(tonic::Request::new(ReceiverStream::new(events)), path, codec).await
}

/// An event this task encoded, decoded again for a dead letter or a verdict.
fn decode(encoded: &Bytes) -> pb::Event {
    // The sink encoded it: decoding cannot fail; an empty event would still name nothing wrongly.
    pb::Event::decode(encoded.clone()).unwrap_or_default()
}

fn stalled(call: tokio::task::JoinHandle<CallResult>) -> Attempt {
    call.abort();
    Attempt::Failed(format!("the consumer read nothing for {CONFIRM_TIMEOUT:?}"))
}

type CallResult = Result<tonic::Response<pb::ConsumeResponse>, tonic::Status>;

fn outcome(result: Result<CallResult, tokio::task::JoinError>) -> Result<pb::ConsumeResponse, String> {
    match result {
        Ok(Ok(response)) => Ok(response.into_inner()),
        Ok(Err(status)) => Err(format!("{}: {}", status.code(), status.message())),
        Err(join) => Err(format!("the call task stopped: {join}")),
    }
}

fn confirmed(result: Result<CallResult, tokio::task::JoinError>) -> Attempt {
    outcome(result).map_or_else(Attempt::Failed, Attempt::Confirmed)
}

fn early(result: Result<CallResult, tokio::task::JoinError>) -> Attempt {
    outcome(result).map_or_else(Attempt::Failed, Attempt::EndedEarly)
}
