//! Dead-letter actor, one per pipeline: writes every failed event (with
//! processor, version, error kind and message) through a `DeadLetterWriter`
//! on a thread of its own, flushing when idle and at the end.

use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::Duration;

use actix::prelude::*;
use crossbeam_channel::RecvTimeoutError;
use tokio::sync::oneshot;

use super::bridge::{thread_bridge, ThreadBridge};
use super::messages::DeadLetters;
use super::sink::{ThreadDone, IDLE_FLUSH};
use super::stats::{ConnectorCounters, InFlight};
use crate::connectors::{DeadLetter, DeadLetterWriter};
use crate::progress::Unflushed;

pub struct DeadLetterActor {
    bridge: ThreadBridge<Vec<DeadLetter>>,
    in_flight: InFlight,
}

/// Ends the dead-letter stream: the thread writes what it holds and flushes.
#[derive(Debug, Message)]
#[rtype(result = "()")]
pub struct Close;

impl DeadLetterActor {
    pub fn spawn(
        mut writer: DeadLetterWriter,
        capacity: usize,
        counters: Arc<ConnectorCounters>,
        in_flight: InFlight,
        flush_every: Duration,
    ) -> std::io::Result<(DeadLetterActor, ThreadDone)> {
        let (bridge, rx) = thread_bridge::<Vec<DeadLetter>>(capacity);
        let (done_tx, done_rx) = oneshot::channel();
        let thread_in_flight = in_flight.clone();
        std::thread::Builder::new().name("dead-letters".into()).spawn(move || {
            let mut result = Ok(());
            let mut dirty = false;
            // Letters' tickets: their events are finished once the letters are flushed.
            let mut unflushed = Unflushed::default();
            let flush = |writer: &mut DeadLetterWriter, unflushed: &mut Unflushed| {
                let flushed = writer.flush().map_err(|e| e.to_string());
                match &flushed {
                    Ok(()) => unflushed.flushed(),
                    Err(err) => {
                        tracing::error!("cannot flush dead letters: {err}");
                        unflushed.lost(&format!("dead letters not flushed: {err}"));
                    }
                }
                flushed
            };
            loop {
                match rx.recv_timeout(IDLE_FLUSH) {
                    Ok((letters, _permit)) => {
                        unflushed.hold(letters.iter().map(|l| l.event.ticket()));
                        if let Err(err) = writer.write(&letters) {
                            tracing::error!("cannot write {} dead letters: {err}", letters.len());
                            unflushed.lost(&format!("dead letters not written: {err}"));
                            result = Err(err.to_string());
                        } else {
                            counters.events.fetch_add(letters.len() as u64, Relaxed);
                        }
                        thread_in_flight.sub(letters.len());
                        dirty = true;
                        if unflushed.due(flush_every) {
                            let _ = flush(&mut writer, &mut unflushed);
                            dirty = false;
                        }
                    }
                    Err(RecvTimeoutError::Timeout) if dirty => {
                        let _ = flush(&mut writer, &mut unflushed);
                        dirty = false;
                    }
                    Err(RecvTimeoutError::Timeout) => {}
                    Err(RecvTimeoutError::Disconnected) => break,
                }
            }
            let flushed = flush(&mut writer, &mut unflushed);
            let _ = done_tx.send(result.and(flushed));
        })?;
        Ok((DeadLetterActor { bridge, in_flight }, done_rx))
    }
}

impl Actor for DeadLetterActor {
    type Context = Context<Self>;
}

impl Handler<DeadLetters> for DeadLetterActor {
    type Result = ();

    fn handle(&mut self, DeadLetters(letters): DeadLetters, ctx: &mut Self::Context) {
        let in_flight = self.in_flight.clone();
        let send = self.bridge.send(letters);
        let send = async move {
            if let Err(letters) = send.await {
                tracing::error!(lost = letters.len(), "dead-letter writer is gone");
                if let Some(ticket) = letters.iter().find_map(|l| l.event.ticket()) {
                    ticket.poison("the dead-letter writer stopped before writing some letters");
                }
                in_flight.sub(letters.len());
            }
        };
        ctx.wait(send.into_actor(self));
    }
}

impl Handler<Close> for DeadLetterActor {
    type Result = ();

    fn handle(&mut self, _: Close, ctx: &mut Self::Context) {
        self.bridge.close();
        ctx.stop();
    }
}
