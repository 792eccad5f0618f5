//! Locked-down WASI preview 1 for guests that import `wasi_snapshot_preview1`:
//! no preopened directories, no environment, no arguments, no sockets; clocks
//! and random only. stdout/stderr become log lines tagged with the processor.

use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Instant;

use bytes::Bytes;
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};
use wasmtime_wasi::p1::WasiP1Ctx;
use wasmtime_wasi::p2::{OutputStream, Pollable, StreamError, StreamResult};
use wasmtime_wasi::{HostMonotonicClock, WasiCtxBuilder};

use super::host::MAX_LOG_LINE;
use super::metrics::GUEST_TARGET;
use super::scope::ProcessorScope;

/// The WASI context every WASI guest gets. Output lines share the
/// processor's log budget with the `log` import.
/// `clock_origin` is the zero of the guest's monotonic clock, so
/// [`super::wasi_poll`] can turn absolute waits into host instants.
pub fn locked_down_ctx(scope: &Arc<ProcessorScope>, version: &str, clock_origin: Instant) -> WasiP1Ctx {
    let mut builder = WasiCtxBuilder::new();
    // The builder's defaults already give no env, args, preopens or stdin;
    // sockets are switched off explicitly rather than relying on "all addresses denied".
    builder
        .allow_tcp(false)
        .allow_udp(false)
        .allow_ip_name_lookup(false)
        .monotonic_clock(GuestClock { origin: clock_origin })
        .stdout(LogStream::new(scope.clone(), version, "stdout"))
        .stderr(LogStream::new(scope.clone(), version, "stderr"));
    builder.build_p1()
}

/// The guest's monotonic clock: nanoseconds since its store was created.
struct GuestClock {
    origin: Instant,
}

impl HostMonotonicClock for GuestClock {
    fn resolution(&self) -> u64 {
        1
    }

    fn now(&self) -> u64 {
        u64::try_from(self.origin.elapsed().as_nanos()).unwrap_or(u64::MAX)
    }
}

/// A guest output stream that logs complete lines.
#[derive(Clone)]
pub struct LogStream {
    inner: Arc<Mutex<LineBuffer>>,
}

struct LineBuffer {
    scope: Arc<ProcessorScope>,
    version: String,
    stream: &'static str,
    pending: Vec<u8>,
}

impl LogStream {
    pub fn new(scope: Arc<ProcessorScope>, version: &str, stream: &'static str) -> Self {
        Self {
            inner: Arc::new(Mutex::new(LineBuffer { scope, version: version.to_owned(), stream, pending: Vec::new() })),
        }
    }

    fn push(&self, bytes: &[u8]) {
        // A poisoned lock only means another writer panicked mid-line; keep logging.
        let mut buf = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        buf.push(bytes);
    }
}

impl LineBuffer {
    /// Appends `bytes`, logging each complete line. A line is cut at
    /// [`MAX_LOG_LINE`] (what follows, up to its newline, is dropped), so a
    /// guest cannot grow host memory by never writing a newline.
    fn push(&mut self, bytes: &[u8]) {
        for chunk in bytes.split_inclusive(|&b| b == b'\n') {
            let (text, ends_line) = match chunk.split_last() {
                Some((b'\n', text)) => (text, true),
                _ => (chunk, false),
            };
            let room = MAX_LOG_LINE.saturating_sub(self.pending.len());
            self.pending.extend_from_slice(&text[..text.len().min(room)]);
            if ends_line || self.pending.len() >= MAX_LOG_LINE {
                self.emit();
            }
        }
    }

    fn emit(&mut self) {
        if self.scope.admit_log_line() {
            let line = String::from_utf8_lossy(&self.pending);
            let line = line.trim_end_matches('\r');
            let (processor, version, stream) = (&self.scope.name, &self.version, self.stream);
            tracing::info!(target: GUEST_TARGET, processor = %processor, version = %version, stream, "{line}");
        }
        self.pending.clear();
    }
}

impl Drop for LineBuffer {
    fn drop(&mut self) {
        if !self.pending.is_empty() {
            self.emit();
        }
    }
}

impl IsTerminal for LogStream {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for LogStream {
    fn p2_stream(&self) -> Box<dyn OutputStream> {
        Box::new(self.clone())
    }

    fn async_stream(&self) -> Box<dyn tokio::io::AsyncWrite + Send + Sync> {
        Box::new(self.clone())
    }
}

#[wasmtime_wasi::async_trait]
impl Pollable for LogStream {
    async fn ready(&mut self) {}
}

impl OutputStream for LogStream {
    fn write(&mut self, bytes: Bytes) -> StreamResult<()> {
        self.push(&bytes);
        Ok(())
    }

    fn flush(&mut self) -> StreamResult<()> {
        Ok(())
    }

    fn check_write(&mut self) -> Result<usize, StreamError> {
        Ok(64 * 1024)
    }
}

impl tokio::io::AsyncWrite for LogStream {
    fn poll_write(self: Pin<&mut Self>, _cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        self.push(buf);
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}
