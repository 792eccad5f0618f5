//! The HTTP egress policy on the real binary: a guest GETs the URL in each
//! event from a real server on 127.0.0.1. `allowed_domains: [localhost]`
//! alone does not reach it (loopback is not public); listing 127.0.0.0/8 in
//! `allowed_networks` does, on a port in `allowed_ports` only. Denials are
//! audited with the rule that refused them and never open a connection.

#![allow(clippy::unwrap_used)] // tests: a failed unwrap is a failed test

mod engine_common;

use std::io::{ErrorKind, Read, Write};
use std::net::TcpListener;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use engine_common::*;
use serde_json::Value;

/// A server on 127.0.0.1 answering every request with one event; counts requests.
struct Server {
    port: u16,
    requests: Arc<AtomicUsize>,
}

impl Server {
    fn start() -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let requests = Arc::new(AtomicUsize::new(0));
        let counter = requests.clone();
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(mut conn) = conn else { return };
                let mut request = Vec::new();
                let mut buf = [0u8; 4096];
                while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                    match conn.read(&mut buf) {
                        Ok(0) | Err(_) => break,
                        Ok(n) => request.extend_from_slice(&buf[..n]),
                    }
                }
                counter.fetch_add(1, Ordering::SeqCst);
                let body = r#"{"id": "reached", "type": "t.v1"}"#;
                let answer =
                    format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}", body.len());
                let _ = conn.write_all(answer.as_bytes());
            }
        });
        Server { port, requests }
    }

    fn requests(&self) -> usize {
        self.requests.load(Ordering::SeqCst)
    }
}

/// A listener that must never see a connection.
fn untouched_listener() -> (TcpListener, u16) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let port = listener.local_addr().unwrap().port();
    (listener, port)
}

fn assert_untouched(listener: &TcpListener) {
    match listener.accept() {
        Err(e) if e.kind() == ErrorKind::WouldBlock => {}
        other => panic!("a denied request connected: {other:?}"),
    }
}

/// Events to `http://localhost:{port}/` for each port, one per line.
fn input(ws: &Workspace, ports: &[u16]) {
    let lines: Vec<String> = ports
        .iter()
        .map(|port| format!(r#"{{"id": "to-{port}", "type": "t.v1", "data": {{"url": "http://localhost:{port}/"}}}}"#))
        .collect();
    std::fs::write(ws.path("in.jsonl"), lines.join("\n") + "\n").unwrap();
}

fn pipeline(ws: &Workspace, http: &str) -> std::path::PathBuf {
    let guest = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/guests/http_from_event.wat");
    ws.pipeline(&format!(
        r#"
  sources: [{{id: in, type: file, config: {{path: in.jsonl}}}}]
  processors:
    - id: fetch
      type: wasm
      inputs: [in]
      wasm: {{module: "{}", permissions: {{http: {http}}}}}
  sinks: [{{id: out, type: file, inputs: [fetch], config: {{path: out.jsonl}}}}]
"#,
        guest.display()
    ))
}

/// The `reason` of every audit line.
fn audit_reasons(run: &Run) -> Vec<String> {
    run.logs
        .iter()
        .filter(|l| l["target"] == "flowctl::audit")
        .inspect(|l| {
            let f = &l["fields"];
            assert_eq!(
                (&f["action"], &f["allowed"], &f["processor"]),
                (&Value::from("http_request"), &Value::from(false), &Value::from("fetch")),
                "{l}"
            );
        })
        .map(|l| l["fields"]["reason"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn localhost_is_loopback_and_denied_unless_its_network_is_listed() {
    let server = Server::start();
    let ws = Workspace::new();
    input(&ws, &[server.port]);
    let file = pipeline(&ws, &format!("{{allowed_domains: [localhost], allowed_ports: [{}]}}", server.port));
    let run = ws.run(&file);
    run.assert_success();
    assert!(ws.events("out.jsonl").is_empty(), "the guest got 0 and output nothing");
    let reasons = audit_reasons(&run);
    assert_eq!(reasons.len(), 1, "{}", run.stderr);
    assert!(reasons[0].starts_with("host `localhost` resolves to "), "{}", reasons[0]);
    assert!(reasons[0].ends_with("a loopback address not in allowed_networks"), "{}", reasons[0]);
    assert_eq!(server.requests(), 0, "the denied request reached the server");
}

#[test]
fn a_listed_network_is_reached_on_listed_ports_only() {
    let server = Server::start();
    let (other, other_port) = untouched_listener();
    let ws = Workspace::new();
    input(&ws, &[server.port, other_port]);
    let http =
        format!("{{allowed_domains: [localhost], allowed_networks: [127.0.0.0/8], allowed_ports: [{}]}}", server.port);
    let run = ws.run(&pipeline(&ws, &http));
    run.assert_success();
    let out = ws.events("out.jsonl");
    assert_eq!(out.len(), 1, "{}", run.stderr);
    assert_eq!(out[0]["id"], "reached");
    assert_eq!(server.requests(), 1);
    assert_eq!(audit_reasons(&run), [format!("port {other_port} is not in allowed_ports")]);
    assert_untouched(&other);
}
