//! The `nats` sink: publishes each event to a JetStream subject, its JSON as
//! the payload, `Nats-Msg-Id` = the event id (so the stream's duplicate window
//! turns a replay after a crash into a no-op), its type and metadata as
//! headers. A `write` returns once JetStream acknowledged every event of it:
//! an event counts as written only when it is stored.

use async_nats::jetstream::{self, context::PublishAckFuture};
use async_nats::HeaderMap;

use super::nats::{error, open_stream};
use super::{ConnectorError, Sink};
use crate::config::NatsSinkConfig;
use crate::event::Event;

/// Header carrying the event type; metadata goes under `Flowctl-Meta-<key>`.
pub const TYPE_HEADER: &str = "Flowctl-Type";
pub const META_HEADER_PREFIX: &str = "Flowctl-Meta-";

pub struct NatsSink {
    id: String,
    subject: String,
    js: jetstream::Context,
    runtime: tokio::runtime::Handle,
    written: u64,
}

impl NatsSink {
    pub fn start(id: &str, config: &NatsSinkConfig) -> Result<Self, ConnectorError> {
        let runtime = crate::grpc::io::handle();
        let (js, _) = runtime.block_on(open_stream(id, &config.url, &config.stream, &config.subject))?;
        tracing::info!(sink = id, url = %config.url, stream = %config.stream, subject = %config.subject, "nats sink connected");
        Ok(Self { id: id.to_owned(), subject: config.subject.clone(), js, runtime, written: 0 })
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
        let published = self.runtime.block_on(async {
            // Every publish first (pipelined), then every acknowledgement.
            let mut acks: Vec<PublishAckFuture> = Vec::with_capacity(events.len());
            for event in events {
                let payload = event.json();
                let ack = js
                    .publish_with_headers(subject.clone(), headers(event), payload)
                    .await
                    .map_err(|e| error(id, format!("publish to {subject}: {e}")))?;
                acks.push(ack);
            }
            for ack in acks {
                ack.await.map_err(|e| error(id, format!("JetStream did not store an event: {e}")))?;
            }
            Ok::<u64, ConnectorError>(events.iter().map(|e| e.as_json().len() as u64).sum())
        })?;
        self.written += published;
        Ok(())
    }

    /// Nothing to do: `write` returns only once JetStream stored its events.
    fn flush(&mut self) -> Result<(), ConnectorError> {
        Ok(())
    }

    fn bytes_written(&self) -> Option<u64> {
        Some(self.written)
    }
}
