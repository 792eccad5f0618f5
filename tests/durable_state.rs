//! Processor state through crashes, on the real binary: the `count` example
//! counts events per user (from a followed file, so no run ends by itself)
//! while `flowctl run` is killed with `kill -9` ten times and its module is
//! hot-reloaded before the last crash; the final counts equal the
//! true counts exactly (state is committed with the source positions, so it is
//! exactly-once while outputs are at-least-once).

#![allow(clippy::unwrap_used)] // tests: a failed unwrap is a failed test

mod engine_common;
mod live_common;

use std::collections::HashMap;
use std::io::Write;
use std::process::Stdio;
use std::time::{Duration, Instant};

use engine_common::*;
use serde_json::Value;

const EVENTS: usize = 320_000;
/// Written before the first run; the rest is appended while the pipeline runs.
const FIRST: usize = 300_000;
const USERS: usize = 97;
const PATIENCE: Duration = Duration::from_secs(180);

fn output_bytes(ws: &Workspace) -> u64 {
    std::fs::metadata(ws.path("out.jsonl")).map(|m| m.len()).unwrap_or(0)
}

/// Whether the last 256 KiB of the output mention `text`.
fn output_tail_has(ws: &Workspace, text: &str) -> bool {
    use std::io::{Read, Seek, SeekFrom};
    let Ok(mut file) = std::fs::File::open(ws.path("out.jsonl")) else { return false };
    let len = file.metadata().unwrap().len();
    file.seek(SeekFrom::Start(len.saturating_sub(256 * 1024))).unwrap();
    let mut tail = Vec::new();
    file.read_to_end(&mut tail).unwrap();
    String::from_utf8_lossy(&tail).contains(text)
}

/// Appends the next `n` input events (user `u-<seq % USERS>`).
fn append(ws: &Workspace, written: &mut usize, n: usize) {
    let file = std::fs::OpenOptions::new().create(true).append(true).open(ws.path("in.jsonl")).unwrap();
    let mut input = std::io::BufWriter::new(file);
    for seq in *written..*written + n {
        writeln!(input, r#"{{"id":"e-{seq:07}","type":"t","timestamp":1,"data":{{"user":"u-{}"}}}}"#, seq % USERS)
            .unwrap();
    }
    input.flush().unwrap();
    *written += n;
}

#[test]
fn counts_stay_exact_through_ten_kill_9s_and_a_hot_reload() {
    let ws = Workspace::new();
    let mut written = 0;
    append(&ws, &mut written, FIRST);
    let module = ws.path("count.wasm");
    std::fs::copy(live_common::guest("count"), &module).unwrap();
    let file = ws.pipeline(
        r#"
  settings:
    dead_letter: {type: file, path: dead.jsonl}
    checkpoint_interval: 100ms
  sources:
    - {id: in, type: file, config: {path: in.jsonl, follow: true}}
  processors:
    - id: count
      type: wasm
      inputs: [in]
      config: {key: data.user}
      wasm: {module: count.wasm, batch_size: 64, permissions: {state: true}}
  sinks:
    - {id: out, type: file, inputs: [count], config: {path: out.jsonl}}
"#,
    );
    let seed = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as u64;
    let mut rng = fastrand::Rng::with_seed(seed);
    let reloaded = live_common::variant(&module, "v2");
    let new_tag = live_common::short_hash(&reloaded);
    for round in 0..10 {
        let target = output_bytes(&ws) + rng.u64(1..600_000);
        let mut child = ws.spawn(&file, Stdio::null());
        let _reaper = KillOnDrop(child.id());
        let start = Instant::now();
        let wait_for = |done: &dyn Fn() -> bool, child: &mut std::process::Child| {
            while !done() && child.try_wait().unwrap().is_none() {
                assert!(start.elapsed() < PATIENCE, "round {round}: no progress (seed {seed})");
                std::thread::sleep(Duration::from_millis(1));
            }
        };
        wait_for(&|| output_bytes(&ws) >= target, &mut child);
        if round == 9 {
            // Hot reload before the last crash, once the run caught up (a
            // reload compiles at low priority: under full load it would wait).
            let caught_up = format!("e-{:07}#count", written - 1);
            wait_for(&|| output_tail_has(&ws, &caught_up), &mut child);
            // The new version must go on from the old one's counts.
            let staged = ws.path("count.wasm.new");
            std::fs::write(&staged, &reloaded).unwrap();
            std::fs::rename(&staged, &module).unwrap();
            // New input until the reloaded version's first outputs show.
            while !output_tail_has(&ws, &new_tag) && written < EVENTS {
                assert!(start.elapsed() < PATIENCE, "the reload never took (seed {seed})");
                append(&ws, &mut written, 50);
                std::thread::sleep(Duration::from_millis(50));
            }
            if !output_tail_has(&ws, &new_tag) {
                child.kill().unwrap();
                let log = String::from_utf8_lossy(&child.wait_with_output().unwrap().stderr).into_owned();
                let reloads: Vec<&str> = log.lines().filter(|l| l.contains("reload") || l.contains("ERROR")).collect();
                panic!("no output from the reloaded version {new_tag} (seed {seed}): {reloads:#?}\n{log}");
            }
        }
        assert!(child.try_wait().unwrap().is_none(), "a followed file never ends the run (seed {seed})");
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
    }
    let rest = EVENTS - written;
    append(&ws, &mut written, rest);
    // The last run: until the last event is counted, then a clean stop.
    let child = ws.spawn(&file, Stdio::null());
    let _reaper = KillOnDrop(child.id());
    let start = Instant::now();
    let last = format!("e-{:07}#count", EVENTS - 1);
    while !output_tail_has(&ws, &last) {
        assert!(start.elapsed() < PATIENCE, "the last run never got to the end (seed {seed})");
        std::thread::sleep(Duration::from_millis(20));
    }
    // SAFETY: kill(2) with a pid we spawned and a valid signal number.
    assert_eq!(unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGTERM) }, 0);
    let run = Run::from_output(child.wait_with_output().unwrap());
    run.assert_success();

    let text = std::fs::read_to_string(ws.path("out.jsonl")).unwrap();
    let mut highest: HashMap<String, u64> = HashMap::new();
    let mut after_reload_min = u64::MAX;
    for line in text.lines() {
        let event: Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("torn line {line:?}: {e} (seed {seed})"));
        let (key, count) = (event["data"]["key"].as_str().unwrap(), event["data"]["count"].as_u64().unwrap());
        let top = highest.entry(key.to_owned()).or_default();
        *top = (*top).max(count);
        if event["metadata"]["flowctl.module_version"] == new_tag.as_str() {
            after_reload_min = after_reload_min.min(count);
        }
    }
    let outputs = text.lines().count();
    assert!(outputs > EVENTS, "crashes replayed some events ({outputs} outputs for {EVENTS}), yet no count is off");
    assert_eq!(highest.len(), USERS);
    for (key, count) in &highest {
        let k: usize = key.trim_start_matches("u-").parse().unwrap();
        let truth = (EVENTS - k).div_ceil(USERS) as u64;
        assert_eq!(*count, truth, "user {key}: counted {count}, true count {truth} (seed {seed})");
    }
    assert!(after_reload_min > 1, "the reloaded version went on from the old version's counts (seed {seed})");
}

