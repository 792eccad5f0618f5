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
//!     // with `spec.trusted_keys`, the signature is checked first: RuntimeError::Signature.
//! LoadedModule::version(&self) -> &str      // spec.version or 12 hex digits of sha256
//! LoadedModule::spec(&self) -> &ProcessorSpec
//! LoadedModule::report(&self) -> &ModuleReport
//! LoadedModule::instantiate(self: &Arc<Self>) -> Result<Instance, ProcessError>   // runs init
//! Instance::process_batch(&mut self, events: &[Event]) -> Result<Vec<EventResult>, ProcessError>
//!     // Err = the whole call failed (trap, limit): the instance must be dropped.
//!     // Ok(v): v.len() == events.len(); v[i] = Ok(outputs) | Err(GuestError etc.)
//! Instance::process_event(&mut self, event: &Event) -> Result<Vec<Event>, ProcessError>
//! InstanceSlot::new(Arc<LoadedModule>) -> InstanceSlot
//! InstanceSlot::with_ready(Arc<LoadedModule>, ReadyInstances) -> InstanceSlot
//!     // takes its instances from `ready` (made and init-ed ahead) while any are left
//! ReadyInstances::prepare(&Arc<LoadedModule>, count) -> Result<ReadyInstances, ProcessError>
//! InstanceSlot::process(&mut self, events: &[Event]) -> Vec<EventResult>
//!     // never fails as a whole: runs `RetryPolicy::ISOLATE_ONLY` (a failed
//!     // batch call is re-run event by event on fresh instances to isolate the
//!     // culprit, so good events in a batch with a bad one are still processed).
//! InstanceSlot::call(&mut self, events: &[Event]) -> Result<Vec<EventResult>, ProcessError>
//!     // one guest call; Err = failed as a whole (instance dropped if it poisons)
//! RetryPolicy { max_retries }.run(events, batched, call) -> Vec<EventResult>
//!     // the one retry policy (see `retry`): what the engine's workers run
//! InstanceSlot::restarts(&self) -> u64
//! validate::inspect(bytes: &[u8]) -> ModuleReport      // never panics; lists problems
//! ```
//!
//! Also available: `RuntimeSettings::default()` (cache in the XDG cache dir,
//! 1 ms epoch tick), `Runtime::settings`, `LoadedModule::{sha256,
//! cache_outcome, signed_by}`, `Instance::{memory_bytes, abi_version, module}`,
//! `InstanceSlot::{memory_bytes, module}`, `ModuleReport::is_usable` and its
//! `Display`, and the metric names in [`metrics`].
//!
//! Files: `engine` (engines, epoch tickers), `cache` (compiled artifacts on
//! disk, sealed with an HMAC), `cache_trust` (whether the cache directory is
//! private to this user; the HMAC key), `module` (Runtime, LoadedModule), `instance` (guest calls),
//! `slot` (self-replacing instance), `ready` (instances prepared ahead of
//! their first call, after a hot reload), `scope` (budgets a processor keeps
//! across versions and reloads), `quota` (CPU, HTTP and memory per window), `usage` (fuel, bytes, restarts by reason,
//! live instances), `host` (host functions and grants), `host_calls` (their counters),
//! `http` (egress policy: domains, ports, addresses, body caps, the
//! per-processor rate cap, the pinned client), `wasi` (locked-down WASI),
//! `wasi_poll` (`poll_oneoff` under the call's deadline), `guest_abort` (AssemblyScript's `env.abort`),
//! `store` (store data, memory limiter), `guest_memory` (bounds checks),
//! `wire` (events in and out), `trap` (error classification), `validate`;
//! `retry` (the one retry policy for guest calls, also run by the engine's workers).

pub mod cache;
mod cache_trust;
mod engine;
pub mod error;
mod guest_abort;
mod guest_memory;
mod host;
mod host_calls;
mod host_state;
pub mod http;
mod instance;
pub mod limits;
pub mod metrics;
mod module;
pub mod permissions;
pub mod quota;
mod ready;
mod retry;
mod scope;
mod slot;
mod store;
mod trap;
mod usage;
pub mod validate;
mod wasi;
mod wasi_poll;
mod wire;

#[cfg(test)]
mod host_tests;
#[cfg(test)]
mod instance_tests;
#[cfg(test)]
mod signature_tests;
#[cfg(test)]
pub(crate) mod test_guests;
#[cfg(test)]
mod wire_props;

pub use cache::CacheOutcome;
pub use error::{ProcessError, RuntimeError};
pub use instance::Instance;
pub use limits::{Limits, StateCaps};
pub use module::{LoadedModule, Runtime};
pub use permissions::{HttpPermission, Permissions};
pub use quota::{QuotaAction, Quotas};
pub use ready::ReadyInstances;
pub use retry::{CallResult, RetryPolicy};
pub use slot::{InstanceSlot, RECYCLE_AFTER_CALLS};
pub use usage::{RestartReason, Usage};
pub use validate::ModuleReport;

use crate::event::Event;

/// The result for one input event: its output events, or why it failed.
pub type EventResult = Result<Vec<Event>, ProcessError>;

/// The results of `events` refused as a whole, each with `err`.
pub fn refuse_all(events: &[Event], err: &ProcessError) -> Vec<EventResult> {
    events.iter().map(|_| Err(err.clone())).collect()
}

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
    /// Label of whoever owns the processor, on quota metrics and audit lines.
    pub tenant: Option<String>,
    /// Budgets per window, shared by all versions of the processor.
    pub quotas: Quotas,
    /// `Some`: the module must carry a signature by one of these keys, checked
    /// before it is compiled (`wasm.require_signature`); `None`: not checked.
    pub trusted_keys: Option<crate::signing::TrustedKeys>,
}

impl ProcessorSpec {
    /// A spec with the defaults: no version name, config `{}`, default limits
    /// and permissions, no signature required. Set the fields that differ.
    pub fn named(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            version: None,
            config: serde_json::json!({}),
            limits: Limits::default(),
            permissions: Permissions::default(),
            tenant: None,
            quotas: Quotas::default(),
            trusted_keys: None,
        }
    }
}

/// Process-wide settings of the runtime.
#[derive(Debug, Clone)]
pub struct RuntimeSettings {
    /// Where precompiled modules are cached; `None` disables the disk cache.
    /// Used only while it is private to this user (see `cache_trust`).
    pub cache_dir: Option<std::path::PathBuf>,
    /// How often the epoch ticks; deadlines are rounded up to this.
    pub epoch_tick: std::time::Duration,
}
