//! The live control of every processor, shared by the engine and the admin
//! API. A [`ProcessorControl`] owns the processor's versions (module, weight,
//! guards, counts) behind a mutex and publishes what routing needs into the
//! `ArcSwap` the pool loads at each dispatch: every change (traffic, rollback,
//! reload, a guard's verdict) is one atomic swap between batches, and batches
//! already dispatched finish on the set they started with. The guards' side
//! (batch results in, verdicts out) is in [`super::observe`].

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, RwLock};
use std::time::Instant;

use arc_swap::ArcSwap;

use super::guard::{Breaker, BreakerState, ErrorWindow};
use super::report::{ReloadStatus, StatusReport};
use crate::actors::versions::{RouteKey, SharedVersions, Version, VersionSet};
use crate::config::{BreakerSpec, RollbackSpec};
use crate::runtime::{LoadedModule, ReadyInstances};
use crate::telemetry::names;

/// Size of the error-rate window `flowctl status` shows when no canary guard is configured.
const DEFAULT_WINDOW: usize = 1000;

/// Why an operator's request was refused (a 4xx of the admin API).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ControlError {
    #[error("no processor {id:?} in this pipeline (processors: {known})")]
    UnknownProcessor { id: String, known: String },
    #[error("processor {processor} has no version {version:?} (versions: {known})")]
    UnknownVersion { processor: String, version: String, known: String },
    #[error("no weights given (use e.g. v1=90 v2=10)")]
    NoWeights,
    #[error("every version of {0} would have weight 0: at least one must get traffic")]
    AllZero(String),
    #[error("processor {0} has a single version: there is nothing to roll back to")]
    SingleVersion(String),
}

/// Every processor of the running pipeline. Cheap to clone.
#[derive(Clone, Default)]
pub struct Control {
    inner: Arc<RwLock<Registry>>,
}

#[derive(Default)]
struct Registry {
    pipeline: String,
    processors: Vec<Arc<ProcessorControl>>,
}

impl Control {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds (or replaces, by id) a processor; the engine does this before it starts.
    pub fn register(&self, pipeline: &str, processor: Arc<ProcessorControl>) {
        let mut registry = self.inner.write().unwrap_or_else(PoisonError::into_inner);
        registry.pipeline = pipeline.to_string();
        registry.processors.retain(|p| p.id != processor.id);
        registry.processors.push(processor);
    }

    pub fn processor(&self, id: &str) -> Result<Arc<ProcessorControl>, ControlError> {
        let registry = self.inner.read().unwrap_or_else(PoisonError::into_inner);
        registry.processors.iter().find(|p| &*p.id == id).cloned().ok_or_else(|| ControlError::UnknownProcessor {
            id: id.to_string(),
            known: registry.processors.iter().map(|p| &*p.id).collect::<Vec<_>>().join(", "),
        })
    }

    pub fn status(&self) -> StatusReport {
        let registry = self.inner.read().unwrap_or_else(PoisonError::into_inner);
        StatusReport {
            pipeline: registry.pipeline.clone(),
            processors: registry.processors.iter().map(|p| p.status()).collect(),
        }
    }
}

/// A version as loaded at start.
pub struct NewVersion {
    pub module: Arc<LoadedModule>,
    pub file: PathBuf,
    pub weight: u32,
}

/// How a processor is routed and guarded (from its `wasm:` config).
#[derive(Debug, Clone)]
pub struct Policy {
    pub route_by: String,
    pub pool_size: usize,
    pub rollback: Option<RollbackSpec>,
    pub breaker: Option<BreakerSpec>,
}

/// One processor's versions and guards.
pub struct ProcessorControl {
    pub(super) id: Arc<str>,
    pub(super) policy: Policy,
    route_key: RouteKey,
    shared: SharedVersions,
    pub(super) entries: Mutex<Vec<Entry>>,
    pub(super) reloads: Mutex<ReloadStatus>,
}

