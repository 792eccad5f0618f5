//! The validated pipeline: what `config::load` returns once every check passed.
//! Paths are absolute (resolved against the file's directory), units parsed,
//! the graph checked to be a DAG. The engine only ever sees this form.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use crate::runtime::{Limits, Permissions};

/// A whole `flowctl.yaml`.
#[derive(Debug, Clone)]
pub struct Pipeline {
    pub name: String,
    /// The file it came from (for messages).
    pub source_file: PathBuf,
    pub settings: Settings,
    pub sources: Vec<SourceSpec>,
    pub processors: Vec<ProcessorConfig>,
    pub sinks: Vec<SinkSpec>,
}

/// Process-level settings from `spec.settings` (all optional in the file).
#[derive(Debug, Clone)]
pub struct Settings {
    /// `error`, `warn`, `info`, `debug`, `trace` (default `info`).
    pub log_level: String,
    /// Where `/metrics`, `/healthz`, `/readyz` listen (default 127.0.0.1:9464).
    pub metrics_addr: SocketAddr,
    /// Dead-letter JSONL file (default `dead-letters.jsonl` next to the pipeline file).
    pub dead_letter: DeadLetterSpec,
    /// How long to drain in-flight events on SIGINT/SIGTERM (default 10s).
    pub shutdown_grace: Duration,
    /// Capacity of every mailbox/channel between stages, in batches (default 16).
    pub channel_capacity: usize,
    /// Bearer token the admin API (`/admin/...`) requires. Mandatory when
    /// `metrics_addr` is not a loopback address.
    pub admin_token: Option<String>,
    /// Watch module files and swap in a replaced module while running (default true).
    pub hot_reload: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub enum DeadLetterSpec {
    File(PathBuf),
    Stderr,
}

/// One source: `id`, where its events come from.
#[derive(Debug, Clone)]
pub struct SourceSpec {
    pub id: String,
    pub kind: SourceKind,
}

#[derive(Debug, Clone)]
pub enum SourceKind {
    Generator(GeneratorConfig),
    File(FileSourceConfig),
    Stdin,
}

#[derive(Debug, Clone)]
pub struct GeneratorConfig {
    /// `simple` (small JSON payloads) or `stellar` (Horizon-shaped transactions).
    pub profile: GeneratorProfile,
    /// Stop after this many events; `None` = run until stopped.
    pub count: Option<u64>,
    /// Events per second; `None` = as fast as downstream accepts.
    pub rate: Option<f64>,
    /// Approximate payload size in bytes for the `simple` profile.
    pub event_size: usize,
    /// Seed for deterministic output.
    pub seed: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GeneratorProfile {
    Simple,
    Stellar,
}

#[derive(Debug, Clone)]
pub struct FileSourceConfig {
    pub path: PathBuf,
    /// Keep reading appended lines after reaching the end (like `tail -f`).
    pub follow: bool,
}

/// One processor (only `type: wasm` exists today).
#[derive(Debug, Clone)]
pub struct ProcessorConfig {
    pub id: String,
    pub inputs: Vec<String>,
    /// Handed to the guest's `init()` as JSON.
    pub config: serde_json::Value,
    pub wasm: WasmConfig,
}

#[derive(Debug, Clone)]
pub struct WasmConfig {
    /// At least one; a plain `module:` is one version with weight 100.
    pub versions: Vec<VersionSpec>,
    /// Routing key for the weighted split: `id` or a dotted path into `data`.
    pub route_by: String,
    pub pool_size: usize,
    pub batch_size: usize,
    pub batch_timeout: Duration,
    pub limits: Limits,
    pub permissions: Permissions,
    /// How often a failing event is retried on a fresh instance before it is dead-lettered.
    pub max_retries: u32,
    /// Canary guard: `None` = never roll back automatically.
    pub rollback: Option<RollbackSpec>,
    /// Restart intensity that takes a version out of service: `None` = never.
    pub circuit_breaker: Option<BreakerSpec>,
}

/// A version whose instances were replaced `max_restarts` times within
/// `window` stops getting events for `cooldown`, then is tried again.
#[derive(Debug, Clone, PartialEq)]
pub struct BreakerSpec {
    pub max_restarts: u32,
    pub window: Duration,
    pub cooldown: Duration,
}

/// Automatic rollback: a version whose error rate over its last `min_events` events
/// passes `max_error_rate` gets weight 0.
#[derive(Debug, Clone, PartialEq)]
pub struct RollbackSpec {
    /// Fraction in `0.0..=1.0` (0.05 = 5% of events failing).
    pub max_error_rate: f64,
    /// Window size; no decision is taken before a version has seen this many events.
    pub min_events: u64,
}

#[derive(Debug, Clone)]
pub struct VersionSpec {
    /// Configured name; `None` = short content hash.
    pub name: Option<String>,
    pub module: PathBuf,
    pub weight: u32,
}

/// One sink.
#[derive(Debug, Clone)]
pub struct SinkSpec {
    pub id: String,
    pub inputs: Vec<String>,
    pub kind: SinkKind,
}

#[derive(Debug, Clone)]
pub enum SinkKind {
    Stdout { pretty: bool },
    File { path: PathBuf },
    Null,
}
