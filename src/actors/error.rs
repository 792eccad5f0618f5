//! Why a pipeline could not start or run.

use std::path::PathBuf;

use crate::connectors::ConnectorError;
use crate::runtime::RuntimeError;

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    // The cause is part of the message (not a `source`), so `{:#}` does not repeat it.
    #[error("processor {processor}: cannot load {}: {error}", file.display())]
    Module { processor: String, file: PathBuf, error: RuntimeError },
    #[error("{component}: {error}")]
    Connector { component: String, error: ConnectorError },
    #[error("processor {processor}: no module version configured")]
    NoVersions { processor: String },
    #[error("cannot start the pipeline: {0}")]
    Start(String),
    #[error(transparent)]
    Progress(#[from] crate::progress::ResumeError),
}
