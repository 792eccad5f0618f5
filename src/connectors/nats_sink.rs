//! The `nats` sink: publishes each event to a JetStream subject, its JSON as
//! the payload, `Nats-Msg-Id` = the event id (so the stream's duplicate window
//! turns a replay after a crash into a no-op), its type and metadata as
//! headers. `write` publishes without waiting (acknowledgements pile up, at
//! most [`MAX_UNCONFIRMED`]); `flush` waits for every acknowledgement, and the
//! engine lets an event count as finished only after a flush: an event is
//! done only once JetStream stored it. A publish that fails or is not
//! acknowledged (the server restarting, a leader election) is sent again with
//! backoff, for about ten seconds, before the sink gives up: the event id
//! makes a repeat harmless.

use async_nats::jetstream::{self, context::PublishAckFuture};
use std::future::IntoFuture;

use async_nats::{HeaderMap, Subject};

use super::nats::{error, open_stream};
use super::{ConnectorError, Sink};
use crate::config::NatsSinkConfig;
use crate::event::Event;

/// Header carrying the event type; metadata goes under `Flowctl-Meta-<key>`.
pub const TYPE_HEADER: &str = "Flowctl-Type";
pub const META_HEADER_PREFIX: &str = "Flowctl-Meta-";

/// Publishes not yet acknowledged, at most: past it `write` waits for the
/// older half, so memory stays bounded between flushes.
pub const MAX_UNCONFIRMED: usize = 16_384;

/// Sends of one event after its first, and the waits between them (doubling).
const RETRIES: u32 = 8;
const FIRST_BACKOFF: std::time::Duration = std::time::Duration::from_millis(100);
const MAX_BACKOFF: std::time::Duration = std::time::Duration::from_secs(2);

/// How long JetStream may take to acknowledge the publishes a flush waits for.
const ACK_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

/// How often the engine collects the acknowledgements while busy.
const FLUSH_EVERY: std::time::Duration = std::time::Duration::from_millis(5);

pub struct NatsSink {
    id: String,
    subject: Subject,
    js: jetstream::Context,
    runtime: tokio::runtime::Handle,
    /// Each published event (for a resend) with its acknowledgement to come.
    unconfirmed: std::collections::VecDeque<(Event, PublishAckFuture)>,
    written: u64,
}

impl NatsSink {
    pub fn start(id: &str, config: &NatsSinkConfig) -> Result<Self, ConnectorError> {
        let runtime = crate::grpc::io::handle();
        let (js, _) = runtime.block_on(open_stream(id, &config.url, &config.stream, &config.subject))?;
        tracing::info!(sink = id, url = %config.url, stream = %config.stream, subject = %config.subject, "nats sink connected");
        Ok(Self {
            id: id.to_owned(),
            subject: Subject::from(config.subject.as_str()),
            js,
            runtime,
            unconfirmed: Default::default(),
            written: 0,
        })
    }

    /// Waits for the acknowledgements of all but the last `keep` publishes,
    /// sending again what is not acknowledged.
    fn confirm(&mut self, keep: usize) -> Result<(), ConnectorError> {
        let settle = self.unconfirmed.len().saturating_sub(keep);
        let (js, subject, id) = (&self.js, &self.subject, self.id.as_str());
        let settling = self.unconfirmed.drain(..settle);
        self.runtime.block_on(async {
            let failed = failures(settling).await;
            if failed.is_empty() {
                return Ok(());
            }
            resend(js, subject, id, failed).await
        })
    }
}

/// Waits for each acknowledgement in turn, all within one [`ACK_TIMEOUT`];
/// returns the events not acknowledged, and why. They are all on their way
/// already, so waiting in order takes as long as waiting for all at once, and
/// the one deadline keeps a lost connection from costing a timeout per event.
async fn failures(acks: impl Iterator<Item = (Event, PublishAckFuture)>) -> Vec<(Event, String)> {
    let deadline = tokio::time::Instant::now() + ACK_TIMEOUT;
    let mut failed = Vec::new();
    for (event, ack) in acks {
        match tokio::time::timeout_at(deadline, ack.into_future()).await {
            Ok(Ok(_)) => {}
            Ok(Err(err)) => failed.push((event, err.to_string())),
            Err(_) => failed.push((event, format!("no acknowledgement within {ACK_TIMEOUT:?}"))),
        }
    }
    failed
}