/// The control's view of one version.
pub(super) struct Entry {
    pub module: Arc<LoadedModule>,
    /// Instances of `module` prepared before a hot reload swapped it in, until
    /// the workers took them (empty for a version loaded at start).
    pub ready: ReadyInstances,
    pub file: PathBuf,
    /// The operator's weight (from the file, `flowctl traffic`, or 0 after a rollback).
    pub weight: u32,
    pub rolled_back: bool,
    /// The canary guard wanted to roll back but no other version could take
    /// the traffic; logged once until the weights change.
    pub rollback_blocked: bool,
    pub window: ErrorWindow,
    pub breaker: Option<Breaker>,
    pub events: u64,
    pub errors: u64,
    pub restarts: u64,
}

impl Entry {
    pub fn name(&self) -> &str {
        self.module.version()
    }

    pub fn circuit(&self) -> BreakerState {
        self.breaker.as_ref().map_or(BreakerState::Closed, Breaker::state)
    }
}

impl ProcessorControl {
    /// `None` when `versions` is empty.
    pub fn new(id: &str, policy: Policy, versions: Vec<NewVersion>) -> Option<Arc<Self>> {
        let now = Instant::now();
        let window =
            policy.rollback.as_ref().map_or(DEFAULT_WINDOW, |r| usize::try_from(r.min_events).unwrap_or(usize::MAX));
        let entries: Vec<Entry> = versions
            .into_iter()
            .map(|v| Entry {
                module: v.module,
                ready: ReadyInstances::default(),
                file: v.file,
                weight: v.weight,
                rolled_back: false,
                rollback_blocked: false,
                window: ErrorWindow::new(window),
                breaker: policy.breaker.clone().map(|spec| Breaker::new(spec, now)),
                events: 0,
                errors: 0,
                restarts: 0,
            })
            .collect();
        let route_key = RouteKey::parse(&policy.route_by);
        let first = Self::version_set(&entries, &route_key)?;
        let control = Arc::new(Self {
            id: id.into(),
            policy,
            route_key,
            shared: Arc::new(ArcSwap::from_pointee(first)),
            entries: Mutex::new(entries),
            reloads: Mutex::default(),
        });
        for entry in control.lock().iter() {
            control.breaker_gauge(entry.name(), entry.circuit());
        }
        Some(control)
    }

    pub fn id(&self) -> &str {
        &self.id
    }

    /// Worker threads running the processor: the instances a reload prepares.
    pub fn pool_size(&self) -> usize {
        self.policy.pool_size.max(1)
    }

    /// What the pool loads at each dispatch.
    pub fn shared(&self) -> SharedVersions {
        self.shared.clone()
    }

    pub(super) fn lock(&self) -> MutexGuard<'_, Vec<Entry>> {
        self.entries.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Routing for `entries`: a version with an open circuit gets weight 0
    /// while some closed version has weight; otherwise it keeps its weight and
    /// its events are dead-lettered as `circuit_open` (never silently moved to
    /// a version the operator set to 0).
    fn version_set(entries: &[Entry], route_key: &RouteKey) -> Option<VersionSet> {
        let closed_weight: u64 =
            entries.iter().filter(|e| e.circuit() != BreakerState::Open).map(|e| u64::from(e.weight)).sum();
        let versions = entries
            .iter()
            .map(|e| {
                let open = e.circuit() == BreakerState::Open;
                Version {
                    name: e.name().into(),
                    module: e.module.clone(),
                    ready: e.ready.clone(),
                    weight: if open && closed_weight > 0 { 0 } else { e.weight },
                    circuit_open: open,
                }
            })
            .collect();
        VersionSet::new(versions, route_key.clone())
    }

    pub(super) fn publish(&self, entries: &[Entry]) {
        if let Some(set) = Self::version_set(entries, &self.route_key) {
            self.shared.store(Arc::new(set));
        }
    }

    /// `flowctl traffic`: sets the weights of the named versions (others keep theirs).
    pub fn set_traffic(&self, weights: &BTreeMap<String, u32>) -> Result<(), ControlError> {
        if weights.is_empty() {
            return Err(ControlError::NoWeights);
        }
        let mut entries = self.lock();
        let mut next: Vec<u32> = entries.iter().map(|e| e.weight).collect();
        for (name, weight) in weights {
            let i = self.index_of(&entries, name)?;
            next[i] = *weight;
        }
        if next.iter().all(|w| *w == 0) {
            return Err(ControlError::AllZero(self.id.to_string()));
        }
        for (e, weight) in entries.iter_mut().zip(next) {
            if weight > 0 && e.rolled_back {
                // Back in service: judge it on fresh events only.
                e.rolled_back = false;
                e.window.clear();
            }
            e.rollback_blocked = false;
            e.weight = weight;
        }
        let summary = entries.iter().map(|e| format!("{}={}", e.name(), e.weight)).collect::<Vec<_>>().join(" ");
        tracing::info!(component = %self.id, weights = %summary, "traffic changed by the operator");
        self.publish(&entries);
        Ok(())
    }

