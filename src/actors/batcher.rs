//! Batcher actor, one per processor: fan-in from all its inputs, closes a
//! batch when it holds `batch_size` events or when its oldest event waited
//! `batch_timeout`, numbers the batches and hands them to the pool. Once
//! every input ended, the rest goes out as a last batch followed by the end.
//!
//! A stateful processor with more than one worker is split into lanes: each
//! event joins the lane its `route_by` key hashes to, a batch holds one
//! lane's events, and one worker runs each lane, so a key is only ever
//! touched by one instance at a time, in order.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use actix::prelude::*;

use super::messages::{Flow, Job};
use super::versions::{route_key, stable_hash, RouteKey};
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
    /// What splits events into lanes (one per `pending` entry); `None`: one lane.
    lane_key: Option<RouteKey>,
    /// Events waiting for a batch, per lane.
    pending: Vec<Vec<Event>>,
    /// Jobs closed but not yet accepted by the pool, in order.
    outbox: std::collections::VecDeque<Job>,
    /// Whether a job of `outbox` is being sent.
    sending: bool,
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
            lane_key: None,
            pending: vec![Vec::new()],
            outbox: Default::default(),
            sending: false,
            timer: None,
            next_seq: 0,
            waiting_gauge: metrics::Gauge::noop(),
            pool_gauge: metrics::Gauge::noop(),
        }
    }

    /// Splits events into `count` lanes by `key` (nothing for fewer than 2).
    pub fn with_lanes(mut self, key: RouteKey, count: usize) -> Self {
        if count > 1 {
            self.pending = vec![Vec::new(); count];
            self.lane_key = Some(key);
        }
        self
    }

    fn waiting(&self) -> usize {
        self.pending.iter().map(Vec::len).sum()
    }

    /// Adds events to their lanes.
    fn add(&mut self, events: Vec<Event>) {
        let lanes = self.pending.len() as u64;
        match &self.lane_key {
            None if self.pending[0].is_empty() => self.pending[0] = events,
            None => self.pending[0].extend(events),
            Some(key) => {
                for event in events {
                    let lane = (stable_hash(&route_key(key, &event)) % lanes) as usize;
                    self.pending[lane].push(event);
                }
            }
        }
    }

    /// Every lane's waiting events, as batches.
    fn all_waiting(&mut self) -> Vec<Job> {
        let mut jobs = Vec::new();
        for lane in 0..self.pending.len() {
            let events = std::mem::take(&mut self.pending[lane]);
            if !events.is_empty() {
                jobs.push(self.close(lane, events));
            }
        }
        jobs
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

    fn close(&mut self, lane: usize, events: Vec<Event>) -> Job {
        let seq = self.next_seq;
        self.next_seq += 1;
        self.pool_gauge.increment(events.len() as f64);
        Job::Batch { seq, lane, events }
    }

    /// Cuts every full batch out of each lane. The batches are split off its
    /// end, so each event moves at most once and the first batch (the whole
    /// vector, when sources poll in batch-size steps) not at all.
    fn full_batches(&mut self) -> Vec<Job> {
        let mut jobs = Vec::new();
        for lane in 0..self.pending.len() {
            let count = self.pending[lane].len() / self.batch_size;
            if count == 0 {
                continue;
            }
            let mut full = std::mem::take(&mut self.pending[lane]);
            self.pending[lane] = full.split_off(count * self.batch_size);
            let mut batches = Vec::with_capacity(count);
            while full.len() > self.batch_size {
                batches.push(full.split_off(full.len() - self.batch_size));
            }
            batches.push(full);
            jobs.extend(batches.into_iter().rev().map(|b| self.close(lane, b)));
        }
        jobs
    }

    /// Sends jobs in order, taking no other message until the pool accepted
    /// them. One send at a time, from one queue: the timer may close a batch
    /// while earlier ones are still being sent, and the pool must get it
    /// after them (a stateful processor counts on running batches in order).
    fn dispatch(&mut self, jobs: Vec<Job>, ctx: &mut Context<Self>) {
        self.outbox.extend(jobs);
        if !self.sending {
            self.send_next(ctx);
        }
    }

    fn send_next(&mut self, ctx: &mut Context<Self>) {
        let Some(job) = self.outbox.pop_front() else {
            self.sending = false;
            return;
        };
        self.sending = true;
        let (pool, id) = (self.pool.clone(), self.id.clone());
        let send = async move {
            if pool.send(job).await.is_err() {
                tracing::error!(component = %id, "instance pool stopped early");
            }
        };
        ctx.wait(send.into_actor(self).map(|(), act, ctx| act.send_next(ctx)));
    }

    fn arm_timer(&mut self, ctx: &mut Context<Self>) {
        // Called after every change to `pending`: keep its gauge current.
        let waiting = self.waiting();
        self.waiting_gauge.set(waiting as f64);
        if waiting == 0 {
            if let Some(handle) = self.timer.take() {
                ctx.cancel_future(handle);
            }
        } else if self.timer.is_none() {
            self.timer = Some(ctx.run_later(self.batch_timeout, |act, ctx| {
                act.timer = None;
                let jobs = act.all_waiting();
                act.waiting_gauge.set(0.0);
                act.dispatch(jobs, ctx);
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
                self.add(events);
                let jobs = self.full_batches();
                self.arm_timer(ctx);
                self.dispatch(jobs, ctx);
            }
            Flow::End { from } => {
                self.ended.insert(from);
                if !self.inputs.is_subset(&self.ended) {
                    return;
                }
                let mut jobs = self.all_waiting();
                self.arm_timer(ctx);
                jobs.push(Job::End { next_seq: self.next_seq });
                self.dispatch(jobs, ctx);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::*;

    /// Stands in for the instance pool: records every job, in arrival order.
    struct Recorder(Arc<Mutex<Vec<Job>>>);

    impl Actor for Recorder {
        type Context = Context<Self>;
    }

    impl Handler<Job> for Recorder {
        type Result = ();

        fn handle(&mut self, job: Job, _: &mut Context<Self>) {
            self.0.lock().expect("jobs").push(job);
        }
    }

    /// Events `0..n`, event `i` of user `i % users`.
    fn events(n: usize, users: usize) -> Vec<Event> {
        (0..n).map(|i| Event::new(format!("e{i}"), "t", 0, serde_json::json!({"user": i % users, "n": i}))).collect()
    }

    fn number(event: &Event) -> usize {
        event.id()[1..].parse().expect("an id e<n>")
    }

    /// Feeds `inputs` to a batcher made by `make`, then its end; the jobs the pool got.
    fn jobs(make: impl FnOnce(Recipient<Job>) -> Batcher, inputs: Vec<Vec<Event>>) -> Vec<Job> {
        let jobs = Arc::new(Mutex::new(Vec::new()));
        let seen = jobs.clone();
        actix::System::new().block_on(async move {
            let batcher = make(Recorder(seen.clone()).start().recipient()).start();
            let from: Arc<str> = "source".into();
            for events in inputs {
                batcher.send(Flow::Events { from: from.clone(), events: Arc::new(events) }).await.expect("batcher");
            }
            batcher.send(Flow::End { from }).await.expect("batcher");
            while !seen.lock().expect("jobs").iter().any(|job| matches!(job, Job::End { .. })) {
                actix_rt::time::sleep(Duration::from_millis(5)).await;
            }
        });
        let taken = std::mem::take(&mut *jobs.lock().expect("jobs"));
        taken
    }

    fn batcher(pool: Recipient<Job>, batch_size: usize) -> Batcher {
        let inputs = HashSet::from(["source".into()]);
        Batcher::new("p".into(), inputs, batch_size, Duration::from_secs(3600), pool)
    }

    #[test]
    fn lanes_split_by_key_and_keep_each_keys_order() {
        let key = RouteKey::parse("data.user");
        let inputs = vec![events(50, 7), events(50, 7).split_off(25)];
        let jobs = jobs(|pool| batcher(pool, 4).with_lanes(key.clone(), 3), inputs);

        let (mut next_seq, mut lanes_used, mut seen) = (0, HashSet::new(), Vec::new());
        for job in &jobs {
            match job {
                Job::Batch { seq, lane, events } => {
                    assert_eq!(*seq, next_seq, "numbered in the order sent");
                    next_seq += 1;
                    assert!(!events.is_empty() && events.len() <= 4);
                    for event in events {
                        assert_eq!((stable_hash(&route_key(&key, event)) % 3) as usize, *lane, "{}", event.id());
                    }
                    lanes_used.insert(*lane);
                    seen.extend(events.iter().map(number));
                }
                Job::End { next_seq: end } => assert_eq!(*end, next_seq, "the end comes last"),
            }
        }
        assert!(matches!(jobs.last(), Some(Job::End { .. })));
        assert_eq!(lanes_used.len(), 3, "7 users over 3 lanes");
        let expected: Vec<usize> = (0..50).chain(25..50).collect();
        let sorted = |mut numbers: Vec<usize>| {
            numbers.sort_unstable();
            numbers
        };
        assert_eq!(sorted(seen.clone()), sorted(expected.clone()), "every event once per time it came in");
        for user in 0..7 {
            let mine: Vec<usize> = seen.iter().copied().filter(|n| n % 7 == user).collect();
            let theirs: Vec<usize> = expected.iter().copied().filter(|n| n % 7 == user).collect();
            assert_eq!(mine, theirs, "user {user}'s events in the order they came");
        }
    }

    #[test]
    fn one_lane_keeps_the_input_order() {
        let jobs = jobs(|pool| batcher(pool, 8), vec![events(10, 1), events(15, 1).split_off(10)]);
        let batches: Vec<&Vec<Event>> = jobs
            .iter()
            .filter_map(|job| if let Job::Batch { events, .. } = job { Some(events) } else { None })
            .collect();
        assert!(batches.iter().all(|b| b.len() <= 8));
        let order: Vec<usize> = batches.into_iter().flatten().map(number).collect();
        assert_eq!(order, (0..15).collect::<Vec<_>>());
    }
}
