//! [`Runtime`] (engines + module cache) and [`LoadedModule`] (a compiled,
//! ABI-checked module ready to instantiate).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use sha2::{Digest, Sha256};
use wasmtime::InstancePre;

use super::cache::{self, CacheOutcome};
use super::engine::{EngineHandle, Engines};
use super::error::{ProcessError, RuntimeError};
use super::host::{self, ProcessorShared};
use super::instance::Instance;
use super::quota::QuotaMeter;
use super::scope::Scopes;
use super::store::StoreData;
use super::validate::{self, ModuleReport};
use super::{ProcessorSpec, RuntimeSettings};
use crate::signing::KeyId;

impl Default for RuntimeSettings {
    /// Cache in `$XDG_CACHE_HOME/flowctl/modules` (else `~/.cache/flowctl/modules`,
    /// else no cache); epoch tick 1 ms, so deadlines are accurate to about 1 ms
    /// at the cost of one atomic increment per millisecond.
    fn default() -> Self {
        let base = std::env::var_os("XDG_CACHE_HOME")
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
            .or_else(|| std::env::var_os("HOME").filter(|v| !v.is_empty()).map(|h| PathBuf::from(h).join(".cache")));
        Self { cache_dir: base.map(|b| b.join("flowctl").join("modules")), epoch_tick: Duration::from_millis(1) }
    }
}

/// The process's WASM runtime. Cheap to clone; share one per process.
#[derive(Clone)]
pub struct Runtime {
    inner: Arc<RuntimeInner>,
}

struct RuntimeInner {
    settings: RuntimeSettings,
    engines: Engines,
    /// Per-processor budgets that outlive any one loaded version.
    scopes: Scopes,
}

impl std::fmt::Debug for Runtime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Runtime").field("settings", &self.inner.settings).finish()
    }
}

impl Runtime {
    /// Starts the runtime. The fuel-less engine is created now, so a broken
    /// wasmtime setup shows at startup rather than at the first module.
    pub fn new(settings: RuntimeSettings) -> Result<Runtime, RuntimeError> {
        let engines = Engines::new(settings.epoch_tick);
        engines.get(false)?;
        Ok(Runtime { inner: Arc::new(RuntimeInner { settings, engines, scopes: Scopes::default() }) })
    }

    pub fn settings(&self) -> &RuntimeSettings {
        &self.inner.settings
    }

    /// The keyed state of processor `name`, once a version granted
    /// `permissions.state` was loaded under that name.
    pub fn processor_state(&self, name: &str) -> Option<Arc<crate::progress::ProcessorState>> {
        self.inner.scopes.state_of(name)
    }

    /// Reads and loads a module file (`.wasm`, or `.wat` text).
    pub fn load_file(&self, path: &Path, spec: ProcessorSpec) -> Result<Arc<LoadedModule>, RuntimeError> {
        let bytes = std::fs::read(path).map_err(|source| RuntimeError::Read { path: path.to_owned(), source })?;
        self.load_bytes(&bytes, spec)
    }