/// `pool_size: 2` with `route_by: data.user`: events are split into two
/// lanes by user, one worker per lane, so each user's count goes up by one
/// per event, in input order, however the two workers interleave.
#[test]
fn two_workers_split_by_key_count_each_key_in_order() {
    const SPLIT_EVENTS: usize = 60_000;
    let ws = Workspace::new();
    let mut written = 0;
    append(&ws, &mut written, SPLIT_EVENTS);
    std::fs::copy(live_common::guest("count"), ws.path("count.wasm")).unwrap();
    let file = ws.pipeline(
        r#"
  settings:
    dead_letter: {type: file, path: dead.jsonl}
  sources:
    - {id: in, type: file, config: {path: in.jsonl}}
  processors:
    - id: count
      type: wasm
      inputs: [in]
      config: {key: data.user}
      wasm: {module: count.wasm, batch_size: 16, pool_size: 2, route_by: data.user, permissions: {state: true}}
  sinks:
    - {id: out, type: file, inputs: [count], config: {path: out.jsonl}}
"#,
    );
    let run = ws.run(&file);
    run.assert_success();
    let outputs = ws.events("out.jsonl");
    assert_eq!(outputs.len(), SPLIT_EVENTS);
    let mut counts: HashMap<String, u64> = HashMap::new();
    let mut last_id: HashMap<String, String> = HashMap::new();
    for event in &outputs {
        let key = event["data"]["key"].as_str().unwrap().to_owned();
        let count = counts.entry(key.clone()).or_default();
        *count += 1;
        assert_eq!(event["data"]["count"].as_u64(), Some(*count), "{key}: a count skipped or repeated: {event}");
        let id = event["id"].as_str().unwrap().to_owned();
        if let Some(before) = last_id.insert(key.clone(), id.clone()) {
            assert!(before < id, "{key}: {id} came out after {before}");
        }
    }
    assert_eq!(counts.len(), USERS);
}
