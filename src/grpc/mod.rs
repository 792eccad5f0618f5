//! gRPC: the `flowctl.v1` protocol (`proto/flowctl/v1/`) and everything that
//! speaks it.
//!
//! # Layout
//! - [`pb`]: the generated messages, clients and servers (one module, never edited).
//! - [`mapping`]: `flowctl.v1.Event` <-> flowctl's [`crate::Event`], in one place.
//! - [`io`]: the tokio runtime every gRPC client and server of the process runs on,
//!   so blocking connector threads and actors never drive sockets themselves.
//! - [`codec`]: sending messages encoded once (fan-out, re-sends).
//! - [`remote`]: dialing a remote component: endpoint, TLS, per-call headers, backoff.
//! - [`source`]: the `type: grpc` source, resuming after drops with [`resume`]'s window.
//! - [`sink`]: the `type: grpc` sink; its streams in [`consume_task`], what a
//!   `ConsumeResponse` means in [`consume_reply`].
//! - [`subscribers`]: the `type: grpc_server` sink: subscriber fan-out over `SourceService`.
//! - [`serve`]: `flowctl serve`: one WASM module as a `ProcessorService`, with health and reflection.
//! - [`processor`]: `type: grpc` processors, a remote `ProcessorService` as a stage of the engine.
//! - [`control_plane`]: the `ControlPlaneService` `flowctl run` serves (registrations, heartbeats).
//! - [`process`]: the process driver: components flowctl starts (`command:`), watches, restarts and stops;
//!   `process_ready` says when a started one counts as healthy.

pub mod codec;
pub mod consume_reply;
mod consume_task;

pub mod control_plane;
pub mod io;
pub mod mapping;
pub mod process;
mod process_ready;
pub mod processor;
pub mod remote;
pub mod resume;
pub mod serve;
pub mod sink;
pub mod source;
pub mod subscribers;

/// The generated `flowctl.v1` code.
#[allow(clippy::all, clippy::pedantic, missing_docs)]
pub mod pb {
    tonic::include_proto!("flowctl.v1");

    /// Every `flowctl.v1` file, encoded, for gRPC server reflection.
    pub const FILE_DESCRIPTOR_SET: &[u8] = tonic::include_file_descriptor_set!("flowctl_v1_descriptor");
}
