//! `flowctl run` under SIGTERM and behind a blocked sink, on the real binary:
//! a stop in the middle of an unbounded run loses nothing the source emitted,
//! and a sink that stops reading holds the whole pipeline without memory growth.

#![allow(clippy::unwrap_used)] // tests: a failed unwrap is a failed test

mod engine_common;

use std::io::{BufRead, BufReader};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use engine_common::*;

/// Upper bound on waiting for a condition, so a broken engine fails instead of hanging.
const PATIENCE: Duration = Duration::from_secs(120);

fn sigterm(child: &Child) {
    // SAFETY: kill(2) with a pid we spawned and a valid signal number.
    let rc = unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGTERM) };
    assert_eq!(rc, 0);
}

fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let start = Instant::now();
    while !done() {
        assert!(start.elapsed() < PATIENCE, "gave up waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Resident memory of a process in KiB, from /proc.
fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

#[test]
fn sigterm_mid_run_loses_nothing_the_source_emitted() {
    let ws = Workspace::new();
    let pass = guest("passthrough");
    let file = ws.pipeline(&format!(
        r#"
  settings:
    dead_letter: {{type: file, path: dead.jsonl}}
    shutdown_grace: 30s
  sources:
    - {{id: gen, type: generator, config: {{rate: 20000}}}}
  processors:
    - {{id: p, type: wasm, inputs: [gen], wasm: {{module: "{pass}", pool_size: 2, batch_size: 32}}}}
  sinks:
    - {{id: out, type: file, inputs: [p], config: {{path: out.jsonl}}}}
"#
    ));
    let child = ws.spawn(&file, Stdio::null());
    let out = ws.path("out.jsonl");
    wait_until("the first events at the sink", || std::fs::metadata(&out).map(|m| m.len() > 0).unwrap_or(false));
    sigterm(&child);
    let run = Run::from_output(child.wait_with_output().unwrap());
    run.assert_success();

    let emitted = run.source("gen")["emitted"].as_u64().unwrap();
    assert!(emitted > 0);
    let sunk = ws.events("out.jsonl");
    let dead = ws.events("dead.jsonl");
    assert_eq!(sunk.len() as u64 + dead.len() as u64, emitted, "sink + dead letters = emitted");
    for (n, e) in sunk.iter().enumerate() {
        assert_eq!(e["id"], format!("gen-{n:012}"), "event {n} missing or out of order");
    }
    let p = run.processor("p");
    assert_eq!(p["received"].as_u64(), Some(emitted));
    assert_eq!(p["balanced"], true);
}

#[test]
fn a_blocked_sink_holds_the_pipeline_without_growing_memory() {
    let ws = Workspace::new();
    let pass = guest("passthrough");
    let file = ws.pipeline(&format!(
        r#"
  settings:
    channel_capacity: 4
  sources:
    - {{id: gen, type: generator, config: {{event_size: 4096}}}}
  processors:
    - {{id: p, type: wasm, inputs: [gen], wasm: {{module: "{pass}", pool_size: 2, batch_size: 64}}}}
  sinks:
    - {{id: out, type: stdout, inputs: [p]}}
"#
    ));
    // The sink writes into a pipe nobody reads for a while: it blocks once the pipe is full.
    let mut child = ws.spawn(&file, Stdio::piped());
    let stdout = child.stdout.take().unwrap();
    std::thread::sleep(Duration::from_secs(2));
    let blocked = rss_kib(child.id());
    std::thread::sleep(Duration::from_secs(3));
    let later = rss_kib(child.id());
    eprintln!("RSS with the sink blocked: {blocked} KiB, three seconds later: {later} KiB");
    assert!(later < blocked + 32 * 1024, "memory grew from {blocked} KiB to {later} KiB while the sink was blocked");
    assert!(child.try_wait().unwrap().is_none(), "flowctl exited while its sink was blocked");

    // Drain: read some lines, stop the pipeline, read to the end.
    let mut lines = BufReader::new(stdout).lines();
    for _ in 0..1000 {
        lines.next().unwrap().unwrap();
    }
    sigterm(&child);
    let rest = lines.map_while(Result::ok).count();
    let run = Run::from_output(child.wait_with_output().unwrap());
    run.assert_success();
    assert_eq!(run.sink("out")["written"].as_u64(), Some(1000 + rest as u64));
    assert_eq!(run.source("gen")["emitted"].as_u64(), Some(1000 + rest as u64), "nothing lost in the drain");
}
