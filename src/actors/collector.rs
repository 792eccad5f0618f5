//! Collector actor, one per processor: takes the worker threads' results,
//! puts them back in batch order (a `BTreeMap` keyed by sequence number), and
//! hands the outputs to the processor's fan-out and the failures to the dead
//! letters. A batch's permit is released only after its outputs were
//! accepted downstream, which bounds the reorder buffer and carries
//! backpressure up to the dispatcher.
//!
//! A WASM processor's collector also watches the pool's ledger for the batch
//! it waits for next: one whose worker died, or that overstays its patience
//! (a stuck call), is dead-lettered so the batches behind it move on; its
//! result, should it still come, is dropped and counted.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix::prelude::*;
use tokio::sync::mpsc;

use super::bridge::RecvStream;
use super::dead_letters::DeadLetterActor;
use super::fanout::FanOut;
use super::messages::{DeadLetters, Flow, WorkerOutput};
use super::processor_health::{ProcessorHealth, Readiness};
use super::processor_metrics::ProcessorMetrics;
use super::stats::{InFlight, JobResult, ProcessorCounters};
use crate::admin::ProcessorControl;
use crate::telemetry::names;
use crate::workers::{Failure, Ledger};

/// How often a processor's circuit breakers check their cooldowns.
const BREAKER_TICK: Duration = Duration::from_millis(250);
/// How often a WASM processor's collector looks at the batch it waits for.
const DUE_TICK: Duration = Duration::from_millis(50);

pub struct Collector {
    pub id: Arc<str>,
    pub pipeline: Arc<str>,
    pub rx: Option<mpsc::Receiver<WorkerOutput>>,
    pub fanout: Addr<FanOut>,
    pub dead_letters: Addr<DeadLetterActor>,
    pub counters: Arc<ProcessorCounters>,
    pub in_flight: InFlight,
    /// Signalled once the end of stream went downstream.
    pub ended: Option<tokio::sync::oneshot::Sender<()>>,
    next_seq: u64,
    waiting: BTreeMap<u64, Box<JobResult>>,
    end_at: Option<u64>,
    metrics: ProcessorMetrics,
    /// Readiness from the batches' outcomes; `None` when nobody asks.
    health: Option<ProcessorHealth>,
    /// Canary guard and circuit breakers, fed every batch in dispatch order.
    control: Option<Arc<ProcessorControl>>,
    /// A WASM pool's batches in flight, and its late results dropped.
    ledger: Option<(Arc<Ledger>, metrics::Counter)>,
}

