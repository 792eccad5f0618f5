//! The checkpointer: a thread that commits every source's finished position,
//! and the processor state written by the events before it, to the state
//! store each `checkpoint_interval`, and once more when the run ends. Only
//! what moved is written; nothing is written once the board is poisoned
//! (events were lost, so the last good checkpoint stands).

use std::collections::VecDeque;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{RecvTimeoutError, Sender};

use super::{Board, ProcessorState, SourcePosition, SourceProgress, StatePlan, StateStore, StateWrite, StoreError};
use crate::telemetry::names;

pub struct Checkpointer {
    stop: Option<Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

struct Committer {
    store: StateStore,
    board: Arc<Board>,
    sources: Vec<Arc<SourceProgress>>,
    states: Vec<Arc<ProcessorState>>,
    /// By source index: polls finished and not committed yet, oldest first.
    finished: Vec<VecDeque<(u64, SourcePosition)>>,
    /// By source index: the last committed poll of this run.
    committed: Vec<Option<u64>>,
    /// By source index: the position last written (an idle source's polls
    /// move the sequence, not the position: nothing is written for them).
    saved: Vec<Option<SourcePosition>>,
    ok: metrics::Counter,
    failed: metrics::Counter,
    seconds: metrics::Histogram,
}

impl Checkpointer {
    /// Starts committing `sources`' progress and `states` to `store` every `interval`.
    pub fn start(
        pipeline: &str,
        store: StateStore,
        board: Arc<Board>,
        sources: Vec<Arc<SourceProgress>>,
        states: Vec<Arc<ProcessorState>>,
        interval: Duration,
    ) -> std::io::Result<Checkpointer> {
        let (stop, stopped) = crossbeam_channel::bounded::<()>(1);
        let outcome =
            |o: &'static str| metrics::counter!(names::CHECKPOINTS, "pipeline" => pipeline.to_owned(), "outcome" => o);
        let indexes = sources.iter().map(|s| s.index() + 1).max().unwrap_or(0);
        let mut committer = Committer {
            finished: vec![VecDeque::new(); indexes],
            committed: vec![None; indexes],
            saved: vec![None; indexes],
            store,
            board,
            sources,
            states,
            ok: outcome("ok"),
            failed: outcome("failed"),
            seconds: metrics::histogram!(names::CHECKPOINT_SECONDS, "pipeline" => pipeline.to_owned()),
        };
        let thread = std::thread::Builder::new().name("checkpointer".into()).spawn(move || loop {
            let last = !matches!(stopped.recv_timeout(interval), Err(RecvTimeoutError::Timeout));
            if let Err(err) = committer.checkpoint() {
                tracing::error!(
                    "checkpoint failed (the pipeline keeps running; a restart replays from the last good one): {err}"
                );
            }
            if last {
                return;
            }
        })?;
        Ok(Checkpointer { stop: Some(stop), thread: Some(thread) })
    }

    /// Commits once more (everything finished by now) and stops.
    pub fn finish(mut self) {
        self.stop_and_join();
    }

    fn stop_and_join(&mut self) {
        drop(self.stop.take());
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for Checkpointer {
    fn drop(&mut self) {
        self.stop_and_join();
    }
}

impl Committer {
    fn checkpoint(&mut self) -> Result<(), StoreError> {
        if self.board.poisoned().is_some() {
            return Ok(());
        }
        for source in &self.sources {
            self.finished[source.index()].extend(source.take_finished());
        }
        let mut upto: Vec<Option<u64>> =
            self.finished.iter().zip(&self.committed).map(|(f, c)| f.back().map(|(seq, _)| *seq).or(*c)).collect();
        // State written by events on both sides of a position holds it back (see `keyed`).
        while self.states.iter().fold(false, |moved, state| state.clamp(&mut upto) | moved) {}
        for (upto, committed) in upto.iter_mut().zip(&self.committed) {
            *upto = (*upto).max(*committed);
        }
        let plans: Vec<StatePlan> = self.states.iter().map(|state| state.plan(&upto)).collect();
        let moved: Vec<(usize, &str, &SourcePosition)> = self
            .sources
            .iter()
            .filter(|s| upto[s.index()] != self.committed[s.index()])
            .filter_map(|s| {
                let at = &self.finished[s.index()].iter().find(|(seq, _)| Some(*seq) == upto[s.index()])?.1;
                (self.saved[s.index()].as_ref() != Some(at)).then_some((s.index(), s.id().as_ref(), at))
            })
            .collect();
        let positions: Vec<(&str, &SourcePosition)> = moved.iter().map(|(_, id, at)| (*id, *at)).collect();
        let writes: Vec<StateWrite> = plans.iter().flat_map(|p| p.writes.iter().cloned()).collect();
        if positions.is_empty() && writes.is_empty() {
            self.advance(upto);
            return Ok(());
        }
        let saved: Vec<(usize, SourcePosition)> = moved.iter().map(|(index, _, at)| (*index, (*at).clone())).collect();
        let started = Instant::now();
        let sources = positions.len();
        if let Err(err) = self.store.commit(&positions, &writes) {
            self.failed.increment(1);
            return Err(err);
        }
        self.ok.increment(1);
        self.seconds.record(started.elapsed().as_secs_f64());
        tracing::debug!(sources, state_writes = writes.len(), "checkpoint committed");
        for (state, plan) in self.states.iter().zip(plans) {
            state.confirm(plan);
        }
        for (index, at) in saved {
            self.saved[index] = Some(at);
        }
        self.advance(upto);
        Ok(())
    }

    /// Everything up to `upto` is committed (or had nothing new to write).
    fn advance(&mut self, upto: Vec<Option<u64>>) {
        for ((finished, committed), upto) in self.finished.iter_mut().zip(&mut self.committed).zip(upto) {
            finished.retain(|(seq, _)| Some(*seq) > upto);
            *committed = upto;
        }
    }
}
