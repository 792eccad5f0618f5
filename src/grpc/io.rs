//! The process's gRPC runtime: a small multi-threaded tokio runtime that owns
//! every gRPC connection. Connector threads (which block) and actors (which
//! must not) hand work to it and wait on channels, so HTTP/2 keeps flowing
//! while a sink thread is busy or an actor waits for mailbox room.

use std::sync::OnceLock;

/// Threads of the gRPC runtime: I/O only (encoding, sockets), never guest code.
const IO_THREADS: usize = 2;

static RUNTIME: OnceLock<tokio::runtime::Runtime> = OnceLock::new();

/// The shared runtime, started on first use.
///
/// # Panics
/// When the OS refuses to start its threads, which leaves nothing to run gRPC on.
pub fn runtime() -> &'static tokio::runtime::Runtime {
    RUNTIME.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(IO_THREADS)
            .thread_name("flowctl-grpc")
            .enable_all()
            .build()
            .unwrap_or_else(|error| panic!("cannot start the gRPC runtime: {error}"))
    })
}

/// A handle for spawning on the gRPC runtime.
pub fn handle() -> tokio::runtime::Handle {
    runtime().handle().clone()
}