impl Collector {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        id: Arc<str>,
        pipeline: Arc<str>,
        rx: mpsc::Receiver<WorkerOutput>,
        fanout: Addr<FanOut>,
        dead_letters: Addr<DeadLetterActor>,
        counters: Arc<ProcessorCounters>,
        in_flight: InFlight,
        ended: tokio::sync::oneshot::Sender<()>,
    ) -> Self {
        Self {
            pipeline: pipeline.clone(),
            rx: Some(rx),
            fanout,
            dead_letters,
            counters,
            in_flight,
            ended: Some(ended),
            next_seq: 0,
            waiting: BTreeMap::new(),
            end_at: None,
            metrics: ProcessorMetrics::new(pipeline, id.clone()),
            health: None,
            control: None,
            ledger: None,
            id,
        }
    }

    /// Feeds the processor's canary guard and circuit breakers.
    pub fn with_control(mut self, control: Arc<ProcessorControl>) -> Self {
        self.control = Some(control);
        self
    }

    /// Reports this processor down while it crash-loops.
    pub fn with_readiness(mut self, readiness: Readiness) -> Self {
        self.health = Some(ProcessorHealth::new(readiness));
        self
    }

    /// Takes permits from, and gives up on batches in, a WASM pool's ledger.
    pub fn with_ledger(mut self, ledger: Arc<Ledger>) -> Self {
        let late = metrics::counter!(names::LATE_RESULTS_DROPPED, "component" => self.id.to_string());
        self.ledger = Some((ledger, late));
        self
    }

    /// A result in; `false` when it came after the collector gave up on its
    /// batch (its events were dead-lettered): then it is dropped.
    fn accept(&mut self, mut result: Box<JobResult>) -> bool {
        if let Some((ledger, late)) = &self.ledger {
            match ledger.arrived(result.seq) {
                Some(permit) => result.permit = Some(permit),
                None => {
                    late.increment(1);
                    tracing::warn!(
                        component = %self.id,
                        seq = result.seq,
                        outputs = result.outputs.len(),
                        "dropping a batch's result that came after its events were dead-lettered"
                    );
                    return false;
                }
            }
        }
        self.waiting.insert(result.seq, result);
        true
    }

    /// Dead-letters the batches due next that failed or overstayed their
    /// patience, and emits them with the results behind them.
    fn give_up_overdue(&mut self, ctx: &mut Context<Self>) {
        let Some(ledger) = self.ledger.as_ref().map(|(l, _)| l.clone()) else { return };
        let (mut seq, now, mut gave_up) = (self.next_seq, Instant::now(), false);
        loop {
            // Results already here go out with the batch given up on before them.
            while self.waiting.contains_key(&seq) {
                seq += 1;
            }
            let Some(batch) = ledger.overdue(seq, now) else { break };
            tracing::warn!(
                component = %self.id,
                seq,
                events = batch.len(),
                kind = batch.failure.kind,
                "stopped waiting for a batch, its events go to the dead letters: {}",
                batch.failure.message
            );
            self.waiting.insert(seq, Box::new(batch.into_result(&self.id)));
            gave_up = true;
        }
        // Once: an actor runs the futures it waits for last-in first-out, so
        // one emission per call keeps batches in order.
        if gave_up {
            self.emit_ready(ctx);
        }
    }

    /// Emits every result that is next in order, as one downstream message.
    fn emit_ready(&mut self, ctx: &mut Context<Self>) {
        let mut outputs = Vec::new();
        let mut letters = Vec::new();
        let mut permits = Vec::new();
        while let Some(result) = self.waiting.remove(&self.next_seq) {
            self.next_seq += 1;
            self.metrics.record(&result);
            if let Some(health) = &mut self.health {
                health.observe(&result);
            }
            if let Some(control) = &self.control {
                control.observe(&result);
            }
            let JobResult { outputs: mut outs, dead_letters, total, permit, .. } = *result;
            self.counters.add(&total);
            // Inputs leave the pipeline here; outputs and dead letters move on.
            self.in_flight.sub(total.received as usize);
            self.in_flight.add(outs.len() + dead_letters.len());
            outputs.append(&mut outs);
            letters.extend(dead_letters);
            permits.push(permit);
        }
        let end = self.end_at == Some(self.next_seq) && self.ended.is_some();
        if outputs.is_empty() && letters.is_empty() && !end {
            return;
        }
        let (from, fanout, dead) = (self.id.clone(), self.fanout.clone(), self.dead_letters.clone());
        let ended = if end { self.ended.take() } else { None };
        let send = async move {
            if !letters.is_empty() {
                let _ = dead.send(DeadLetters(letters)).await;
            }
            if !outputs.is_empty() {
                let _ = fanout.send(Flow::Events { from: from.clone(), events: Arc::new(outputs) }).await;
            }
            drop(permits);
            if let Some(ended) = ended {
                let _ = fanout.send(Flow::End { from }).await;
                let _ = ended.send(());
            }
        };
        ctx.wait(send.into_actor(self));
    }
}

impl Actor for Collector {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        if let Some(rx) = self.rx.take() {
            Self::add_stream(RecvStream(rx), ctx);
        }
        if let Some(control) = self.control.clone() {
            // Breaker cooldowns end on time, also while no batch comes back.
            ctx.run_interval(BREAKER_TICK, move |_, _| control.tick());
        }
        if self.ledger.is_some() {
            ctx.run_interval(DUE_TICK, |this, ctx| this.give_up_overdue(ctx));
        }
    }
}

impl StreamHandler<WorkerOutput> for Collector {
    fn handle(&mut self, output: WorkerOutput, ctx: &mut Self::Context) {
        match output {
            WorkerOutput::Done(result) => {
                if !self.accept(result) {
                    return;
                }
            }
            WorkerOutput::End { next_seq } => self.end_at = Some(next_seq),
        }
        self.emit_ready(ctx);
    }

    fn finished(&mut self, ctx: &mut Self::Context) {
        if let Some((ledger, _)) = &self.ledger {
            // Every worker is gone: what they did not deliver never will be.
            ledger.fail_all(&Failure::no_worker());
            self.give_up_overdue(ctx);
        }
        if self.ended.is_some() {
            tracing::error!(
                component = %self.id,
                missing_from = self.next_seq,
                "worker threads stopped before every batch came back"
            );
        }
        // Later, not now: a stopping actor no longer runs the emission it waits for.
        ctx.run_later(Duration::ZERO, |_, ctx| ctx.stop());
    }
}
