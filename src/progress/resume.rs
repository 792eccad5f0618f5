//! Start of a run: open the pipeline's state store and move every source to
//! its saved position (unless `--from-start`), then track each source that
//! can report a position from there on.

use std::sync::Arc;

use super::{Board, ProcessorState, SourceProgress, StateStore, StoreError};
use crate::config::Pipeline;
use crate::connectors::{ConnectorError, Source};

#[derive(Debug, thiserror::Error)]
pub enum ResumeError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("source {source_id} cannot resume from its saved position: {error}")]
    Source { source_id: String, error: ConnectorError },
}

/// The store and one tracker per source (`None`: the source cannot resume).
pub struct Resumed {
    /// `None` when the run keeps no progress.
    pub store: Option<StateStore>,
    pub board: Arc<Board>,
    pub trackers: Vec<Option<Arc<SourceProgress>>>,
    /// Processors' keyed state, loaded from the store, committed by the checkpointer.
    pub states: Vec<Arc<ProcessorState>>,
}

/// `sources` are the pipeline's, in its order, opened and not yet polled;
/// `states` the keyed state of its processors granted `permissions.state`.
/// With `from_start`, saved positions and saved state are both ignored (and
/// overwritten by this run's checkpoints).
pub fn resume_sources(
    pipeline: &Pipeline,
    sources: &mut [Box<dyn Source>],
    states: Vec<Arc<ProcessorState>>,
    from_start: bool,
) -> Result<Resumed, ResumeError> {
    let store = StateStore::open(&pipeline.settings.state_dir, &pipeline.name)?;
    let saved = store.positions()?;
    let board = Arc::new(Board::default());
    let mut trackers = Vec::with_capacity(sources.len());
    for (index, (spec, source)) in pipeline.sources.iter().zip(sources.iter_mut()).enumerate() {
        if source.position().is_none() {
            tracing::info!(source = %spec.id, "this source cannot resume after a restart (nothing is saved for it)");
            trackers.push(None);
            continue;
        }
        match saved.get(&spec.id) {
            Some(at) if from_start => {
                tracing::info!(source = %spec.id, saved = %at.position, "--from-start: reading from the beginning");
            }
            Some(at) => {
                source
                    .resume(&at.position)
                    .map_err(|error| ResumeError::Source { source_id: spec.id.clone(), error })?;
                tracing::info!(source = %spec.id, at = %at.position, "resuming where the last run finished");
            }
            None => tracing::debug!(source = %spec.id, "no saved position: reading from the beginning"),
        }
        trackers.push(Some(SourceProgress::new(spec.id.as_str().into(), index, board.clone(), source.position())));
    }
    for state in &states {
        let entries = match from_start {
            true => Vec::new(),
            false => store.state_of(state.processor())?,
        };
        if !entries.is_empty() {
            tracing::info!(processor = state.processor(), keys = entries.len(), "processor state restored");
        }
        state.load(entries);
    }
    Ok(Resumed { store: Some(store), board, trackers, states })
}

/// A run that keeps no progress: nothing resumed, tracked or saved.
pub fn untracked(sources: usize) -> Resumed {
    Resumed { store: None, board: Arc::default(), trackers: vec![None; sources], states: Vec::new() }
}
