//! Shared helpers of the gRPC tests: real tonic servers on loopback sockets,
//! each on a tokio runtime of its own (so a test can kill one outright by
//! shutting its runtime down, connections and all, and start it again on the
//! same port), and the generated events they serve and check.
//!
//! - [`SourceServer`]: a `flowctl.v1.SourceService` streaming N generated
//!   events; honours `resume_token` (the index to continue from), answers
//!   `GetState` with a token derived from the last `SaveState`'d
//!   `last_event_id` (optionally lagging, to provoke repeats), and can drop
//!   its stream with an error once.
//! - [`ConsumerServer`]: a `flowctl.v1.ConsumerService` recording every event,
//!   optionally rejecting some (`"<id>: reason"`) or asking to be killed
//!   mid-stream.

#![allow(dead_code, unused_imports, clippy::unwrap_used)]

mod consumer;
mod events;
mod source;

pub use consumer::{ConsumerPlan, ConsumerServer, ConsumerState, REJECT_REASON, UNNAMED_ERROR};
pub use events::*;
pub use source::{SourcePlan, SourceServer, SourceState};

use std::net::SocketAddr;
use std::time::{Duration, Instant};

/// Upper bound on any wait, so a broken engine fails instead of hanging.
pub const PATIENCE: Duration = Duration::from_secs(120);

pub fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let start = Instant::now();
    while !done() {
        assert!(start.elapsed() < PATIENCE, "gave up waiting for {what}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// A loopback address nothing listens on (yet): bound, then released.
pub fn free_addr() -> SocketAddr {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap()
}

/// A runtime of its own for one test server.
fn server_runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap()
}

/// Binds `addr` (port 0: a free one) on `runtime`. A restart binds the port
/// it had; the old listener is closed but the kernel may need a moment.
fn bind(runtime: &tokio::runtime::Runtime, addr: SocketAddr) -> tokio::net::TcpListener {
    let start = Instant::now();
    loop {
        match runtime.block_on(tokio::net::TcpListener::bind(addr)) {
            Ok(listener) => return listener,
            Err(error) if start.elapsed() < PATIENCE => {
                eprintln!("binding {addr} again: {error}");
                std::thread::sleep(Duration::from_millis(50));
            }
            Err(error) => panic!("cannot bind {addr}: {error}"),
        }
    }
}
