//! `type: grpc` sink: pushes events into a remote `flowctl.v1.ConsumerService`
//! (`Consume`). The blocking [`Sink`] side maps events to the wire and hands
//! them over a small bounded channel to a task on the gRPC runtime
//! ([`super::consume_task`]), which owns the `Consume` streams, confirms them,
//! re-sends what a failed stream left unconfirmed and dead-letters what it
//! gives up on. A full channel blocks `write`: backpressure.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use prost::Message as _;
use tokio::sync::{mpsc, oneshot};

use super::consume_task::{Command, ConsumeTask};
use super::mapping;
use super::remote::{Backoff, Remote};
use crate::config::GrpcSinkConfig;
use crate::connectors::{ConnectorError, DeadLetter, Sink};
use crate::event::Event;
use crate::telemetry::names;

/// Batches waiting for the stream task. Small: the task holds a stream's
/// worth of events itself, and memory must stay bounded while it retries.
const CHANNEL_BATCHES: usize = 4;

/// Dead letters the task made, waiting for [`Sink::take_failures`].
pub(super) type Failures = Arc<Mutex<Vec<DeadLetter>>>;

pub struct GrpcSink {
    id: String,
    tx: mpsc::Sender<Command>,
    failures: Failures,
    /// Payload bytes handed to the stream task.
    bytes: AtomicU64,
    task: tokio::task::JoinHandle<()>,
}

impl GrpcSink {
    /// Checks the remote's settings and starts the stream task. Nothing is
    /// dialed until the first event: a consumer that is not up yet is not an error.
    pub fn start(id: &str, config: &GrpcSinkConfig) -> Result<Self, ConnectorError> {
        let other = |message: String| ConnectorError::Other { connector: id.to_owned(), message };
        let remote = Remote::for_spec(&config.remote).map_err(|e| other(e.to_string()))?;
        let (tx, rx) = mpsc::channel(CHANNEL_BATCHES);
        let failures = Failures::default();
        let component = ("component", id.to_owned());
        let task = ConsumeTask {
            id: id.to_owned(),
            remote,
            stream_events: config.stream_events.max(1),
            stream_timeout: config.stream_timeout,
            max_attempts: config.max_retries.max(1),
            backoff: Backoff::new(&config.remote.backoff),
            rx,
            failures: failures.clone(),
            reconnects: metrics::counter!(names::GRPC_RECONNECTS, std::slice::from_ref(&component)),
            resent: metrics::counter!(names::GRPC_RESENT, &[component]),
            state: Default::default(),
        };
        let task = super::io::handle().spawn(task.run());
        Ok(Self { id: id.to_owned(), tx, failures, bytes: AtomicU64::new(0), task })
    }

    fn task_gone(&self) -> ConnectorError {
        ConnectorError::Other { connector: self.id.clone(), message: "the gRPC stream task stopped".into() }
    }
}

impl Sink for GrpcSink {
    fn write(&mut self, events: &[Event]) -> Result<(), ConnectorError> {
        // Mapped here, on the sink's own thread, not on the shared I/O threads.
        // Encoded once here: a re-send after a failed stream reuses these bytes.
        let mut bytes = 0;
        let wire: Vec<Bytes> = events
            .iter()
            .map(|e| {
                let event = mapping::to_proto(e, &self.id);
                bytes += event.payload.len();
                Bytes::from(event.encode_to_vec())
            })
            .collect();
        self.tx.blocking_send(Command::Events(wire)).map_err(|_| self.task_gone())?;
        self.bytes.fetch_add(bytes as u64, Relaxed);
        Ok(())
    }

    /// Closes the open stream and waits for its `ConsumeResponse`: afterwards
    /// every event written is confirmed or waits in [`Sink::take_failures`].
    fn flush(&mut self) -> Result<(), ConnectorError> {
        let (done, confirmed) = oneshot::channel();
        self.tx.blocking_send(Command::Flush(done)).map_err(|_| self.task_gone())?;
        confirmed.blocking_recv().map_err(|_| self.task_gone())
    }

    fn bytes_written(&self) -> Option<u64> {
        Some(self.bytes.load(Relaxed))
    }

    fn take_failures(&mut self) -> Vec<DeadLetter> {
        // A poisoned lock only means the task panicked mid-push: the letters are still there.
        std::mem::take(&mut *self.failures.lock().unwrap_or_else(|poisoned| poisoned.into_inner()))
    }
}

impl Drop for GrpcSink {
    fn drop(&mut self) {
        self.task.abort();
    }
}
