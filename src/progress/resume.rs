//! Start of a run: open the pipeline's state store and move every source to
//! its saved position (unless `--from-start`), then track each source that
//! can report a position from there on.

use std::sync::Arc;

use super::{Board, SourceProgress, StateStore, StoreError};
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
}

/// `sources` are the pipeline's, in its order, opened and not yet polled.
pub fn resume_sources(
    pipeline: &Pipeline,
    sources: &mut [Box<dyn Source>],
    from_start: bool,
) -> Result<Resumed, ResumeError> {
    let store = StateStore::open(&pipeline.settings.state_dir, &pipeline.name)?;
    let saved = store.positions()?;
    let board = Arc::new(Board::default());
    let mut trackers = Vec::with_capacity(sources.len());
    for (spec, source) in pipeline.sources.iter().zip(sources.iter_mut()) {
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
        trackers.push(Some(SourceProgress::new(spec.id.as_str().into(), board.clone(), source.position())));
    }
    Ok(Resumed { store: Some(store), board, trackers })
}

/// A run that keeps no progress: nothing resumed, tracked or saved.
pub fn untracked(sources: usize) -> Resumed {
    Resumed { store: None, board: Arc::default(), trackers: vec![None; sources] }
}
