//! Scale-out on NATS JetStream, with a real `nats-server -js`: two `flowctl
//! run` processes share one durable pull consumer; one is killed with
//! `kill -9` in the middle of the stream. Every message is processed, none is
//! lost, and the sink stream holds each event id exactly once (its
//! duplicate window drops what the survivor processed again). And a server
//! restart in the middle of a run costs nothing either.

#![allow(clippy::unwrap_used)] // tests: a failed unwrap is a failed test

mod engine_common;
mod nats_common;

use std::collections::HashSet;
use std::process::Stdio;
use std::time::{Duration, Instant};

use engine_common::*;
use nats_common::NatsServer;
use serde_json::Value;

const EVENTS: usize = 20_000;
const PATIENCE: Duration = Duration::from_secs(120);

fn event(n: usize) -> Vec<u8> {
    format!(r#"{{"id":"e-{n:06}","type":"t","timestamp":1,"data":{{"n":{n}}}}}"#).into_bytes()
}

/// A workspace (its own state store) running source nats -> passthrough -> sink nats.
fn replica(nats: &NatsServer) -> (Workspace, std::path::PathBuf) {
    let ws = Workspace::new();
    let pass = guest("passthrough");
    let file = ws.pipeline(&format!(
        r#"
  settings:
    dead_letter: {{type: file, path: dead.jsonl}}
    checkpoint_interval: 100ms
    shutdown_grace: 30s
  sources:
    - id: in
      type: nats
      config: {{url: "{url}", stream: IN, subject: in.events, durable: work, batch: 64, ack_wait: 2s, max_ack_pending: 2000}}
  processors:
    - {{id: p, type: wasm, inputs: [in], wasm: {{module: "{pass}", batch_size: 64}}}}
  sinks:
    - {{id: out, type: nats, inputs: [p], config: {{url: "{url}", stream: OUT, subject: out.events}}}}
"#,
        url = nats.url
    ));
    (ws, file)
}

fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let start = Instant::now();
    while !done() {
        assert!(start.elapsed() < PATIENCE, "gave up waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn two_processes_share_a_durable_and_a_kill_9_loses_and_repeats_nothing() {
    let nats = NatsServer::start();
    let mut input: Vec<Vec<u8>> = (0..EVENTS).map(event).collect();
    input.insert(EVENTS / 2, b"{not an event".to_vec());
    nats.publish("IN", "in.events", input);

    let (ws_a, file_a) = replica(&nats);
    let (ws_b, file_b) = replica(&nats);
    let mut a = ws_a.spawn(&file_a, Stdio::null());
    let b = ws_b.spawn(&file_b, Stdio::null());
    let _reapers = (KillOnDrop(a.id()), KillOnDrop(b.id()));
    wait_until("a quarter of the events in OUT", || nats.count("OUT") >= (EVENTS / 4) as u64);
    a.kill().unwrap(); // SIGKILL
    a.wait().unwrap();
    // The survivor gets the victim's unacknowledged messages after ack_wait.
    wait_until("every event in OUT", || nats.count("OUT") >= EVENTS as u64);
    std::thread::sleep(Duration::from_millis(500));
    // SAFETY: kill(2) with a pid we spawned and a valid signal number.
    assert_eq!(unsafe { libc::kill(b.id() as libc::pid_t, libc::SIGTERM) }, 0);
    let run_b = Run::from_output(b.wait_with_output().unwrap());
    run_b.assert_success();

    let out = nats.read_all("OUT");
    assert_eq!(out.len(), EVENTS, "each event id once in the sink stream");
    let ids: HashSet<&str> = out.iter().map(|(id, _)| id.as_str()).collect();
    assert_eq!(ids.len(), EVENTS);
    assert!((0..EVENTS).all(|n| ids.contains(format!("e-{n:06}").as_str())), "an event is missing");
    let (id, payload) = &out[0];
    let json: Value = serde_json::from_slice(payload).unwrap();
    assert_eq!(json["id"], id.as_str(), "the payload is the event, its id the message id");
    assert!(json["metadata"]["flowctl.module_version"].is_string(), "{json}");

    let b_read = run_b.source("in")["emitted"].as_u64().unwrap();
    assert!(b_read > 0, "B did part of the work ({b_read})");
    let dead: Vec<Value> = [ws_a.events("dead.jsonl"), ws_b.events("dead.jsonl")].concat();
    assert!(
        dead.iter().any(|d| d["error_kind"] == "malformed_event"),
        "the malformed message was dead-lettered by one of them: {dead:?}"
    );
}

#[test]
fn a_nats_server_restart_mid_run_loses_and_repeats_nothing() {
    let mut nats = NatsServer::start();
    let ws = Workspace::new();
    let input: Vec<String> = (0..EVENTS).map(|n| String::from_utf8(event(n)).unwrap()).collect();
    std::fs::write(ws.path("in.jsonl"), input.join("\n") + "\n").unwrap();
    let pass = guest("passthrough");
    let file = ws.pipeline(&format!(
        r#"
  settings: {{dead_letter: {{type: file, path: dead.jsonl}}, checkpoint_interval: 100ms}}
  sources: [{{id: in, type: file, config: {{path: in.jsonl}}}}]
  processors:
    - {{id: p, type: wasm, inputs: [in], wasm: {{module: "{pass}", batch_size: 64}}}}
  sinks:
    - {{id: out, type: nats, inputs: [p], config: {{url: "{url}", stream: OUT, subject: out.events}}}}
"#,
        url = nats.url
    ));
    let run = ws.spawn(&file, Stdio::null());
    let _reaper = KillOnDrop(run.id());
    wait_until("some events in OUT", || nats.count("OUT") > 0);
    nats.restart();
    let run = Run::from_output(run.wait_with_output().unwrap());
    run.assert_success();
    let out = nats.read_all("OUT");
    let ids: HashSet<&str> = out.iter().map(|(id, _)| id.as_str()).collect();
    assert_eq!((out.len(), ids.len()), (EVENTS, EVENTS), "every event once, across the restart");
}
