//! Batcher actor, one per processor: fan-in from all its inputs, closes a
//! batch when it holds `batch_size` events or when its oldest event waited
//! `batch_timeout`, numbers the batches and hands them to the pool. Once
//! every input ended, the rest goes out as a last batch followed by the end.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use actix::prelude::*;

use super::messages::{Flow, Job};
use crate::event::Event;
use crate::telemetry::names;

pub struct Batcher {
    pub id: Arc<str>,
    /// Input ids; the stream ends when each of them ended.
    pub inputs: HashSet<Arc<str>>,
    pub ended: HashSet<Arc<str>>,
    pub batch_size: usize,
    pub batch_timeout: Duration,
    /// Where batches go: the WASM instance pool, or a gRPC processor's dispatcher.
    pub pool: Recipient<Job>,
    pending: Vec<Event>,
    /// Timer closing the pending batch; set while `pending` is not empty.
    timer: Option<SpawnHandle>,
    next_seq: u64,
    /// `flowctl_queue_depth`: events waiting for a batch (stage `batcher`),
    /// and batched events not yet emitted (stage `pool`, lowered by the collector).
    waiting_gauge: metrics::Gauge,
    pool_gauge: metrics::Gauge,
}

impl Batcher {
    pub fn new(
        id: Arc<str>,
        inputs: HashSet<Arc<str>>,
        batch_size: usize,
        batch_timeout: Duration,
        pool: Recipient<Job>,
    ) -> Self {
        Self {
            id,
            inputs,
            ended: HashSet::new(),
            batch_size: batch_size.max(1),
            batch_timeout,
            pool,
            pending: Vec::new(),
            timer: None,
            next_seq: 0,
            waiting_gauge: metrics::Gauge::noop(),
            pool_gauge: metrics::Gauge::noop(),
        }
    }

    /// Exports this processor's queue depths under `pipeline`.
    pub fn with_queue_metrics(mut self, pipeline: &str) -> Self {
        let gauge = |stage: &'static str| {
            metrics::gauge!(names::QUEUE_DEPTH,
                "pipeline" => pipeline.to_owned(), "component" => self.id.to_string(), "stage" => stage)
        };
        self.waiting_gauge = gauge("batcher");
        self.pool_gauge = gauge("pool");
        self
    }

    fn close(&mut self, events: Vec<Event>) -> Job {
        let seq = self.next_seq;
        self.next_seq += 1;
        self.pool_gauge.increment(events.len() as f64);
        Job::Batch { seq, events }
    }

    /// Cuts every full batch out of `pending`. The batches are split off its
    /// end, so each event moves at most once and the first batch (the whole
    /// vector, when sources poll in batch-size steps) not at all.
    fn full_batches(&mut self) -> Vec<Job> {
        let count = self.pending.len() / self.batch_size;
        if count == 0 {
            return Vec::new();
        }
        let mut full = std::mem::take(&mut self.pending);
        self.pending = full.split_off(count * self.batch_size);
        let mut batches = Vec::with_capacity(count);
        while full.len() > self.batch_size {
            batches.push(full.split_off(full.len() - self.batch_size));
        }
        batches.push(full);
        batches.into_iter().rev().map(|b| self.close(b)).collect()
    }

    /// Sends jobs in order, taking no other message until the pool accepted them.
    fn dispatch(&mut self, jobs: Vec<Job>, ctx: &mut Context<Self>) {
        if jobs.is_empty() {
            return;
        }
        let pool = self.pool.clone();
        let id = self.id.clone();
        let send = async move {
            for job in jobs {
                if pool.send(job).await.is_err() {
                    tracing::error!(component = %id, "instance pool stopped early");
                }
            }
        };
        ctx.wait(send.into_actor(self));
    }

    fn arm_timer(&mut self, ctx: &mut Context<Self>) {
        // Called after every change to `pending`: keep its gauge current.
        self.waiting_gauge.set(self.pending.len() as f64);
        if self.pending.is_empty() {
            if let Some(handle) = self.timer.take() {
                ctx.cancel_future(handle);
            }
        } else if self.timer.is_none() {
            self.timer = Some(ctx.run_later(self.batch_timeout, |act, ctx| {
                act.timer = None;
                if !act.pending.is_empty() {
                    let batch = std::mem::take(&mut act.pending);
                    act.waiting_gauge.set(0.0);
                    let job = act.close(batch);
                    act.dispatch(vec![job], ctx);
                }
            }));
        }
    }
}

impl Actor for Batcher {
    type Context = Context<Self>;
}

impl Handler<Flow> for Batcher {
    type Result = ();

    fn handle(&mut self, msg: Flow, ctx: &mut Self::Context) {
        match msg {
            Flow::Events { events, .. } => {
                // Copied only when another subscriber holds the same batch.
                let events = Arc::try_unwrap(events).unwrap_or_else(|shared| shared.as_ref().clone());
                if self.pending.is_empty() {
                    self.pending = events;
                } else {
                    self.pending.extend(events);
                }
                let jobs = self.full_batches();
                self.arm_timer(ctx);
                self.dispatch(jobs, ctx);
            }
            Flow::End { from } => {
                self.ended.insert(from);
                if !self.inputs.is_subset(&self.ended) {
                    return;
                }
                let mut jobs = Vec::new();
                if !self.pending.is_empty() {
                    let batch = std::mem::take(&mut self.pending);
                    jobs.push(self.close(batch));
                }
                self.arm_timer(ctx);
                jobs.push(Job::End { next_seq: self.next_seq });
                self.dispatch(jobs, ctx);
            }
        }
    }
}
