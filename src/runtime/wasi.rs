//! Locked-down WASI preview 1 for guests that import `wasi_snapshot_preview1`:
//! no preopened directories, no environment, no arguments, no sockets; clocks
//! and random only. stdout/stderr become log lines tagged with the processor.

use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use bytes::Bytes;
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};
use wasmtime_wasi::p1::WasiP1Ctx;
use wasmtime_wasi::p2::{OutputStream, Pollable, StreamError, StreamResult};
use wasmtime_wasi::WasiCtxBuilder;

use super::metrics::GUEST_TARGET;

/// A partial line longer than this is logged as is, so a guest cannot grow host memory without a newline.
const MAX_LINE: usize = 8 * 1024;

/// The WASI context every WASI guest gets.
pub fn locked_down_ctx(processor: &str, version: &str) -> WasiP1Ctx {
    let mut builder = WasiCtxBuilder::new();
    // The builder's defaults already give no env, args, preopens or stdin;
    // sockets are switched off explicitly rather than relying on "all addresses denied".
    builder
        .allow_tcp(false)
        .allow_udp(false)
        .allow_ip_name_lookup(false)
        .stdout(LogStream::new(processor, version, "stdout"))
        .stderr(LogStream::new(processor, version, "stderr"));
    builder.build_p1()
}

/// A guest output stream that logs complete lines.
#[derive(Clone)]
pub struct LogStream {
    inner: Arc<Mutex<LineBuffer>>,
}

struct LineBuffer {
    processor: String,
    version: String,
    stream: &'static str,
    pending: Vec<u8>,
}

impl LogStream {
    pub fn new(processor: &str, version: &str, stream: &'static str) -> Self {
        Self {
            inner: Arc::new(Mutex::new(LineBuffer {
                processor: processor.to_owned(),
                version: version.to_owned(),
                stream,
                pending: Vec::new(),
            })),
        }
    }

    fn push(&self, bytes: &[u8]) {
        // A poisoned lock only means another writer panicked mid-line; keep logging.
        let mut buf = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        buf.push(bytes);
    }
}

impl LineBuffer {
    fn push(&mut self, mut bytes: &[u8]) {
        while let Some(pos) = bytes.iter().position(|&b| b == b'\n') {
            self.pending.extend_from_slice(&bytes[..pos]);
            self.emit();
            bytes = &bytes[pos + 1..];
        }
        self.pending.extend_from_slice(bytes);
        if self.pending.len() >= MAX_LINE {
            self.emit();
        }
    }

    fn emit(&mut self) {
        let line = String::from_utf8_lossy(&self.pending);
        let line = line.trim_end_matches('\r');
        tracing::info!(target: GUEST_TARGET, processor = %self.processor, version = %self.version, stream = self.stream, "{line}");
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
