//! flowctl: a WASM-native stream processing engine.
//!
//! # Layout
//!
//! - [`event`]: the event type, the unit of data and the guest ABI's wire format.
//! - [`config`]: `flowctl.yaml`: the file model, units, validation with `file:line` messages.
//! - [`runtime`]: the wasmtime sandbox: engine, module cache, instances, host functions, limits.
//! - [`connectors`]: built-in sources (generator, file, stdin) and sinks (stdout, file, null, dead letters).
//! - [`actors`]: the engine: source, batcher, instance-pool and fan-out actors under a supervisor.
//! - [`admin`]: live operations: traffic splits, rollbacks, canary and restart guards, the admin API.
//! - [`reload`]: hot reload of module files while running, loaded below the workers' priority.
//! - [`signing`]: module signatures: keys, the signature section, trusted keys.
//! - [`secret_file`]: the permission rule for files that hold a secret.
//! - [`telemetry`]: logging setup and metric names.
//! - [`workers`]: the supervised threads that run WASM, fed batches by the engine through crossbeam channels.
//! - [`grpc`]: the `flowctl.v1` gRPC protocol: event mapping, connectors, servers.
//! - [`cli`]: one file per `flowctl` verb; `main.rs` only parses flags.

pub mod actors;
pub mod admin;
pub mod cli;
pub mod config;
pub mod connectors;
pub mod event;
pub mod grpc;
pub mod progress;
pub mod reload;
pub mod runtime;
pub mod secret_file;
pub mod signing;
pub mod telemetry;
pub mod workers;

pub use event::Event;
