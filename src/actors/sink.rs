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
use super::dead_letters::DeadLetterActor;
use super::messages::{DeadLetters, Flow, SharedBatch};
use super::stats::{ConnectorCounters, InFlight};
use crate::connectors::Sink;
use crate::event::Event;
use crate::progress::Unflushed;
use crate::telemetry::{names, Health};

/// How long a sink thread waits for more events before flushing what it wrote.
pub const IDLE_FLUSH: Duration = Duration::from_millis(20);

/// Resolves once a writer thread drained, flushed and ended: `Err` names its failure.
pub type ThreadDone = oneshot::Receiver<Result<(), String>>;

/// `flowctl_queue_depth` of a sink: events handed to its thread, not yet written.
pub fn queue_gauge(pipeline: &str, id: &str) -> metrics::Gauge {
    metrics::gauge!(names::QUEUE_DEPTH,
        "pipeline" => pipeline.to_owned(), "component" => id.to_owned(), "stage" => "sink")
}

/// A sink's series, registered once.
struct SinkMetrics {
    received: metrics::Counter,
    emitted: metrics::Counter,
    lost: metrics::Counter,
    bytes_out: metrics::Counter,
    queued: metrics::Gauge,
    /// Events the sink gave up on after writing them (see `Sink::take_failures`).
    dead_lettered: metrics::Counter,
}

/// Where a sink's failed events go: the pipeline's dead letters.
struct Failures {
    dead_letters: Addr<DeadLetterActor>,
    in_flight: InFlight,
}

impl Failures {
    /// Dead-letters what the sink gave up on. They re-enter the in-flight
    /// count until the dead-letter thread wrote them.
    fn drain(&self, id: &str, sink: &mut dyn Sink, m: &SinkMetrics) {
        let letters = sink.take_failures();
        if letters.is_empty() {
            return;
        }
        m.dead_lettered.increment(letters.len() as u64);
        self.in_flight.add(letters.len());
        let mut message = DeadLetters(letters);
        // A blocking thread cannot await the mailbox: retry while it is full (rare: failures only).
        loop {
            match self.dead_letters.try_send(message) {
                Ok(()) => return,
                Err(SendError::Full(back)) => {
                    message = back;
                    std::thread::sleep(Duration::from_millis(1));
                }
                Err(SendError::Closed(back)) => {
                    tracing::error!(component = %id, lost = back.0.len(), "dead letters closed before a sink's failures reached them");
                    if let Some(ticket) = back.0.iter().find_map(|l| l.event.ticket()) {
                        ticket.poison("dead letters closed before a sink's failures reached them");
                    }
                    self.in_flight.sub(back.0.len());
                    return;
                }
            }
        }
    }
}

/// Everything a sink's thread needs besides the sink itself.
pub struct SinkThread {
    pub id: Arc<str>,
    pub pipeline: Arc<str>,
    /// Batches the bridge to the thread holds.
    pub capacity: usize,
    pub counters: Arc<ConnectorCounters>,
    pub in_flight: InFlight,
    /// A sink that fails is reported down here (it stays down: what reaches
    /// it afterwards is counted as lost).
    pub health: Health,
    /// Where the events the sink gives up on go (`Sink::take_failures`).
    pub dead_letters: Addr<DeadLetterActor>,
    /// Longest written events wait for a flush while their source progress
    /// is tracked (a busy sink is never idle long enough to flush on its own).
    pub flush_every: Duration,
}

/// Starts the sink's thread; `done` receives its final flush result.
pub fn spawn_sink_thread(
    thread: SinkThread,
    sink: Box<dyn Sink>,
) -> std::io::Result<(ThreadBridge<SharedBatch>, ThreadDone)> {
    let SinkThread { id, pipeline, capacity, counters, in_flight, health, dead_letters, flush_every } = thread;
    let pipeline = pipeline.as_ref();
    let (bridge, rx) = thread_bridge(capacity);
    let (done_tx, done_rx) = oneshot::channel();
    let labels = [("pipeline", pipeline.to_owned()), ("component", id.to_string())];
    let m = SinkMetrics {
        received: metrics::counter!(names::EVENTS_RECEIVED, &labels),
        emitted: metrics::counter!(names::EVENTS_EMITTED, &labels),
        lost: metrics::counter!(names::EVENTS_LOST, &labels),
        bytes_out: metrics::counter!(names::BYTES_OUT, &labels),
        queued: queue_gauge(pipeline, &id),
        dead_lettered: metrics::counter!(names::EVENTS_DEAD_LETTERED,
            "pipeline" => pipeline.to_owned(), "component" => id.to_string(), "kind" => "sink"),
    };
    let failures = Failures { dead_letters, in_flight: in_flight.clone() };
    std::thread::Builder::new().name(format!("sink-{id}")).spawn(move || {
        let driver =
            Driver { id: &id, counters: &counters, in_flight: &in_flight, m: &m, failures: &failures, flush_every };
        let result = driver.run(sink, &rx);
        if let Err(err) = &result {
            health.set_down(&id, format!("sink failed: {err}"));
        }
        let _ = done_tx.send(result);
    })?;
    Ok((bridge, done_rx))
}