    /// Compiles (or loads the cached artifact), checks the ABI, and
    /// instantiates once to run `init`, so a module that refuses its config fails here.
    pub fn load_bytes(&self, bytes: &[u8], spec: ProcessorSpec) -> Result<Arc<LoadedModule>, RuntimeError> {
        let sha256 = hex::encode(Sha256::digest(bytes));
        let version = spec.version.clone().unwrap_or_else(|| sha256[..12].to_owned());
        // Before compiling: the compiler never sees a module that is not trusted.
        let signed_by = match &spec.trusted_keys {
            Some(trusted) => Some(
                trusted
                    .verify(bytes)
                    .map(|v| v.key_id)
                    .map_err(|reason| RuntimeError::Signature { version: version.clone(), reason })?,
            ),
            None => None,
        };
        let engine = self.inner.engines.get(spec.limits.fuel.is_some())?;
        let (module, cache_outcome) =
            cache::load_or_compile(&engine.engine, self.inner.settings.cache_dir.as_deref(), bytes, &sha256)?;
        let mut report = validate::report_for(&module);
        if !report.is_usable() {
            return Err(RuntimeError::Abi(report.problems.join("; ")));
        }
        for function in host::ungranted_imports(&report, &spec.permissions) {
            tracing::warn!(processor = %spec.name, function, "module imports `{function}`, which this processor is not granted: calls will end with `capability denied`");
            report.notes.push(format!(
                "imports `{function}`, which is not granted: calling it ends the call with `capability denied`"
            ));
        }
        let linker = host::linker(&engine.engine, &spec.permissions, report.uses_wasi)
            .map_err(|e| RuntimeError::Engine(format!("{e:#}")))?;
        let pre = linker.instantiate_pre(&module).map_err(|e| RuntimeError::Abi(format!("{e:#}")))?;
        let scope = self.inner.scopes.get(&spec);
        let shared = Arc::new(ProcessorShared::new(scope, version.clone(), &spec.permissions));
        let deadline_ticks = engine.deadline_ticks(spec.limits.timeout);
        let wall_deadline = host::reads_call_deadline(&spec.permissions, report.uses_wasi);

        // Probe: one instance runs `init` and reports its ABI version.
        let probe = LoadedModule {
            spec,
            version,
            sha256,
            report: report.clone(),
            cache_outcome,
            signed_by,
            engine,
            pre,
            shared,
            deadline_ticks,
            wall_deadline,
        };
        let mut loaded = Arc::new(probe);
        let abi_version = {
            let init_error = |e: ProcessError| match e {
                ProcessError::Instantiate(message) => RuntimeError::Init(message),
                other => RuntimeError::Init(other.to_string()),
            };
            let mut instance = loaded.instantiate().map_err(init_error)?;
            instance.abi_version().map_err(init_error)?
        };
        if abi_version != 1 {
            return Err(RuntimeError::Abi(format!(
                "module speaks ABI version {abi_version}; this flowctl speaks version 1"
            )));
        }
        report.abi_version = abi_version;
        if let Some(module) = Arc::get_mut(&mut loaded) {
            module.report = report;
        }
        Ok(loaded)
    }
}

/// A compiled module with its ABI report, ready to instantiate for one processor.
pub struct LoadedModule {
    spec: ProcessorSpec,
    version: String,
    sha256: String,
    report: ModuleReport,
    cache_outcome: CacheOutcome,
    signed_by: Option<KeyId>,
    /// Keeps the engine's epoch ticker alive while instances may run.
    pub(super) engine: Arc<EngineHandle>,
    pub(super) pre: InstancePre<StoreData>,
    pub(super) shared: Arc<ProcessorShared>,
    pub(super) deadline_ticks: u64,
    /// Whether calls set [`super::store::StoreData::deadline`].
    pub(super) wall_deadline: bool,
}

impl std::fmt::Debug for LoadedModule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoadedModule").field("name", &self.spec.name).field("version", &self.version).finish()
    }
}

impl LoadedModule {
    /// `spec.version`, or the first 12 hex digits of the module's SHA-256.
    pub fn version(&self) -> &str {
        &self.version
    }

    pub fn spec(&self) -> &ProcessorSpec {
        &self.spec
    }

    pub fn report(&self) -> &ModuleReport {
        &self.report
    }

    /// Hex SHA-256 of the module bytes.
    pub fn sha256(&self) -> &str {
        &self.sha256
    }

    /// Whether the compiled code came from the disk cache.
    pub fn cache_outcome(&self) -> CacheOutcome {
        self.cache_outcome
    }

    /// The trusted key its signature verified with (only checked when the spec has `trusted_keys`).
    pub fn signed_by(&self) -> Option<KeyId> {
        self.signed_by
    }

    /// Instances of this module alive now (in every worker).
    pub fn instances_alive(&self) -> u64 {
        self.shared.live.alive()
    }

    /// Linear memory of this module's live instances, in bytes.
    pub fn instance_memory_bytes(&self) -> u64 {
        self.shared.live.memory_bytes()
    }

    /// The processor's quota meter (shared by all its versions).
    pub fn quota(&self) -> &QuotaMeter {
        &self.shared.scope.quota
    }

    /// A fresh instance with `init` run.
    pub fn instantiate(self: &Arc<Self>) -> Result<Instance, ProcessError> {
        Instance::new(self.clone())
    }
}
