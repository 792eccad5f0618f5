//! Hot reload: a replaced module file becomes the running version without
//! stopping the pipeline. The new bytes are compiled, ABI-checked and `init`
//! run with the processor's config on the watcher's own thread (never an
//! actix executor), and only a module that passed all three is swapped in,
//! atomically, for the batches dispatched after it. A module that fails is
//! logged with its file and reason and counted; the old version keeps running.
//! With `require_signature`, the signature is checked before anything else: a
//! replacement that is unsigned or not signed by a trusted key is rejected
//! (audited, counted as `rejected`) and never compiled.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::watcher::{FileChange, ModuleWatcher, WatchError, WatchedFile};
use crate::admin::ProcessorControl;
use crate::runtime::{ProcessorSpec, Runtime, RuntimeError};
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
        let watcher = ModuleWatcher::start(files, debounce, move |change| {
            if let Some(target) = change.key.parse::<usize>().ok().and_then(|i| targets.get(i)) {
                reload(&runtime, target, change);
            }
        })?;
        Ok(Reloader { _watcher: watcher })
    }
}

fn reload(runtime: &Runtime, target: &ReloadTarget, change: FileChange) {
    let component = target.control.id();
    let file = change.path.display().to_string();
    // Back to the bytes already running (e.g. a revert during a failed reload): nothing to do.
    if target.control.sha256(target.index).as_deref() == Some(change.sha256.as_str()) {
        return;
    }
    let started = Instant::now();
    match runtime.load_bytes(&change.bytes, target.spec.clone()) {
        Ok(module) => {
            if let Some(key_id) = module.signed_by() {
                signing::audit_accepted(&target.spec.name, module.version(), &change.path, key_id);
            }
            let to = module.version().to_string();
            let from = target.control.swap_module(target.index, module).unwrap_or_default();
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