/// What the sink thread's loop works with.
struct Driver<'a> {
    id: &'a str,
    counters: &'a ConnectorCounters,
    in_flight: &'a InFlight,
    m: &'a SinkMetrics,
    failures: &'a Failures,
    flush_every: Duration,
}

impl Driver<'_> {
    fn run(&self, mut sink: Box<dyn Sink>, rx: &ThreadReceiver<SharedBatch>) -> Result<(), String> {
        let (id, m) = (self.id, self.m);
        let flush_every = sink.flush_every().map_or(self.flush_every, |own| own.min(self.flush_every));
        let mut dirty = false;
        let mut failed: Option<String> = None;
        let mut bytes_seen = 0;
        // Written events' tickets: finished only once the flush made them durable.
        let mut unflushed = Unflushed::default();
        loop {
            match rx.recv_timeout(IDLE_FLUSH) {
                Ok((events, _permit)) => {
                    let n = events.len() as u64;
                    m.received.increment(n);
                    m.queued.decrement(n as f64);
                    if failed.is_none() {
                        match sink.write(&events) {
                            Ok(()) => {
                                self.counters.events.fetch_add(n, Relaxed);
                                m.emitted.increment(n);
                                unflushed.hold(events.iter().map(Event::ticket));
                                dirty = true;
                            }
                            Err(err) => {
                                tracing::error!(component = %id, "sink failed; further events are counted as lost: {err}");
                                failed = Some(err.to_string());
                            }
                        }
                    }
                    if let Some(err) = &failed {
                        self.counters.rejected.fetch_add(n, Relaxed);
                        m.lost.increment(n);
                        unflushed.hold(events.iter().map(Event::ticket));
                        unflushed.lost(&format!("sink {id} failed: {err}"));
                    }
                    if let Some(total) = sink.bytes_written() {
                        m.bytes_out.increment(total.saturating_sub(bytes_seen));
                        bytes_seen = total;
                    }
                    self.in_flight.sub(events.len());
                    if dirty && failed.is_none() && unflushed.due(flush_every) {
                        failed = self.flush(sink.as_mut(), &mut unflushed).err();
                        dirty = false;
                    }
                    self.failures.drain(id, sink.as_mut(), m);
                }
                Err(RecvTimeoutError::Timeout) => {
                    if dirty && failed.is_none() {
                        failed = self.flush(sink.as_mut(), &mut unflushed).err();
                        dirty = false;
                    }
                    self.failures.drain(id, sink.as_mut(), m);
                }
                Err(RecvTimeoutError::Disconnected) => break,
            }
        }
        if let Some(err) = failed {
            return Err(err);
        }
        self.flush(sink.as_mut(), &mut unflushed)
    }

    /// Flushes; what the flush covered is finished, or lost if it failed.
    fn flush(&self, sink: &mut dyn Sink, unflushed: &mut Unflushed) -> Result<(), String> {
        let flushed = sink.flush().map_err(|e| e.to_string());
        // Failures the flush turned up go to the dead letters before the tickets are let go.
        self.failures.drain(self.id, sink, self.m);
        match &flushed {
            Ok(()) => unflushed.flushed(),
            Err(err) => {
                tracing::error!(component = %self.id, "sink flush failed: {err}");
                unflushed.lost(&format!("sink {} failed to flush: {err}", self.id));
            }
        }
        flushed
    }
}

/// Takes a sink's inputs and hands them to its thread.
pub struct SinkActor {
    pub id: Arc<str>,
    pub inputs: HashSet<Arc<str>>,
    pub ended: HashSet<Arc<str>>,
    pub bridge: ThreadBridge<SharedBatch>,
    pub in_flight: InFlight,
    /// Raised here, lowered by the thread as it takes events (see [`queue_gauge`]).
    pub queued: metrics::Gauge,
}

impl Actor for SinkActor {
    type Context = Context<Self>;
}

impl Handler<Flow> for SinkActor {
    type Result = ();

    fn handle(&mut self, msg: Flow, ctx: &mut Self::Context) {
        match msg {
            Flow::Events { events, .. } => {
                let (id, in_flight, queued) = (self.id.clone(), self.in_flight.clone(), self.queued.clone());
                queued.increment(events.len() as f64);
                let send = self.bridge.send(events);
                let send = async move {
                    if let Err(events) = send.await {
                        tracing::error!(component = %id, lost = events.len(), "sink thread is gone");
                        if let Some(ticket) = events.iter().find_map(Event::ticket) {
                            ticket.poison(&format!("sink {id} stopped before writing {} events", events.len()));
                        }
                        in_flight.sub(events.len());
                        queued.decrement(events.len() as f64);
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
