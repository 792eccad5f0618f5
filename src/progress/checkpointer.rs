//! The checkpointer: a thread that commits every source's finished position
//! to the state store each `checkpoint_interval`, and once more when the run
//! ends. Only positions that moved are written; nothing is written once the
//! board is poisoned (events were lost, so the last good checkpoint stands).

use std::collections::HashMap;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{RecvTimeoutError, Sender};

use super::{Board, SourcePosition, SourceProgress, StateStore, StoreError};
use crate::telemetry::names;

pub struct Checkpointer {
    stop: Option<Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

struct Committer {
    store: StateStore,
    board: Arc<Board>,
    sources: Vec<Arc<SourceProgress>>,
    committed: HashMap<Arc<str>, SourcePosition>,
    ok: metrics::Counter,
    failed: metrics::Counter,
    seconds: metrics::Histogram,
}

impl Checkpointer {
    /// Starts committing `sources`' progress to `store` every `interval`.
    pub fn start(
        pipeline: &str,
        store: StateStore,
        board: Arc<Board>,
        sources: Vec<Arc<SourceProgress>>,
        interval: Duration,
    ) -> std::io::Result<Checkpointer> {
        let (stop, stopped) = crossbeam_channel::bounded::<()>(1);
        let outcome =
            |o: &'static str| metrics::counter!(names::CHECKPOINTS, "pipeline" => pipeline.to_owned(), "outcome" => o);
        let mut committer = Committer {
            committed: sources.iter().filter_map(|s| Some((s.id().clone(), s.finished()?))).collect(),
            store,
            board,
            sources,
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
        let moved: Vec<(Arc<str>, SourcePosition)> = self
            .sources
            .iter()
            .filter_map(|s| Some((s.id().clone(), s.finished()?)))
            .filter(|(id, at)| self.committed.get(id) != Some(at))
            .collect();
        if moved.is_empty() {
            return Ok(());
        }
        let started = Instant::now();
        let positions: Vec<(&str, &SourcePosition)> = moved.iter().map(|(id, at)| (id.as_ref(), at)).collect();
        match self.store.commit(&positions, &[]) {
            Ok(()) => {
                self.ok.increment(1);
                self.seconds.record(started.elapsed().as_secs_f64());
                tracing::debug!(sources = moved.len(), "checkpoint committed");
                self.committed.extend(moved);
                Ok(())
            }
            Err(err) => {
                self.failed.increment(1);
                Err(err)
            }
        }
    }
}
