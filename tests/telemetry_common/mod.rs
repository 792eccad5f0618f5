//! Shared helpers of the `telemetry_*` tests: a running `flowctl run` whose
//! metrics endpoint listens on a free port (learnt from its log), plain HTTP
//! GETs over a real socket, and lookups in a scrape parsed by a real
//! Prometheus text-format parser. Needs `mod engine_common;` next to it.

#![allow(dead_code, clippy::unwrap_used)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::{Child, Stdio};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use prometheus_parse::{Scrape, Value};

use crate::engine_common::{Run, Workspace};

/// Upper bound on waiting for a condition, so a broken engine fails instead of hanging.
pub const PATIENCE: Duration = Duration::from_secs(120);

pub fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let start = Instant::now();
    while !done() {
        assert!(start.elapsed() < PATIENCE, "gave up waiting for {what}");
        std::thread::sleep(Duration::from_millis(25));
    }
}

/// A `flowctl run` in the background, its log collected as it comes.
pub struct Live {
    child: Child,
    pub addr: SocketAddr,
    lines: Arc<Mutex<Vec<String>>>,
    reader: Option<JoinHandle<()>>,
}

impl Live {
    /// Starts the pipeline (the workspace passes `--metrics-addr 127.0.0.1:0`)
    /// and waits for the endpoint's address in the JSON log.
    pub fn start(ws: &Workspace, file: &Path) -> Live {
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
        let mut live = Live { child, addr: "127.0.0.1:0".parse().unwrap(), lines, reader: Some(reader) };
        wait_until("the metrics endpoint's address in the log", || {
            if let Ok(Some(status)) = live.child.try_wait() {
                panic!("flowctl exited early ({status}):\n{}", live.log_text());
            }
            live.find_addr().map(|addr| live.addr = addr).is_some()
        });
        live
    }

    fn find_addr(&self) -> Option<SocketAddr> {
        self.lines.lock().unwrap().iter().find_map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).ok()?;
            v["fields"]["message"].as_str()?.starts_with("serving /metrics").then_some(())?;
            v["fields"]["local_addr"].as_str()?.parse().ok()
        })
    }

    pub fn log_text(&self) -> String {
        self.lines.lock().unwrap().join("\n")
    }

    /// Field `field` of the first log line whose message starts with `message`.
    pub fn find_log(&self, message: &str, field: &str) -> Option<String> {
        self.logs().iter().find_map(|v| {
            v["fields"]["message"].as_str()?.starts_with(message).then_some(())?;
            v["fields"][field].as_str().map(str::to_owned)
        })
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn exited(&mut self) -> bool {
        self.child.try_wait().unwrap().is_some()
    }

    /// Waits for the pipeline to end by itself (killed and failed after `PATIENCE`).
    pub fn finish(mut self) -> Run {
        let start = std::time::Instant::now();
        let status = loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                break status;
            }
            if start.elapsed() > PATIENCE {
                let _ = self.child.kill();
                panic!("flowctl did not finish:\n{}", self.log_text());
            }
            std::thread::sleep(Duration::from_millis(25));
        };
        if let Some(reader) = self.reader.take() {
            reader.join().unwrap();
        }
        let stderr = self.log_text();
        let logs = stderr.lines().filter_map(|l| serde_json::from_str(l).ok()).collect();
        Run { code: status.code(), stderr, logs }
    }

    /// Parsed JSON log lines so far.
    pub fn logs(&self) -> Vec<serde_json::Value> {
        self.lines.lock().unwrap().iter().filter_map(|l| serde_json::from_str(l).ok()).collect()
    }

    pub fn get(&self, path: &str) -> (u16, String) {
        http_get(self.addr, path)
    }

    /// `/metrics`, as text and parsed.
    pub fn scrape(&self) -> (String, Scrape) {
        let (status, body) = self.get("/metrics");
        assert_eq!(status, 200, "{body}");
        let scrape = Scrape::parse(body.lines().map(|l| Ok(l.to_owned()))).unwrap();
        (body, scrape)
    }

    /// SIGTERM, then the finished run with its whole log.
    pub fn stop(mut self) -> Run {
        // SAFETY: kill(2) with a pid we spawned and a valid signal number.
        let rc = unsafe { libc::kill(self.child.id() as libc::pid_t, libc::SIGTERM) };
        assert_eq!(rc, 0);
        let status = self.child.wait().unwrap();
        if let Some(reader) = self.reader.take() {
            reader.join().unwrap();
        }
        let stderr = self.log_text();
        let logs = stderr.lines().filter_map(|l| serde_json::from_str(l).ok()).collect();
        Run { code: status.code(), stderr, logs }
    }
}

impl Drop for Live {
    fn drop(&mut self) {
        // A failed assertion must not leave the pipeline running.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One HTTP/1.1 GET over a fresh connection: (status, body).
pub fn http_get(addr: SocketAddr, path: &str) -> (u16, String) {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    write!(stream, "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n").unwrap();
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).unwrap();
    let text = String::from_utf8(raw).unwrap();
    let (head, body) = text.split_once("\r\n\r\n").unwrap();
    let status = head.split(' ').nth(1).unwrap().parse().unwrap();
    let chunked = head.lines().any(|l| l.eq_ignore_ascii_case("transfer-encoding: chunked"));
    (status, if chunked { dechunk(body) } else { body.to_owned() })
}

fn dechunk(mut body: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = body.split_once("\r\n") {
        let size = usize::from_str_radix(size.trim(), 16).unwrap();
        if size == 0 {
            break;
        }
        out.push_str(&rest[..size]);
        body = &rest[size + 2..];
    }
    out
}

/// Sum of the samples of `name` whose labels include `labels` (counters,
/// gauges, and the untyped `_sum`/`_count` of histograms). `None` if none match.
pub fn value(scrape: &Scrape, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    let matching: Vec<f64> = scrape
        .samples
        .iter()
        .filter(|s| s.metric == name && labels.iter().all(|(k, v)| s.labels.get(k) == Some(*v)))
        .filter_map(|s| match s.value {
            Value::Counter(v) | Value::Gauge(v) | Value::Untyped(v) => Some(v),
            _ => None,
        })
        .collect();
    (!matching.is_empty()).then(|| matching.iter().sum())
}

/// Every line of a JSONL file in the workspace (0 when it does not exist yet).
pub fn line_count(ws: &Workspace, name: &str) -> usize {
    std::fs::read_to_string(ws.path(name)).map(|t| t.lines().count()).unwrap_or(0)
}

/// Appends events `{"id": "e<n>"}` for each n to a JSONL file.
pub fn append_events(path: &Path, ids: impl IntoIterator<Item = u64>) {
    let mut text = String::new();
    for n in ids {
        text.push_str(&format!("{{\"id\":\"e{n}\",\"type\":\"t\",\"data\":{{\"n\":{n}}}}}\n"));
    }
    let mut file = std::fs::OpenOptions::new().create(true).append(true).open(path).unwrap();
    file.write_all(text.as_bytes()).unwrap();
}
