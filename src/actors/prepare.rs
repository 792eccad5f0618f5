//! Before the first actor starts: every module loaded through the shared
//! `Runtime` (failing fast with the processor and file named), every
//! connector opened, and each source moved to its saved position.

use std::collections::HashMap;
use std::sync::Arc;

use super::error::EngineError;
use super::load::load_versions;
use crate::admin::{Control, ProcessorControl};
use crate::config::Pipeline;
use crate::connectors::{self, DeadLetterWriter, Sink, Source};
use crate::progress::{resume_sources, untracked, Resumed};
use crate::reload::ReloadTarget;
use crate::runtime::Runtime;

/// Everything that must exist before the first actor starts.
pub(super) struct Prepared {
    pub(super) versions: HashMap<String, Arc<ProcessorControl>>,
    pub(super) reload_targets: Vec<ReloadTarget>,
    pub(super) sources: Vec<Box<dyn Source>>,
    pub(super) sinks: Vec<Box<dyn Sink>>,
    pub(super) dead_letters: DeadLetterWriter,
}

/// How a run keeps its progress.
#[derive(Debug, Clone, Copy)]
pub(super) struct ProgressMode {
    pub from_start: bool,
    pub without_checkpoints: bool,
}

/// Loads modules and opens connectors. Blocking (compiles WASM, opens files).
pub(super) fn prepare(
    pipeline: &Pipeline,
    runtime: &Runtime,
    control: &Control,
    mut given_sources: HashMap<String, Box<dyn Source>>,
    mut given_sinks: HashMap<String, Box<dyn Sink>>,
    progress: ProgressMode,
) -> Result<(Prepared, Resumed), EngineError> {
    let mut versions = HashMap::new();
    let mut reload_targets = Vec::new();
    for processor in &pipeline.processors {
        let Some(wasm) = processor.wasm() else { continue };
        let (processor_control, targets) = load_versions(processor, wasm, &pipeline.settings.trusted_keys, runtime)?;
        control.register(&pipeline.name, processor_control.clone());
        versions.insert(processor.id.clone(), processor_control);
        reload_targets.extend(targets);
    }
    let connector = |component: &str| {
        let component = component.to_string();
        move |error| EngineError::Connector { component, error }
    };
    let mut sources: Vec<Box<dyn Source>> = pipeline
        .sources
        .iter()
        .map(|s| match given_sources.remove(&s.id) {
            Some(source) => Ok(source),
            None => connectors::build_source(s).map_err(connector(&s.id)),
        })
        .collect::<Result<_, _>>()?;
    let sinks = pipeline
        .sinks
        .iter()
        .map(|s| match given_sinks.remove(&s.id) {
            Some(sink) => Ok(sink),
            None => connectors::build_sink(s).map_err(connector(&s.id)),
        })
        .collect::<Result<_, _>>()?;
    let dead_letters = DeadLetterWriter::open(&pipeline.settings.dead_letter).map_err(connector("dead letters"))?;
    let progress = match progress.without_checkpoints {
        true => untracked(sources.len()),
        false => {
            let states = pipeline.processors.iter().filter_map(|p| runtime.processor_state(&p.id)).collect();
            resume_sources(pipeline, &mut sources, states, progress.from_start)?
        }
    };
    Ok((Prepared { versions, reload_targets, sources, sinks, dead_letters }, progress))
}
