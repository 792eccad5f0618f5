//! The `nats` source: a JetStream durable pull consumer. A task on the
//! process's network runtime pulls messages (`batch` per request) and hands
//! them over a bounded channel; each message is acknowledged only once
//! everything derived from it is finished (written and flushed by every sink
//! it reaches, or dead-lettered: the same tracking as checkpoints), so
//! `max_ack_pending` bounds what is in flight, and a process that dies leaves
//! its unacknowledged messages to be redelivered after `ack_wait`. Several
//! processes on the same `durable` share the stream's messages.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;

use async_nats::jetstream::consumer::{pull, AckPolicy};
use async_nats::jetstream::message::Acker;
use futures_util::StreamExt;
use tokio::sync::mpsc::{self, error::TryRecvError};

use super::nats::{error, open_stream, CONNECT_TIMEOUT};
use super::{ConnectorError, Rejected, Source, IDLE_POLL};
use crate::config::NatsSourceConfig;
use crate::event::Event;
use crate::progress::{FinishAction, SourcePosition};
use crate::telemetry::names;

/// A message's bytes and what acknowledges it.
type Delivery = (bytes::Bytes, Acker);

pub struct NatsSource {
    id: String,
    stream: String,
    durable: String,
    rx: mpsc::Receiver<Result<Delivery, String>>,
    runtime: tokio::runtime::Handle,
    /// Ackers of the messages returned by the last poll.
    polled: Vec<Acker>,
    rejects: Vec<Rejected>,
    /// Messages received, for reject line numbers.
    received: u64,
    bytes: Arc<AtomicU64>,
    task: tokio::task::JoinHandle<()>,
}

impl NatsSource {
    /// Connects, creates the durable consumer if needed, and starts pulling.
    pub fn start(id: &str, config: &NatsSourceConfig) -> Result<Self, ConnectorError> {
        let runtime = crate::grpc::io::handle();
        let subject = config.subject.clone().unwrap_or_else(|| format!("{}.>", config.stream));
        let consumer = runtime.block_on(async {
            let (_, stream) = open_stream(id, &config.url, &config.stream, &subject).await?;
            let consumer_config = pull::Config {
                durable_name: Some(config.durable.clone()),
                ack_policy: AckPolicy::Explicit,
                ack_wait: config.ack_wait,
                max_ack_pending: config.max_ack_pending,
                filter_subject: config.subject.clone().unwrap_or_default(),
                ..Default::default()
            };
            tokio::time::timeout(CONNECT_TIMEOUT, stream.get_or_create_consumer(&config.durable, consumer_config))
                .await
                .map_err(|_| error(id, "JetStream did not answer creating the consumer"))?
                .map_err(|e| error(id, format!("durable consumer {} on {}: {e}", config.durable, config.stream)))
        })?;
        let (tx, rx) = mpsc::channel(config.batch.max(1) * 4);
        let bytes = Arc::new(AtomicU64::new(0));
        let lag = metrics::gauge!(names::SOURCE_LAG, "component" => id.to_owned());
        let task = runtime.spawn(pull(consumer, config.batch, tx, bytes.clone(), lag));
        tracing::info!(source = id, url = %config.url, stream = %config.stream, durable = %config.durable, "nats source connected");
        Ok(Self {
            id: id.to_owned(),
            stream: config.stream.clone(),
            durable: config.durable.clone(),
            rx,
            runtime,
            polled: Vec::new(),
            rejects: Vec::new(),
            received: 0,
            bytes,
            task,
        })
    }

    fn take(&mut self, delivery: Result<Delivery, String>, out: &mut Vec<Event>) -> Result<(), ConnectorError> {
        let (payload, acker) = delivery.map_err(|e| error(&self.id, e))?;
        self.received += 1;
        match Event::from_bytes(payload.clone()) {
            Ok(event) => out.push(event),
            Err(e) => self.rejects.push(Rejected {
                line_no: self.received,
                reason: e.to_string(),
                raw: String::from_utf8_lossy(&payload).into_owned(),
            }),
        }
        self.polled.push(acker);
        Ok(())
    }
}

/// Pulls messages until the source is dropped, and reports the consumer's lag.
async fn pull(
    consumer: async_nats::jetstream::consumer::Consumer<pull::Config>,
    batch: usize,
    tx: mpsc::Sender<Result<Delivery, String>>,
    bytes: Arc<AtomicU64>,
    lag: metrics::Gauge,
) {
    let mut messages = match consumer.stream().max_messages_per_batch(batch).messages().await {
        Ok(messages) => messages,
        Err(e) => {
            let _ = tx.send(Err(format!("cannot pull: {e}"))).await;
            return;
        }
    };
    while let Some(message) = messages.next().await {
        let delivery = match message {
            Ok(message) => {
                if let Ok(info) = message.info() {
                    lag.set(info.pending as f64);
                }
                let (message, acker) = message.split();
                bytes.fetch_add(message.payload.len() as u64, Relaxed);
                Ok((message.payload, acker))
            }
            // The client reconnects by itself; a pull error is worth a line, not the end.
            Err(e) => {
                tracing::warn!("nats source: {e}");
                continue;
            }
        };
        if tx.send(delivery).await.is_err() {
            return;
        }
    }
}

impl Source for NatsSource {
    fn poll_batch(&mut self, out: &mut Vec<Event>, max: usize) -> Result<bool, ConnectorError> {
        let first = match self.rx.try_recv() {
            Ok(item) => item,
            Err(TryRecvError::Disconnected) => return Err(error(&self.id, "the NATS pull task stopped")),
            Err(TryRecvError::Empty) => {
                let rx = &mut self.rx;
                match self.runtime.block_on(async { tokio::time::timeout(IDLE_POLL, rx.recv()).await }) {
                    Err(_idle) => return Ok(true),
                    Ok(None) => return Err(error(&self.id, "the NATS pull task stopped")),
                    Ok(Some(item)) => item,
                }
            }
        };
        self.take(first, out)?;
        while self.polled.len() < max {
            match self.rx.try_recv() {
                Ok(item) => self.take(item, out)?,
                Err(_) => break,
            }
        }
        // A JetStream consumer never ends: the source runs until stopped.
        Ok(true)
    }

    fn take_rejects(&mut self) -> Vec<Rejected> {
        std::mem::take(&mut self.rejects)
    }

    fn bytes_read(&self) -> Option<u64> {
        Some(self.bytes.load(Relaxed))
    }

    /// The durable consumer keeps the real position (its acknowledgements);
    /// this names it, so `flowctl state show` says where to look.
    fn position(&self) -> Option<SourcePosition> {
        Some(SourcePosition::Nats { stream: self.stream.clone(), durable: self.durable.clone() })
    }

    fn resume(&mut self, _: &SourcePosition) -> Result<(), ConnectorError> {
        Ok(())
    }

    /// Acknowledges the last poll's messages once everything they became is finished.
    fn take_finish_action(&mut self) -> Option<FinishAction> {
        if self.polled.is_empty() {
            return None;
        }
        let ackers = std::mem::take(&mut self.polled);
        let runtime = self.runtime.clone();
        Some(Box::new(move || {
            runtime.spawn(async move {
                for acker in ackers {
                    if let Err(e) = acker.ack().await {
                        tracing::warn!(
                            "nats source: an acknowledgement failed (the message comes again after ack_wait): {e}"
                        );
                    }
                }
            });
        }))
    }
}

impl Drop for NatsSource {
    fn drop(&mut self) {
        self.task.abort();
    }
}
