//! Fan-out actor: delivers one producer's ordered output to every subscriber
//! (batchers of downstream processors, sinks). It waits for each subscriber
//! to accept (`send().await`) before taking its next message, so the slowest
//! subscriber sets the pace. Every subscriber gets the same shared batch.

use std::sync::Arc;

use actix::prelude::*;

use super::messages::Flow;
use super::stats::InFlight;

pub struct FanOut {
    pub from: Arc<str>,
    pub subscribers: Vec<Recipient<Flow>>,
    pub in_flight: InFlight,
    pub mailbox_capacity: usize,
}

impl Actor for FanOut {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        ctx.set_mailbox_capacity(self.mailbox_capacity);
    }
}

impl Handler<Flow> for FanOut {
    type Result = ();

    fn handle(&mut self, msg: Flow, ctx: &mut Self::Context) {
        let Some((last, others)) = self.subscribers.split_last() else {
            // Nobody consumes this output: it leaves the pipeline here.
            if let Flow::Events { events, .. } = &msg {
                self.in_flight.sub(events.len());
            }
            return;
        };
        let deliveries: Vec<(Recipient<Flow>, Flow)> = match msg {
            Flow::Events { from, events } => {
                self.in_flight.add(events.len() * others.len());
                let mut out: Vec<_> = others
                    .iter()
                    .map(|s| (s.clone(), Flow::Events { from: from.clone(), events: events.clone() }))
                    .collect();
                out.push((last.clone(), Flow::Events { from, events }));
                out
            }
            Flow::End { from } => {
                self.subscribers.iter().map(|s| (s.clone(), Flow::End { from: from.clone() })).collect()
            }
        };
        let from = self.from.clone();
        let deliver = async move {
            for (subscriber, msg) in deliveries {
                if subscriber.send(msg).await.is_err() {
                    tracing::error!(component = %from, "a subscriber stopped before the stream ended");
                }
            }
        };
        ctx.wait(deliver.into_actor(self));
    }
}
