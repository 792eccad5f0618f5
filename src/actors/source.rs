//! Source actor: a blocking `Source` runs on a thread of its own and hands
//! batches over a bounded channel; the actor forwards each with
//! `send().await` and reads the next only once it was accepted, so a slow
//! pipeline slows the source.

use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::Arc;

use actix::prelude::*;
use tokio::sync::mpsc;

use super::bridge::RecvStream;
use super::dead_letters::DeadLetterActor;
use super::fanout::FanOut;
use super::messages::{DeadLetters, Flow};
use super::stats::{ConnectorCounters, InFlight};
use crate::connectors::{DeadLetter, Source};
use crate::event::Event;
use crate::progress::SourceProgress;
use crate::telemetry::names;

/// What the source thread hands to its actor.
pub enum SourceItem {
    Events(Vec<Event>),
    Rejects(Vec<DeadLetter>),
}

/// Everything the source thread needs besides the source itself.
pub struct SourceThread {
    pub id: Arc<str>,
    pub pipeline: Arc<str>,
    /// Largest batch one poll may return.
    pub batch_max: usize,
    /// Set on SIGINT/SIGTERM: the thread stops polling, and what it read is still delivered.
    pub stop: Arc<AtomicBool>,
    pub counters: Arc<ConnectorCounters>,
    pub in_flight: InFlight,
    /// Tracks which polls are finished, for sources whose position is saved.
    pub progress: Option<Arc<SourceProgress>>,
}

impl SourceThread {
    /// Starts the thread; the returned channel ends when the source does.
    pub fn spawn(self, source: Box<dyn Source>, capacity: usize) -> std::io::Result<mpsc::Receiver<SourceItem>> {
        let (tx, rx) = mpsc::channel(capacity.max(1));
        std::thread::Builder::new().name(format!("source-{}", self.id)).spawn(move || self.run(source, &tx))?;
        Ok(rx)
    }

    fn run(self, mut source: Box<dyn Source>, tx: &mpsc::Sender<SourceItem>) {
        let labels = [("pipeline", self.pipeline.to_string()), ("component", self.id.to_string())];
        let emitted = metrics::counter!(names::EVENTS_EMITTED, &labels);
        let mut with_kind = labels.to_vec();
        with_kind.push(("kind", crate::connectors::MALFORMED_EVENT.to_owned()));
        let rejected = metrics::counter!(names::EVENTS_DEAD_LETTERED, &with_kind);
        // Only sources that read bytes get the series.
        let bytes_in = source.bytes_read().map(|_| metrics::counter!(names::BYTES_IN, &labels));
        let mut bytes_seen = 0;
        while !self.stop.load(Relaxed) {
            let mut out = Vec::with_capacity(self.batch_max);
            let more = match source.poll_batch(&mut out, self.batch_max) {
                Ok(more) => more,
                Err(err) => {
                    tracing::error!(component = %self.id, "source failed, ending its stream: {err}");
                    false
                }
            };
            if let (Some(counter), Some(total)) = (&bytes_in, source.bytes_read()) {
                counter.increment(total.saturating_sub(bytes_seen));
                bytes_seen = total;
            }
            // Everything this poll produced holds its ticket: the poll is
            // finished when all of it is (events, their outputs, dead letters).
            let on_finish = source.take_finish_action();
            // The position is read only when tracked: an untracked run pays nothing per poll.
            let ticket = match self.progress.as_ref().and_then(|p| Some((p, source.position()?))) {
                Some((progress, at)) => Some(progress.open_with(at, on_finish)),
                // Untracked (a run without checkpoints): nothing waits for the poll's events.
                _ => {
                    if let Some(finish) = on_finish {
                        finish();
                    }
                    None
                }
            };
            let rejects: Vec<DeadLetter> = source
                .take_rejects()
                .into_iter()
                .map(|r| {
                    let mut letter = r.into_dead_letter(&self.id);
                    letter.event.set_ticket(ticket.clone());
                    letter
                })
                .collect();
            if ticket.is_some() {
                out.iter_mut().for_each(|e| e.set_ticket(ticket.clone()));
            }
            drop(ticket);
            if !rejects.is_empty() {
                rejected.increment(rejects.len() as u64);
                self.counters.rejected.fetch_add(rejects.len() as u64, Relaxed);
                self.in_flight.add(rejects.len());
                if tx.blocking_send(SourceItem::Rejects(rejects)).is_err() {
                    return;
                }
            }
            if !out.is_empty() {
                self.counters.events.fetch_add(out.len() as u64, Relaxed);
                emitted.increment(out.len() as u64);
                self.in_flight.add(out.len());
                if tx.blocking_send(SourceItem::Events(out)).is_err() {
                    return;
                }
            }
            if !more {
                return;
            }
        }
    }
}

/// Forwards one source's batches to its fan-out; ends the stream downstream when the source ends.
pub struct SourceActor {
    pub id: Arc<str>,
    pub rx: Option<mpsc::Receiver<SourceItem>>,
    pub fanout: Addr<FanOut>,
    pub dead_letters: Addr<DeadLetterActor>,
    pub mailbox_capacity: usize,
}

impl Actor for SourceActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        ctx.set_mailbox_capacity(self.mailbox_capacity);
        if let Some(rx) = self.rx.take() {
            Self::add_stream(RecvStream(rx), ctx);
        }
    }
}

impl StreamHandler<SourceItem> for SourceActor {
    fn handle(&mut self, item: SourceItem, ctx: &mut Self::Context) {
        match item {
            SourceItem::Events(events) => {
                let send = self.fanout.send(Flow::Events { from: self.id.clone(), events: Arc::new(events) });
                ctx.wait(send.into_actor(self).map(|_, _, _| ()));
            }
            SourceItem::Rejects(letters) => {
                let send = self.dead_letters.send(DeadLetters(letters));
                ctx.wait(send.into_actor(self).map(|_, _, _| ()));
            }
        }
    }

    fn finished(&mut self, ctx: &mut Self::Context) {
        tracing::debug!(component = %self.id, "source ended");
        let send = self.fanout.send(Flow::End { from: self.id.clone() });
        ctx.wait(send.into_actor(self).map(|_, _, ctx: &mut Context<Self>| ctx.stop()));
    }
}
