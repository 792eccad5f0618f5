//! The `nats` sink: publishes each event to a JetStream subject, its JSON as
//! the payload, `Nats-Msg-Id` = the event id (so the stream's duplicate window
//! turns a replay after a crash into a no-op), its type and metadata as
//! headers. `write` publishes without waiting (acknowledgements pile up, at
//! most [`MAX_UNCONFIRMED`]); `flush` waits for every acknowledgement, and the
//! engine lets an event count as finished only after a flush: an event is
//! done only once JetStream stored it.

use async_nats::jetstream::{self, context::PublishAckFuture};
use async_nats::HeaderMap;

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

/// How often the engine collects the acknowledgements while busy.
const FLUSH_EVERY: std::time::Duration = std::time::Duration::from_millis(5);

pub struct NatsSink {
    id: String,
    subject: String,
    js: jetstream::Context,
    runtime: tokio::runtime::Handle,
    unconfirmed: std::collections::VecDeque<PublishAckFuture>,
    written: u64,
}

impl NatsSink {
    pub fn start(id: &str, config: &NatsSinkConfig) -> Result<Self, ConnectorError> {
        let runtime = crate::grpc::io::handle();
        let (js, _) = runtime.block_on(open_stream(id, &config.url, &config.stream, &config.subject))?;
        tracing::info!(sink = id, url = %config.url, stream = %config.stream, subject = %config.subject, "nats sink connected");
        Ok(Self {
            id: id.to_owned(),
            subject: config.subject.clone(),
            js,
            runtime,
            unconfirmed: Default::default(),
            written: 0,
        })
    }

    /// Waits for the acknowledgements of all but the last `keep` publishes.
    fn confirm(&mut self, keep: usize) -> Result<(), ConnectorError> {
        let settle = self.unconfirmed.len().saturating_sub(keep);
        let acks: Vec<PublishAckFuture> = self.unconfirmed.drain(..settle).collect();
        let id = &self.id;
        self.runtime.block_on(async {
            for ack in acks {
                ack.await.map_err(|e| error(id, format!("JetStream did not store an event: {e}")))?;
            }
            Ok(())
        })
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
        let (js, subject, id) = (&self.js, &self.subject, &self.id);
        let unconfirmed = &mut self.unconfirmed;
        self.runtime.block_on(async {
            for event in events {
                let ack = js
                    .publish_with_headers(subject.clone(), headers(event), event.json())
                    .await
                    .map_err(|e| error(id, format!("publish to {subject}: {e}")))?;
                unconfirmed.push_back(ack);
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
