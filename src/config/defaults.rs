//! Every default of `flowctl.yaml` in one place (documented in `docs/configuration.md`).
//! Limits and permissions default through `Limits::default()` and
//! `Permissions::default()` in `runtime`; an HTTP grant's rules default to the
//! `HTTP_*` values here (through `HttpPermission::new`).

use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;

pub const LOG_LEVEL: &str = "info";
/// Loopback only: the admin API shares this listener.
pub const METRICS_ADDR: SocketAddr = SocketAddr::new(std::net::IpAddr::V4(Ipv4Addr::LOCALHOST), 9464);
/// Relative to the pipeline file's directory.
pub const DEAD_LETTER_FILE: &str = "dead-letters.jsonl";
/// Relative to the pipeline file's directory.
pub const STATE_DIR: &str = ".flowctl-state";
pub const CHECKPOINT_INTERVAL: Duration = Duration::from_secs(1);
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);
/// In batches; small because each slot holds a whole batch.
pub const CHANNEL_CAPACITY: usize = 16;

pub const POOL_SIZE: usize = 2;
pub const BATCH_SIZE: usize = 128;
pub const BATCH_TIMEOUT: Duration = Duration::from_millis(5);
pub const MAX_RETRIES: u32 = 2;
pub const ROUTE_BY: &str = "id";
/// How long a version's circuit stays open before it is tried again.
pub const BREAKER_COOLDOWN: Duration = Duration::from_secs(30);
/// Weight of the single version a plain `module:` stands for.
pub const SINGLE_MODULE_WEIGHT: u32 = 100;
/// Modules need no signature unless a processor asks (`trusted_keys` defaults to none).
pub const REQUIRE_SIGNATURE: bool = false;

/// `permissions.http` (`docs/configuration.md#wasmpermissions`).
pub const HTTP_TIMEOUT: Duration = Duration::from_secs(5);
pub const HTTP_MAX_REQUESTS_PER_MINUTE: u32 = 600;
/// The schemes' own ports: another port is a service the processor was not meant to reach.
pub const HTTP_ALLOWED_PORTS: [u16; 2] = [80, 443];
pub const HTTP_MAX_REQUEST_BODY: usize = 1024 * 1024;
/// Copied into guest memory whole, so well below the default 64 MiB memory limit.
pub const HTTP_MAX_RESPONSE_BODY: usize = 4 * 1024 * 1024;

pub const GENERATOR_EVENT_SIZE: usize = 256;
pub const GENERATOR_SEED: u64 = 1;

/// gRPC connectors (`docs/grpc.md`).
pub const GRPC_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
pub const GRPC_BACKOFF_INITIAL: Duration = Duration::from_millis(100);
pub const GRPC_BACKOFF_MAX: Duration = Duration::from_secs(10);
pub const GRPC_SINK_STREAM_EVENTS: usize = 8192;
pub const GRPC_SINK_STREAM_TIMEOUT: Duration = Duration::from_secs(1);
pub const GRPC_SINK_MAX_RETRIES: u32 = 5;
pub const GRPC_PROCESSOR_BATCH_SIZE: usize = 256;
pub const GRPC_PROCESSOR_CONCURRENCY: usize = 4;
pub const GRPC_PROCESSOR_TIMEOUT: Duration = Duration::from_secs(10);
pub const GRPC_PROCESSOR_MAX_RETRIES: u32 = 3;
pub const GRPC_SERVER_BUFFER: usize = 1024;
pub const PROCESS_READY_TIMEOUT: Duration = Duration::from_secs(10);
pub const PROCESS_STOP_GRACE: Duration = Duration::from_secs(5);

/// `nats` connectors (`docs/scale-out.md`).
pub const NATS_URL: &str = "nats://127.0.0.1:4222";
pub const NATS_BATCH: usize = 1024;
pub const NATS_ACK_WAIT: Duration = Duration::from_secs(30);
pub const NATS_MAX_ACK_PENDING: i64 = 20_000;
