//! Helpers of `tests/grpc_serve.rs`: a running `flowctl serve` on free
//! loopback ports with its log in a file, clients for its three services,
//! test events, and comparisons. Timeouts only guard against hangs.

#![allow(dead_code, clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use flowctl::grpc::mapping::from_millis;
use flowctl::grpc::pb;
use flowctl::grpc::pb::processor_service_client::ProcessorServiceClient;
use tonic::transport::Channel;
use tonic::Streaming;

pub const LONG: Duration = Duration::from_secs(90);

pub use crate::live_common::{free_addr, guest, short_hash, variant, wait_for};

/// A running `flowctl serve`.
pub struct Served {
    child: Mutex<Child>,
    pub addr: String,
    pub metrics_addr: String,
    log: PathBuf,
    _dir: tempfile::TempDir,
}

impl Served {
    pub fn start(module: &Path, args: &[&str]) -> Served {
        Self::start_with(module, args, &[])
    }

    /// With `PORT` in `env`, no `--listen` is passed (the process-driver contract).
    pub fn start_with(module: &Path, args: &[&str], env: &[(&str, &str)]) -> Served {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("serve.log");
        let metrics_addr = free_addr();
        let port = env.iter().find(|(k, _)| *k == "PORT").map(|(_, v)| v.to_string());
        let addr = match &port {
            Some(port) => format!("127.0.0.1:{port}"),
            None => free_addr(),
        };
        let mut command = Command::new(env!("CARGO_BIN_EXE_flowctl"));
        command.args(["--log-format", "json", "serve"]).arg(module);
        if port.is_none() {
            command.args(["--listen", &addr]);
        }
        let child = command
            .args(["--metrics-addr", &metrics_addr])
            .args(args)
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        let served = Served { child: Mutex::new(child), addr, metrics_addr, log, _dir: dir };
        wait_for(LONG, "flowctl serve to answer /readyz", || {
            if let Ok(Some(status)) = served.child.lock().unwrap().try_wait() {
                panic!("flowctl serve exited with {status}:\n{}", served.log());
            }
            let ready = ureq::get(format!("http://{}/readyz", served.metrics_addr)).call().is_ok();
            (ready && std::net::TcpStream::connect(&served.addr).is_ok()).then_some(())
        });
        served
    }

    pub async fn channel(&self) -> Channel {
        Channel::from_shared(format!("http://{}", self.addr)).unwrap().connect().await.unwrap()
    }

    pub async fn client(&self) -> ProcessorServiceClient<Channel> {
        ProcessorServiceClient::new(self.channel().await)
    }

    /// `grpc.health.v1.Health/Check` for `service`, as the status's name.
    pub async fn grpc_health(&self, service: &str) -> String {
        use tonic_health::pb::health_client::HealthClient;
        use tonic_health::pb::HealthCheckRequest;
        let mut client = HealthClient::new(self.channel().await);
        let status = client.check(HealthCheckRequest { service: service.into() }).await.unwrap().into_inner().status;
        format!("{:?}", tonic_health::pb::health_check_response::ServingStatus::try_from(status).unwrap())
    }

    /// The services `grpc.reflection.v1` lists.
    pub async fn reflection_v1_services(&self) -> Vec<String> {
        use tonic_reflection::pb::v1::server_reflection_client::ServerReflectionClient;
        use tonic_reflection::pb::v1::server_reflection_request::MessageRequest;
        use tonic_reflection::pb::v1::server_reflection_response::MessageResponse;
        use tonic_reflection::pb::v1::ServerReflectionRequest;
        let mut client = ServerReflectionClient::new(self.channel().await);
        let request = ServerReflectionRequest {
            host: String::new(),
            message_request: Some(MessageRequest::ListServices(String::new())),
        };
        let mut responses = client.server_reflection_info(tokio_stream::iter([request])).await.unwrap().into_inner();
        let mut names = Vec::new();
        while let Some(response) = responses.message().await.unwrap() {
            if let Some(MessageResponse::ListServicesResponse(list)) = response.message_response {
                names.extend(list.service.into_iter().map(|s| s.name));
            }
        }
        names
    }