/// Sends `failed` again, with backoff, up to [`RETRIES`] times, until
/// JetStream acknowledges every one.
async fn resend(
    js: &jetstream::Context,
    subject: &Subject,
    id: &str,
    mut failed: Vec<(Event, String)>,
) -> Result<(), ConnectorError> {
    let mut wait = FIRST_BACKOFF;
    for _ in 0..RETRIES {
        let Some((_, reason)) = failed.first() else { return Ok(()) };
        tracing::warn!(
            sink = id,
            events = failed.len(),
            "JetStream did not acknowledge some publishes ({reason}); sending them again"
        );
        tokio::time::sleep(wait).await;
        wait = (wait * 2).min(MAX_BACKOFF);
        let mut pending = Vec::with_capacity(failed.len());
        for (event, _) in failed {
            let ack = publish(js, subject, id, &event).await?;
            pending.push((event, ack));
        }
        failed = failures(pending.into_iter()).await;
    }
    match failed.first() {
        None => Ok(()),
        Some((first, reason)) => {
            let message = format!("JetStream did not store {} events (e.g. {}): {reason}", failed.len(), first.id());
            Err(error(id, message))
        }
    }
}

/// Publishes `event`, trying again with backoff while the client refuses.
async fn publish(
    js: &jetstream::Context,
    subject: &Subject,
    id: &str,
    event: &Event,
) -> Result<PublishAckFuture, ConnectorError> {
    let (mut wait, mut attempt) = (FIRST_BACKOFF, 0);
    loop {
        match js.publish_with_headers(subject.clone(), headers(event), event.json()).await {
            Ok(ack) => return Ok(ack),
            Err(e) if attempt >= RETRIES => return Err(error(id, format!("publish to {subject}: {e}"))),
            Err(_) => attempt += 1,
        }
        tokio::time::sleep(wait).await;
        wait = (wait * 2).min(MAX_BACKOFF);
    }
}

fn headers(event: &Event) -> HeaderMap {
    let mut headers = HeaderMap::new();
    headers.insert(async_nats::header::NATS_MESSAGE_ID, event.id());
    headers.insert(TYPE_HEADER, event.event_type());
    for (key, value) in event.metadata() {
        headers.insert(format!("{META_HEADER_PREFIX}{key}").as_str(), value.as_ref());
    }
    headers
}

impl Sink for NatsSink {
    fn write(&mut self, events: &[Event]) -> Result<(), ConnectorError> {
        let (js, subject, id) = (&self.js, &self.subject, self.id.as_str());
        let unconfirmed = &mut self.unconfirmed;
        self.runtime.block_on(async {
            for event in events {
                unconfirmed.push_back((event.clone(), publish(js, subject, id, event).await?));
            }
            Ok::<(), ConnectorError>(())
        })?;
        self.written += events.iter().map(|e| e.as_json().len() as u64).sum::<u64>();
        if self.unconfirmed.len() > MAX_UNCONFIRMED {
            self.confirm(MAX_UNCONFIRMED / 2)?;
        }
        Ok(())
    }

    /// Waits until JetStream acknowledged every event published so far.
    fn flush(&mut self) -> Result<(), ConnectorError> {
        self.confirm(0)
    }

    /// Acknowledgements are on their way already: collecting them is cheap,
    /// and the source acknowledges its messages only after it.
    fn flush_every(&self) -> Option<std::time::Duration> {
        Some(FLUSH_EVERY)
    }

    fn bytes_written(&self) -> Option<u64> {
        Some(self.written)
    }
}
