//! Hot reload: a replaced module file becomes the running version without
//! stopping the pipeline. The new bytes are compiled, ABI-checked and `init`
//! run with the processor's config, and one instance per worker is made and
//! `init`-ed, all on the background [`Loader`] (below the workers' scheduling
//! priority, never an actix executor); only a module that passed all of it is
//! swapped in, atomically, for the batches dispatched after it, with the
//! instances for the workers' first batches of it. The output does not stall
//! for the compile, nor for instantiating on a worker. A module that fails is
//! logged with its file and reason and counted; the old version keeps running.
//! With `require_signature`, the signature is checked before anything else: a
//! replacement that is unsigned or not signed by a trusted key is rejected
//! (audited, counted as `rejected`) and never compiled.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::loader::Loader;
use super::watcher::{FileChange, ModuleWatcher, WatchError, WatchedFile};
use crate::admin::ProcessorControl;
use crate::runtime::{LoadedModule, ProcessorSpec, ReadyInstances, Runtime, RuntimeError};
use crate::signing;

/// Quiet time after the last file system event before a file is re-read:
/// `cp` and editors write in several steps.
pub const DEBOUNCE: Duration = Duration::from_millis(100);

/// One version's file, and what it takes to load it again.
pub struct ReloadTarget {
    pub control: Arc<ProcessorControl>,
    /// The version's position in the processor's `versions`.
    pub index: usize,
    pub file: PathBuf,
    /// The spec the version was loaded with at start (config, limits, permissions, name).
    pub spec: ProcessorSpec,
}

/// Watches every target until dropped.
pub struct Reloader {
    /// Owns the loader: dropping it ends the watch thread, then the loader's threads.
    _watcher: ModuleWatcher,
}

impl Reloader {
    pub fn start(runtime: Runtime, targets: Vec<ReloadTarget>, debounce: Duration) -> Result<Reloader, WatchError> {
        let files = targets
            .iter()
            .enumerate()
            .map(|(i, t)| WatchedFile {
                key: i.to_string(),
                path: t.file.clone(),
                known_sha256: t.control.sha256(t.index),
            })
            .collect();
        let loader = Loader::start().map_err(|e| WatchError::Start(format!("cannot start the reload loader: {e}")))?;
        let watcher = ModuleWatcher::start(files, debounce, move |change| {
            if let Some(target) = change.key.parse::<usize>().ok().and_then(|i| targets.get(i)) {
                reload(&runtime, &loader, target, change);
            }
        })?;
        Ok(Reloader { _watcher: watcher })
    }
}

/// Runs on the watch thread: loads on the loader, swaps here (see [`super::loader`]).
fn reload(runtime: &Runtime, loader: &Loader, target: &ReloadTarget, change: FileChange) {
    let component = target.control.id();
    let file = change.path.display().to_string();
    // Back to the bytes already running (e.g. a revert during a failed reload): nothing to do.
    if target.control.sha256(target.index).as_deref() == Some(change.sha256.as_str()) {
        return;
    }
    let started = Instant::now();
    let instances = target.control.pool_size();
    match loader.run(|| prepare(runtime, &change.bytes, &target.spec, instances)) {
        Ok((module, ready)) => {
            if let Some(key_id) = module.signed_by() {
                signing::audit_accepted(&target.spec.name, module.version(), &change.path, key_id);
            }
            let to = module.version().to_string();
            let from = target.control.swap_module(target.index, module, ready).unwrap_or_default();
            tracing::info!(
                component,
                file,
                from,
                to,
                load_ms = started.elapsed().as_millis() as u64,
                "module reloaded: batches dispatched from now on run {to}"
            );
        }
        Err(err @ RuntimeError::Signature { .. }) => {
            if let RuntimeError::Signature { version, reason } = &err {
                signing::audit_refused(&target.spec.name, version, &change.path, reason);
            }
            tracing::error!(component, file, reason = %err, "module reload rejected, the running version stays: {err}");
            target.control.reload_rejected(format!("{file}: {err}"));
        }
        Err(err) => {
            tracing::error!(component, file, reason = %err, "module reload failed, the running version stays: {err}");
            target.control.reload_failed(format!("{file}: {err}"));
        }
    }
}

/// Loads `bytes` (compile, ABI check, `init`) and makes `instances` more,
/// `init`-ed, for the workers' first batches.
fn prepare(
    runtime: &Runtime,
    bytes: &[u8],
    spec: &ProcessorSpec,
    instances: usize,
) -> Result<(Arc<LoadedModule>, ReadyInstances), RuntimeError> {
    let module = runtime.load_bytes(bytes, spec.clone())?;
    let ready = ReadyInstances::prepare(&module, instances).map_err(|e| RuntimeError::Init(e.to_string()))?;
    Ok((module, ready))
}