    /// `/metrics` text.
    pub fn metrics(&self) -> String {
        let mut response = ureq::get(format!("http://{}/metrics", self.metrics_addr)).call().unwrap();
        response.body_mut().read_to_string().unwrap()
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    pub fn signal(&self, signal: i32) {
        let pid = self.child.lock().unwrap().id() as i32;
        // SAFETY: kill(2) on our own child's pid.
        unsafe { libc::kill(pid, signal) };
    }

    /// Waits for the process to end by itself; its exit code.
    pub fn wait(&self) -> Option<i32> {
        wait_for(LONG, "flowctl serve to exit", || self.child.lock().unwrap().try_wait().unwrap()).code()
    }

    /// SIGINT, then the exit code.
    pub fn stop(&self) -> Option<i32> {
        self.signal(libc::SIGINT);
        self.wait()
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        let child = self.child.get_mut().unwrap();
        if child.try_wait().ok().flatten().is_none() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Test event `i`: JSON (~300 bytes, some with an empty content_type) or a
/// binary XDR-like payload; metadata, a millisecond timestamp, some cursors.
pub fn wire_event(i: usize) -> pb::Event {
    let (payload, content_type) = if i.is_multiple_of(2) {
        let body = serde_json::json!({
            "seq": i, "from": format!("GA{}", "B".repeat(54)), "to": format!("GC{}", "D".repeat(54)),
            "amount": format!("{:.7}", i as f64 * 1.25), "asset": {"code": "USDC", "issuer": "GA5Z"},
            "memo": format!("payment {i} ünïcödé"), "ok": i.is_multiple_of(4), "fee": null,
        });
        (serde_json::to_vec(&body).unwrap(), if i.is_multiple_of(10) { "" } else { "application/json" })
    } else {
        ((0..300).map(|k| ((i * 7 + k * 31) % 256) as u8).collect(), "application/x-xdr")
    };
    pb::Event {
        id: format!("ev-{i:06}"),
        r#type: if i.is_multiple_of(2) { "stellar.payment.v1" } else { "stellar.ledger.xdr.v1" }.into(),
        payload: payload.into(),
        metadata: [("seq".to_string(), i.to_string()), ("network".to_string(), "testnet".to_string())].into(),
        timestamp: Some(from_millis(1_700_000_000_000 + i as i64 * 1_001)),
        source_component_id: "rust-peer".into(),
        content_type: content_type.into(),
        stellar_cursor: i
            .is_multiple_of(3)
            .then(|| pb::StellarCursor { ledger_sequence: 51_000_000 + i as u64, index_in_ledger: (i % 50) as u32 }),
    }
}

/// `got` is `sent` after a passthrough: every field, JSON-equal or byte-identical payload.
pub fn assert_intact(sent: &pb::Event, got: &pb::Event, i: usize) {
    assert_eq!(
        (&got.id, &got.r#type, &got.content_type, &got.source_component_id),
        (&sent.id, &sent.r#type, &sent.content_type, &sent.source_component_id),
        "event {i}"
    );
    assert_eq!((got.timestamp, got.stellar_cursor), (sent.timestamp, sent.stellar_cursor), "event {i}");
    if sent.content_type == "application/x-xdr" {
        assert_eq!(got.payload, sent.payload, "event {i}: binary payload");
    } else {
        let a: serde_json::Value = serde_json::from_slice(&sent.payload).unwrap();
        let b: serde_json::Value = serde_json::from_slice(&got.payload).unwrap();
        assert_eq!(a, b, "event {i}: JSON payload");
    }
    for (key, value) in &sent.metadata {
        assert_eq!(got.metadata.get(key), Some(value), "event {i}: metadata {key}");
    }
}

/// Every remaining output, until the server ends the stream.
pub async fn collect(mut outputs: Streaming<pb::Event>) -> Vec<pb::Event> {
    let mut got = Vec::new();
    while let Some(event) = next(&mut outputs).await {
        got.push(event);
    }
    got
}

pub async fn next(outputs: &mut Streaming<pb::Event>) -> Option<pb::Event> {
    tokio::time::timeout(LONG, outputs.message()).await.expect("no output for 90 s").unwrap()
}

/// A `Process` call driven round by round: send a round, read its outputs
/// (the module is a passthrough: one output per input).
pub struct Lockstep {
    pub tx: tokio::sync::mpsc::Sender<pb::Event>,
    pub sent: usize,
    pub got: Vec<pb::Event>,
}

impl Lockstep {
    pub async fn round(&mut self, outputs: &mut Streaming<pb::Event>) {
        const ROUND: usize = 500;
        for i in self.sent..self.sent + ROUND {
            self.tx.send(wire_event(i)).await.unwrap();
        }
        self.sent += ROUND;
        while self.got.len() < self.sent {
            self.got.push(next(outputs).await.expect("the stream ended early"));
        }
    }

    /// Rounds until an output carries `version`.
    pub async fn until_version(&mut self, outputs: &mut Streaming<pb::Event>, version: &str) {
        let deadline = Instant::now() + LONG;
        loop {
            self.round(outputs).await;
            let tag = self.got.last().and_then(|e| e.metadata.get("flowctl.module_version"));
            if tag.map(String::as_str) == Some(version) {
                return;
            }
            assert!(Instant::now() < deadline, "version {version} never showed up");
        }
    }
}

/// Sum of the samples of `name` whose labels include every pair in `labels`.
pub fn metric(text: &str, name: &str, labels: &[(&str, &str)]) -> f64 {
    text.lines()
        .filter(|l| l.starts_with(name) && l[name.len()..].starts_with(['{', ' ']))
        .filter(|l| labels.iter().all(|(k, v)| l.contains(&format!("{k}=\"{v}\""))))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}
