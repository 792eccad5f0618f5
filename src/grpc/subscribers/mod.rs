//! `type: grpc_server` sink: serves the pipeline's output as a
//! `flowctl.v1.SourceService`. Any number of clients call `StreamEvents`;
//! each gets every event written from the moment it subscribed, in order,
//! through its own bounded buffer, and `slow_subscriber` says what a full
//! buffer does (see `docs/grpc.md`).
//!
//! # Layout
//! - [`queue`]: one subscriber's buffer and the three policies.
//! - [`hub`]: who is subscribed, and the fan-out of each written batch.
//! - [`stream`]: `StreamEvents`: the response streams, with events encoded once for all.
//! - [`service`]: the rest of `SourceService`, and the routing between the two.
//!
//! The server runs on the gRPC runtime ([`crate::grpc::io`]); `write` runs on
//! the sink's own thread and only touches the queues, so under `block` it is
//! that thread, never an executor, that waits.

mod hub;
mod queue;
mod service;
mod stream;

use std::net::SocketAddr;
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use bytes::Bytes;
use prost::Message;
use tonic::transport::server::TcpIncoming;

use self::hub::Hub;
use self::service::{Api, Routes};
use crate::config::GrpcServerConfig;
use crate::connectors::{ConnectorError, Sink};
use crate::event::Event;
use crate::grpc::mapping::to_proto;

pub use stream::SUBSCRIBER_HEADER;

/// At the end, how long subscribers get to receive what waits for them
/// (inside the default 10 s shutdown grace, so the drain finishes before the process exits).
const DRAIN_GRACE: Duration = Duration::from_secs(5);
/// Then how long the server gets to close its connections before it is dropped.
const STOP_GRACE: Duration = Duration::from_secs(2);

/// The `grpc_server` sink: its subscribers and the server that feeds them.
pub struct SubscriberServer {
    id: String,
    hub: Arc<Hub>,
    /// Ends the server (graceful: open streams finish).
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    /// Receives once the server task ended.
    stopped: mpsc::Receiver<()>,
    task: tokio::task::JoinHandle<()>,
    /// Reused across writes: the batch, encoded.
    encoded: Vec<Bytes>,
    /// Bytes encoded so far, once per event however many subscribers get it.
    bytes_encoded: u64,
}

impl SubscriberServer {
    /// Binds `listen` now, so a taken address stops the pipeline before it starts.
    pub fn start(id: &str, config: &GrpcServerConfig) -> Result<Self, ConnectorError> {
        let failed = |what: &str, err: std::io::Error| ConnectorError::Other {
            connector: id.to_owned(),
            message: format!("grpc_server cannot {what} {}: {err}", config.listen),
        };
        let listener = std::net::TcpListener::bind(config.listen).map_err(|e| failed("listen on", e))?;
        listener.set_nonblocking(true).map_err(|e| failed("configure", e))?;
        let local: SocketAddr = listener.local_addr().map_err(|e| failed("read the address of", e))?;
        let handle = crate::grpc::io::handle();
        // `from_std` registers the socket with the runtime it is called in.
        let listener = {
            let _runtime = handle.enter();
            tokio::net::TcpListener::from_std(listener).map_err(|e| failed("serve on", e))?
        };
        let incoming = TcpIncoming::from(listener).with_nodelay(Some(true));

        let hub = Arc::new(Hub::new(id, config.buffer, config.slow_subscriber));
        let routes = Routes::new(hub.clone(), Api::new(hub.clone(), local.to_string()));
        let (stop, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let (stopped_tx, stopped) = mpsc::channel();
        let component = id.to_owned();
        let task = handle.spawn(async move {
            let shutdown = async {
                let _ = stop_rx.await;
            };
            let served = tonic::transport::Server::builder()
                .add_service(routes)
                .serve_with_incoming_shutdown(incoming, shutdown)
                .await;
            if let Err(err) = served {
                tracing::error!(component = %component, "grpc_server stopped: {err}");
            }
            let _ = stopped_tx.send(());
        });
        tracing::info!(component = %id, local_addr = %local, buffer = config.buffer,
            slow_subscriber = config.slow_subscriber.name(), "serving flowctl.v1.SourceService to subscribers");
        Ok(Self { id: id.to_owned(), hub, stop: Some(stop), stopped, task, encoded: Vec::new(), bytes_encoded: 0 })
    }

    /// Ends every stream after what waits for it (bounded), then the server.
    fn shut_down(&mut self) {
        let draining = self.hub.close();
        let deadline = Instant::now() + DRAIN_GRACE;
        while !draining.iter().all(|s| s.queue.is_settled()) {
            if Instant::now() >= deadline {
                let left = draining.iter().filter(|s| !s.queue.is_settled()).count();
                tracing::warn!(component = %self.id, subscribers = left,
                    "subscribers did not take their last events in time; closing anyway");
                break;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        drop(draining);
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if self.stopped.recv_timeout(STOP_GRACE).is_err() {
            // A client that never reads keeps its connection open: drop it.
            self.task.abort();
        }
    }
}

impl Sink for SubscriberServer {
    fn write(&mut self, events: &[Event]) -> Result<(), ConnectorError> {
        self.encoded.clear();
        self.encoded.extend(events.iter().map(|e| Bytes::from(to_proto(e, &self.id).encode_to_vec())));
        self.bytes_encoded += self.encoded.iter().map(|b| b.len() as u64).sum::<u64>();
        self.hub.publish(&self.encoded);
        Ok(())
    }

    /// `flowctl_bytes_out_total`: the encoded events, counted once (not per subscriber).
    fn bytes_written(&self) -> Option<u64> {
        Some(self.bytes_encoded)
    }

    /// Nothing to flush: events are in the subscribers' buffers as soon as `write` returns.
    fn flush(&mut self) -> Result<(), ConnectorError> {
        Ok(())
    }
}

impl Drop for SubscriberServer {
    /// The sink ends when the pipeline does (its thread drops it).
    fn drop(&mut self) {
        self.shut_down();
    }
}
