//! The WASM runtime: compiles guest modules once, instantiates sandboxed
//! instances, and runs events through them under limits.
//!
//! Phases: [`Runtime`] (one per process: the wasmtime `Engine`, the module
//! cache, the epoch ticker) -> [`LoadedModule`] (compiled, ABI-checked,
//! `InstancePre` ready) -> [`Instance`] (one `Store`, used by one worker thread)
//! -> [`InstanceSlot`] (an instance that replaces itself after a fatal error).
//!
//! PUBLIC API CONTRACT (other modules code against exactly these names):
//!
//! ```ignore
//! Runtime::new(RuntimeSettings) -> Result<Runtime, RuntimeError>          // Runtime: Clone + Send + Sync
//! Runtime::load_file(&self, path: &Path, spec: ProcessorSpec) -> Result<Arc<LoadedModule>, RuntimeError>
//! Runtime::load_bytes(&self, bytes: &[u8], spec: ProcessorSpec) -> Result<Arc<LoadedModule>, RuntimeError>
//!     // compiles (or loads the cached artifact), checks the ABI, and instantiates
//!     // once to run `init`, so a module that refuses its config fails here.
//! LoadedModule::version(&self) -> &str      // spec.version or 12 hex digits of sha256
//! LoadedModule::spec(&self) -> &ProcessorSpec
//! LoadedModule::report(&self) -> &ModuleReport
//! LoadedModule::instantiate(self: &Arc<Self>) -> Result<Instance, ProcessError>   // runs init
//! Instance::process_batch(&mut self, events: &[Event]) -> Result<Vec<EventResult>, ProcessError>
//!     // Err = the whole call failed (trap, limit): the instance must be dropped.
//!     // Ok(v): v.len() == events.len(); v[i] = Ok(outputs) | Err(GuestError etc.)
//! Instance::process_event(&mut self, event: &Event) -> Result<Vec<Event>, ProcessError>
//! InstanceSlot::new(Arc<LoadedModule>) -> InstanceSlot
//! InstanceSlot::process(&mut self, events: &[Event]) -> Vec<EventResult>
//!     // never fails as a whole: on a fatal error it discards the instance,
//!     // re-runs the batch event by event on fresh instances to isolate the
//!     // culprit, so good events in a batch with a bad one are still processed.
//! InstanceSlot::restarts(&self) -> u64
//! validate::inspect(bytes: &[u8]) -> ModuleReport      // never panics; lists problems
//! ```

pub mod error;
pub mod limits;
pub mod permissions;

pub use error::{ProcessError, RuntimeError};
pub use limits::Limits;
pub use permissions::{HttpPermission, Permissions};

use crate::event::Event;

/// The result for one input event: its output events, or why it failed.
pub type EventResult = Result<Vec<Event>, ProcessError>;

/// Everything needed to load one processor module.
#[derive(Debug, Clone)]
pub struct ProcessorSpec {
    /// Processor id from the pipeline (used in logs, metrics, audit lines).
    pub name: String,
    /// Configured version name; defaults to a short content hash.
    pub version: Option<String>,
    /// Handed to the guest's `init` as JSON.
    pub config: serde_json::Value,
    pub limits: Limits,
    pub permissions: Permissions,
}

/// Process-wide settings of the runtime.
#[derive(Debug, Clone)]
pub struct RuntimeSettings {
    /// Where precompiled modules are cached; `None` disables the disk cache.
    pub cache_dir: Option<std::path::PathBuf>,
    /// How often the epoch ticks; deadlines are rounded up to this.
    pub epoch_tick: std::time::Duration,
}
