//! The validated pipeline: what `config::load` returns once every check passed.
//! Paths are absolute (resolved against the file's directory), units parsed,
//! the graph checked to be a DAG. The engine only ever sees this form.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use crate::runtime::{Limits, Permissions, Quotas};
use crate::signing::TrustedKeys;

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

impl Pipeline {
    /// The tenant of each wasm processor that names one.
    pub fn tenants(&self) -> std::collections::HashMap<String, String> {
        self.processors.iter().filter_map(|p| Some((p.id.clone(), p.wasm()?.tenant.clone()?))).collect()
    }
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
    /// Bearer token the admin API (`/admin/...`) requires: `FLOWCTL_ADMIN_TOKEN`,
    /// else `admin_token_file`, else `admin_token`. Mandatory when
    /// `metrics_addr` is not a loopback address.
    pub admin_token: Option<AdminToken>,
    /// Watch module files and swap in a replaced module while running (default true).
    pub hot_reload: bool,
    /// Directory of the state store: source positions and processor state
    /// (default `.flowctl-state` next to the pipeline file).
    pub state_dir: PathBuf,
    /// How often finished source positions are committed (default 1s).
    pub checkpoint_interval: Duration,
    /// Where `flowctl run` serves `flowctl.v1.ControlPlaneService` for components
    /// that register themselves. `None`: only when a component is process-driven,
    /// on a free loopback port.
    pub control_plane_addr: Option<SocketAddr>,
    /// JSONL file of audit records (denied capabilities, breached limits,
    /// quota decisions), relative to the pipeline file; `None` = none.
    pub audit_log: Option<PathBuf>,
    /// Public keys a module's signature may verify with (`trusted_keys`, read
    /// at load). Empty: no processor can require a signature.
    pub trusted_keys: TrustedKeys,
}

/// The admin API's token and where it came from. `Debug` leaves the secret out.
#[derive(Clone, PartialEq)]
pub struct AdminToken {
    pub secret: String,
    pub source: TokenSource,
}

