//! Shared helpers of the `grpc_processor` and `grpc_process` tests: a real
//! `flowctl run` in the background whose JSON log is collected as it comes,
//! and a tonic server on its own tokio runtime that can be killed (the
//! runtime dropped: listener and every connection closed at once, as when a
//! process dies) and started again on the same port. Needs `mod
//! engine_common;` and `mod telemetry_common;` next to it.

#![allow(dead_code, clippy::unwrap_used)]

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Stdio};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Instant;

use crate::engine_common::{Run, Workspace};
use crate::telemetry_common::{http_get, wait_until, PATIENCE};

/// A `flowctl run` in the background.
pub struct Running {
    child: Child,
    /// Where its `/metrics` and `/readyz` answer (from its log).
    pub addr: SocketAddr,
    lines: Arc<Mutex<Vec<String>>>,
    reader: Option<JoinHandle<()>>,
}

impl Running {
    pub fn start(ws: &Workspace, file: &Path) -> Running {
        let mut child = ws.spawn(file, Stdio::null());
        let stderr = child.stderr.take().unwrap();
        let lines = Arc::new(Mutex::new(Vec::new()));
        let sink = lines.clone();
        let reader = std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                sink.lock().unwrap().push(line);
            }
        });
        let mut running = Running { child, addr: "127.0.0.1:0".parse().unwrap(), lines, reader: Some(reader) };
        wait_until("the metrics endpoint's address in the log", || {
            if let Ok(Some(status)) = running.child.try_wait() {
                panic!("flowctl exited early ({status}):\n{}", running.log_text());
            }
            running.find_log("serving /metrics", "local_addr").map(|a| running.addr = a.parse().unwrap()).is_some()
        });
        running
    }

    /// Field `field` of the first log line whose message starts with `message`.
    pub fn find_log(&self, message: &str, field: &str) -> Option<String> {
        self.logs().iter().find_map(|v| {
            v["fields"]["message"].as_str()?.starts_with(message).then_some(())?;
            v["fields"][field].as_str().map(str::to_owned)
        })
    }

    pub fn log_text(&self) -> String {
        self.lines.lock().unwrap().join("\n")
    }

    pub fn logs(&self) -> Vec<serde_json::Value> {
        self.lines.lock().unwrap().iter().filter_map(|l| serde_json::from_str(l).ok()).collect()
    }

    pub fn get(&self, path: &str) -> (u16, String) {
        http_get(self.addr, path)
    }

    pub fn exited(&mut self) -> bool {
        self.child.try_wait().unwrap().is_some()
    }

    /// Waits for the pipeline to end by itself (killed and failed after `PATIENCE`).
    pub fn finish(mut self) -> Run {
        let start = Instant::now();
        let status = loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                break status;
            }
            if start.elapsed() > PATIENCE {
                let _ = self.child.kill();
                panic!("flowctl did not finish:\n{}", self.log_text());
            }
            std::thread::sleep(std::time::Duration::from_millis(25));
        };
        if let Some(reader) = self.reader.take() {
            reader.join().unwrap();
        }
        let stderr = self.log_text();
        let logs = stderr.lines().filter_map(|l| serde_json::from_str(l).ok()).collect();
        Run { code: status.code(), stderr, logs }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        // A failed assertion must not leave the pipeline running.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

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