    /// `flowctl rollback`: all traffic to `to` (default: the first version in
    /// the file). Returns the version that now gets everything.
    pub fn rollback(&self, to: Option<&str>) -> Result<String, ControlError> {
        let mut entries = self.lock();
        if entries.len() < 2 {
            return Err(ControlError::SingleVersion(self.id.to_string()));
        }
        let target = match to {
            Some(name) => self.index_of(&entries, name)?,
            None => 0,
        };
        for (i, e) in entries.iter_mut().enumerate() {
            e.weight = if i == target { 100 } else { 0 };
            e.rollback_blocked = false;
            if i == target && e.rolled_back {
                e.rolled_back = false;
                e.window.clear();
            }
        }
        let name = entries[target].name().to_string();
        tracing::warn!(component = %self.id, version = %name, "rolled back by the operator: all traffic to {name}");
        self.publish(&entries);
        Ok(name)
    }

    fn index_of(&self, entries: &[Entry], name: &str) -> Result<usize, ControlError> {
        entries.iter().position(|e| e.name() == name).ok_or_else(|| ControlError::UnknownVersion {
            processor: self.id.to_string(),
            version: name.to_string(),
            known: entries.iter().map(Entry::name).collect::<Vec<_>>().join(", "),
        })
    }

    /// SHA-256 of the module version `index` runs now.
    pub fn sha256(&self, index: usize) -> Option<String> {
        self.lock().get(index).map(|e| e.module.sha256().to_string())
    }

    /// Hot reload: version `index` runs `module` from the next dispatched
    /// batch on, the workers' first calls on the `ready` instances (prepared
    /// off their threads). Its guards start afresh; weight and rollback state
    /// stay. Returns the replaced version's name.
    pub fn swap_module(&self, index: usize, module: Arc<LoadedModule>, ready: ReadyInstances) -> Option<String> {
        let mut entries = self.lock();
        let entry = entries.get_mut(index)?;
        let old = std::mem::replace(&mut entry.module, module);
        entry.ready = ready;
        if old.version() != entry.module.version() {
            // An unnamed version is renamed by its new hash: its old series is no longer current.
            self.breaker_gauge_off(old.version());
        }
        entry.window.clear();
        if let Some(breaker) = entry.breaker.as_mut() {
            breaker.reset(Instant::now());
        }
        let (name, circuit) = (entry.name().to_string(), entry.circuit());
        self.breaker_gauge(&name, circuit);
        self.publish(&entries);
        drop(entries);
        let mut reloads = self.reloads.lock().unwrap_or_else(PoisonError::into_inner);
        reloads.ok += 1;
        metrics::counter!(names::MODULE_RELOADS, "component" => self.id.to_string(), "result" => "ok").increment(1);
        Some(old.version().to_string())
    }

    /// A reload that did not happen: the old version keeps running.
    pub fn reload_failed(&self, reason: String) {
        self.reload_not_taken(reason, "error");
    }

    /// A replacement refused for its signature (`require_signature`): the old
    /// version keeps running. Counted apart from broken modules in the metric
    /// (it may be an attack, not a bad build); `flowctl status` counts it as failed.
    pub fn reload_rejected(&self, reason: String) {
        self.reload_not_taken(reason, "rejected");
    }

    fn reload_not_taken(&self, reason: String, result: &'static str) {
        let mut reloads = self.reloads.lock().unwrap_or_else(PoisonError::into_inner);
        reloads.error += 1;
        reloads.last_error = Some(reason);
        metrics::counter!(names::MODULE_RELOADS, "component" => self.id.to_string(), "result" => result).increment(1);
    }
}