impl std::fmt::Debug for AdminToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AdminToken").field("secret", &"<redacted>").field("source", &self.source).finish()
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum TokenSource {
    /// `spec.settings.admin_token`.
    Setting,
    /// `spec.settings.admin_token_file`; `loose_mode` holds its permission
    /// bits when group or others may read it (warned about at start).
    File { path: PathBuf, loose_mode: Option<u32> },
    /// `FLOWCTL_ADMIN_TOKEN`; `overrides` names the file's key it won over, if any.
    Env { overrides: Option<&'static str> },
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
    /// A remote `flowctl.v1.SourceService` (`StreamEvents`). Boxed: much larger than the others.
    Grpc(Box<GrpcSourceConfig>),
    /// A JetStream durable pull consumer.
    Nats(NatsSourceConfig),
}

/// `type: nats` source (`docs/scale-out.md`).
#[derive(Debug, Clone, PartialEq)]
pub struct NatsSourceConfig {
    pub url: String,
    pub stream: String,
    /// Only messages on this subject (default: the whole stream).
    pub subject: Option<String>,
    /// The durable consumer; processes with the same one share the messages.
    pub durable: String,
    /// Messages per pull request.
    pub batch: usize,
    /// How long JetStream waits for an acknowledgement before redelivering.
    pub ack_wait: Duration,
    /// Messages delivered and not yet acknowledged, at most (the backpressure bound).
    pub max_ack_pending: i64,
}

/// `type: nats` sink.
#[derive(Debug, Clone, PartialEq)]
pub struct NatsSinkConfig {
    pub url: String,
    pub stream: String,
    pub subject: String,
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

/// One processor: a WASM module run in the sandbox, or a remote `flowctl.v1.ProcessorService`.
#[derive(Debug, Clone)]
pub struct ProcessorConfig {
    pub id: String,
    pub inputs: Vec<String>,
    /// Handed to the guest's `init()` as JSON (WASM processors; `{}` for others).
    pub config: serde_json::Value,
    pub kind: ProcessorKind,
}

#[derive(Debug, Clone)]
pub enum ProcessorKind {
    Wasm(WasmConfig),
    Grpc(GrpcProcessorConfig),
}

impl ProcessorConfig {
    /// The WASM settings, for a `type: wasm` processor.
    pub fn wasm(&self) -> Option<&WasmConfig> {
        match &self.kind {
            ProcessorKind::Wasm(wasm) => Some(wasm),
            ProcessorKind::Grpc(_) => None,
        }
    }

    /// Most events the processor's batcher puts in one batch.
    pub fn batch_size(&self) -> usize {
        match &self.kind {
            ProcessorKind::Wasm(wasm) => wasm.batch_size,
            ProcessorKind::Grpc(grpc) => grpc.batch_size,
        }
    }

    /// Longest the oldest event of a batch waits for the batch to fill.
    pub fn batch_timeout(&self) -> Duration {
        match &self.kind {
            ProcessorKind::Wasm(wasm) => wasm.batch_timeout,
            ProcessorKind::Grpc(grpc) => grpc.batch_timeout,
        }
    }
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
    /// Label on quota metrics and audit lines (`default` when unset).
    pub tenant: Option<String>,
    pub quotas: Quotas,
    /// Every version's module must be signed by one of `settings.trusted_keys`,
    /// at start and on every hot reload (default false).
    pub require_signature: bool,
}

impl WasmConfig {
    /// Lanes events are split into by `route_by` before batching, each lane
    /// run by one worker: `pool_size` for a stateful processor (so a key is
    /// only ever touched by one instance at a time, in order), else 1 (any
    /// worker takes any batch).
    pub fn lanes(&self) -> usize {
        if self.permissions.state {
            self.pool_size.max(1)
        } else {
            1
        }
    }
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
    Stdout {
        pretty: bool,
    },
    File {
        path: PathBuf,
    },
    Null,
    /// A remote `flowctl.v1.ConsumerService` (`Consume`). Boxed: much larger than the others.
    Grpc(Box<GrpcSinkConfig>),
    /// Serves `flowctl.v1.SourceService` to any number of subscribers.
    GrpcServer(GrpcServerConfig),
    /// Publishes to a JetStream subject.
    Nats(NatsSinkConfig),
}

/// How flowctl reaches a remote `flowctl.v1` component (shared by the gRPC
/// source, sink and processor).
#[derive(Debug, Clone)]
pub struct RemoteSpec {
    /// `http://host:port` or `https://host:port`. `None` only for a
    /// process-driven component: flowctl then picks a free loopback port.
    pub endpoint: Option<String>,
    pub tls: Option<TlsSpec>,
    /// Metadata sent with every call (e.g. `authorization`).
    pub headers: BTreeMap<String, String>,
    /// Start the component as a child process (the original design's process driver).
    pub process: Option<ProcessSpec>,
    pub connect_timeout: Duration,
    pub backoff: BackoffSpec,
}

impl RemoteSpec {
    /// A remote at `endpoint` with every default.
    pub fn new(endpoint: Option<String>) -> Self {
        Self {
            endpoint,
            tls: None,
            headers: BTreeMap::new(),
            process: None,
            connect_timeout: super::defaults::GRPC_CONNECT_TIMEOUT,
            backoff: BackoffSpec {
                initial: super::defaults::GRPC_BACKOFF_INITIAL,
                max: super::defaults::GRPC_BACKOFF_MAX,
            },
        }
    }
}

/// TLS files (PEM), resolved against the pipeline file's directory.
#[derive(Debug, Clone, PartialEq)]
pub struct TlsSpec {
    /// CA that signed the server's certificate (default: the system's roots).
    pub ca: Option<PathBuf>,
    /// Client certificate and key, for servers that require mutual TLS.
    pub cert: Option<PathBuf>,
    pub key: Option<PathBuf>,
    /// Name to verify the server's certificate against (default: the endpoint's host).
    pub domain: Option<String>,
}

/// Exponential backoff between reconnects: `initial`, doubling up to `max`.
#[derive(Debug, Clone, PartialEq)]
pub struct BackoffSpec {
    pub initial: Duration,
    pub max: Duration,
}

/// A component flowctl starts, watches and stops.
#[derive(Debug, Clone, PartialEq)]
pub struct ProcessSpec {
    /// Program and arguments; a relative program path resolves against the pipeline file's directory.
    pub command: Vec<String>,
    /// Added to the environment flowctl sets (`ENABLE_FLOWCTL`, `FLOWCTL_ENDPOINT`, ...).
    pub env: BTreeMap<String, String>,
    /// How long it may take to answer `HealthCheck` after a start.
    pub ready_timeout: Duration,
    /// Between SIGTERM and SIGKILL on shutdown.
    pub stop_grace: Duration,
}

/// `type: grpc` source.
#[derive(Debug, Clone)]
pub struct GrpcSourceConfig {
    pub remote: RemoteSpec,
    /// Passed as `StreamRequest.params`.
    pub params: BTreeMap<String, String>,
    /// Key for `GetState`/`SaveState` (default: the source's id).
    pub state_key: String,
}

/// `type: grpc` sink.
#[derive(Debug, Clone)]
pub struct GrpcSinkConfig {
    pub remote: RemoteSpec,
    /// Events per `Consume` stream before it is closed and its `ConsumeResponse`
    /// read; also how many unconfirmed events are kept for re-sending.
    pub stream_events: usize,
    /// Longest a stream stays open before it is closed and confirmed.
    pub stream_timeout: Duration,
    /// Attempts to deliver a batch before its events are dead-lettered.
    pub max_retries: u32,
}

/// `type: grpc` processor.
#[derive(Debug, Clone)]
pub struct GrpcProcessorConfig {
    pub remote: RemoteSpec,
    pub batch_size: usize,
    pub batch_timeout: Duration,
    /// Batches in flight on their own `Process` streams at once.
    pub concurrency: usize,
    /// Longest one batch may take, from the first event sent to the stream's end.
    pub timeout: Duration,
    /// Attempts after the first before a batch's events are dead-lettered.
    pub max_retries: u32,
}

/// `type: grpc_server` sink: subscriber fan-out.
#[derive(Debug, Clone)]
pub struct GrpcServerConfig {
    pub listen: SocketAddr,
    /// Events each subscriber may have waiting.
    pub buffer: usize,
    pub slow_subscriber: SlowSubscriber,
}

/// What a full subscriber buffer does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SlowSubscriber {
    /// Wait for room: the pipeline slows to the slowest subscriber; nothing lost.
    Block,
    /// Drop that subscriber's oldest waiting event (counted).
    DropOldest,
    /// End that subscriber's stream with `RESOURCE_EXHAUSTED`.
    Disconnect,
}

impl SlowSubscriber {
    pub const NAMES: &'static [&'static str] = &["block", "drop_oldest", "disconnect"];

    pub fn name(self) -> &'static str {
        match self {
            SlowSubscriber::Block => "block",
            SlowSubscriber::DropOldest => "drop_oldest",
            SlowSubscriber::Disconnect => "disconnect",
        }
    }
}
