//! Shared helpers of the `grpc_processor` and `grpc_process` tests: a real
//! `flowctl run` in the background whose JSON log is collected as it comes,
//! and a tonic server on its own tokio runtime that can be killed (the
//! runtime dropped: listener and every connection closed at once, as when a
//! process dies) and started again on the same port. Needs `mod
//! engine_common;` and `mod telemetry_common;` next to it.

#![allow(dead_code, clippy::unwrap_used)]

use std::net::SocketAddr;

/// A `flowctl run` in the background (the telemetry tests' helper).
pub use crate::telemetry_common::Live as Running;

/// A port nothing listens on (bound, then released).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// A tonic server on a runtime of its own.
pub struct KillableServer {
    runtime: Option<tokio::runtime::Runtime>,
    pub addr: SocketAddr,
}

impl KillableServer {
    /// Serves `router` on `addr` (port 0: a free one) until killed.
    pub fn start(addr: SocketAddr, router: tonic::transport::server::Router) -> KillableServer {
        let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
        let listener = runtime.block_on(tokio::net::TcpListener::bind(addr)).unwrap();
        let addr = listener.local_addr().unwrap();
        let incoming = tokio_stream::wrappers::TcpListenerStream::new(listener);
        runtime.spawn(router.serve_with_incoming(incoming));
        KillableServer { runtime: Some(runtime), addr }
    }

    /// Drops the runtime: the listener and every open stream go away at once.
    pub fn kill(&mut self) {
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

impl Drop for KillableServer {
    fn drop(&mut self) {
        self.kill();
    }
}
