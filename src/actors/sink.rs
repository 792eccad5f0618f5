//! Sink actor: a blocking `Sink` runs on a thread of its own behind a bounded
//! bridge. The actor waits for room before taking its next message, so a
//! sink that blocks stops everything upstream instead of piling up events.
//! The thread flushes when idle and once at the end.

use std::collections::HashSet;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::Duration;

use actix::prelude::*;
use crossbeam_channel::RecvTimeoutError;
use tokio::sync::oneshot;

use super::bridge::{thread_bridge, ThreadBridge, ThreadReceiver};
use super::messages::Flow;
use super::stats::{ConnectorCounters, InFlight};
use crate::connectors::Sink;
use crate::event::Event;
use crate::telemetry::names;

/// How long a sink thread waits for more events before flushing what it wrote.
pub const IDLE_FLUSH: Duration = Duration::from_millis(20);

/// Resolves once a writer thread drained, flushed and ended: `Err` names its failure.
pub type ThreadDone = oneshot::Receiver<Result<(), String>>;

/// Starts the sink's thread; `done` receives its final flush result.
pub fn spawn_sink_thread(
    id: Arc<str>,
    pipeline: &str,
    sink: Box<dyn Sink>,
    capacity: usize,
    counters: Arc<ConnectorCounters>,
    in_flight: InFlight,
) -> std::io::Result<(ThreadBridge<Vec<Event>>, ThreadDone)> {
    let (bridge, rx) = thread_bridge(capacity);
    let (done_tx, done_rx) = oneshot::channel();
    let received = metrics::counter!(names::EVENTS_RECEIVED,
        "pipeline" => pipeline.to_string(), "component" => id.to_string());
    std::thread::Builder::new().name(format!("sink-{id}")).spawn(move || {
        let result = drive_sink(&id, sink, &rx, &counters, &in_flight, &received);
        let _ = done_tx.send(result);
    })?;
    Ok((bridge, done_rx))
}

fn drive_sink(
    id: &str,
    mut sink: Box<dyn Sink>,
    rx: &ThreadReceiver<Vec<Event>>,
    counters: &ConnectorCounters,
    in_flight: &InFlight,
    received: &metrics::Counter,
) -> Result<(), String> {
    let mut dirty = false;
    let mut failed: Option<String> = None;
    loop {
        match rx.recv_timeout(IDLE_FLUSH) {
            Ok((events, _permit)) => {
                received.increment(events.len() as u64);
                if failed.is_none() {
                    match sink.write(&events) {
                        Ok(()) => {
                            counters.events.fetch_add(events.len() as u64, Relaxed);
                            dirty = true;
                        }
                        Err(err) => {
                            tracing::error!(component = %id, "sink failed; further events are counted as lost: {err}");
                            failed = Some(err.to_string());
                        }
                    }
                }
                if failed.is_some() {
                    counters.rejected.fetch_add(events.len() as u64, Relaxed);
                }
                in_flight.sub(events.len());
            }
            Err(RecvTimeoutError::Timeout) => {
                if dirty && failed.is_none() {
                    if let Err(err) = sink.flush() {
                        tracing::error!(component = %id, "sink flush failed: {err}");
                        failed = Some(err.to_string());
                    }
                    dirty = false;
                }
            }
            Err(RecvTimeoutError::Disconnected) => break,
        }
    }
    if let Some(err) = failed {
        return Err(err);
    }
    sink.flush().map_err(|e| e.to_string())
}

/// Takes a sink's inputs and hands them to its thread.
pub struct SinkActor {
    pub id: Arc<str>,
    pub inputs: HashSet<Arc<str>>,
    pub ended: HashSet<Arc<str>>,
    pub bridge: ThreadBridge<Vec<Event>>,
    pub in_flight: InFlight,
}

impl Actor for SinkActor {
    type Context = Context<Self>;
}

impl Handler<Flow> for SinkActor {
    type Result = ();

    fn handle(&mut self, msg: Flow, ctx: &mut Self::Context) {
        match msg {
            Flow::Events { events, .. } => {
                let (id, in_flight) = (self.id.clone(), self.in_flight.clone());
                let send = self.bridge.send(events);
                let send = async move {
                    if let Err(events) = send.await {
                        tracing::error!(component = %id, lost = events.len(), "sink thread is gone");
                        in_flight.sub(events.len());
                    }
                };
                ctx.wait(send.into_actor(self));
            }
            Flow::End { from } => {
                self.ended.insert(from);
                if self.inputs.is_subset(&self.ended) {
                    // The thread drains what it holds, flushes and reports.
                    self.bridge.close();
                    ctx.stop();
                }
            }
        }
    }
}
