//! Durable progress on the real binary: `kill -9` in the middle of a run and
//! start again, ten times; the saved positions (`flowctl state`), what a
//! damaged or foreign state store does, and a file that changed under a saved
//! position. The guarantee under test is `docs/guarantees.md`'s.

#![allow(clippy::unwrap_used)] // tests: a failed unwrap is a failed test

mod engine_common;

use std::collections::HashMap;
use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use engine_common::*;
use serde_json::Value;

const EVENTS: usize = 200_000;
const PATIENCE: Duration = Duration::from_secs(180);

fn write_input(path: &Path, events: usize) {
    let mut out = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    for n in 0..events {
        writeln!(
            out,
            r#"{{"id":"e-{n:07}","type":"t","timestamp":1,"data":{{"n":{n},"pad":"abcdefghijklmnopqrstuvwxyz"}}}}"#
        )
        .unwrap();
    }
}

fn pipeline(ws: &Workspace) -> std::path::PathBuf {
    let pass = guest("passthrough");
    ws.pipeline(&format!(
        r#"
  settings:
    dead_letter: {{type: file, path: dead.jsonl}}
    checkpoint_interval: 100ms
  sources:
    - {{id: in, type: file, config: {{path: in.jsonl}}}}
  processors:
    - {{id: p, type: wasm, inputs: [in], wasm: {{module: "{pass}", pool_size: 2, batch_size: 128}}}}
  sinks:
    - {{id: out, type: file, inputs: [p], config: {{path: out.jsonl}}}}
"#
    ))
}

fn flowctl(ws: &Workspace, args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_flowctl")).args(args).current_dir(ws.dir.path()).output().unwrap()
}

/// `flowctl state show --json`.
fn saved(ws: &Workspace, file: &Path) -> Value {
    let out = flowctl(ws, &["state", "show", "--json", file.to_str().unwrap()]);
    assert!(out.status.success(), "state show failed: {}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}

/// Input events before the saved file offset of source `in` (0 when none is saved).
fn committed_events(ws: &Workspace, file: &Path) -> usize {
    let offset = saved(ws, file)["sources"]["in"]["position"]["offset"].as_u64().unwrap_or(0) as usize;
    let input = std::fs::read(ws.path("in.jsonl")).unwrap();
    input[..offset].iter().filter(|b| **b == b'\n').count()
}

fn output_bytes(ws: &Workspace) -> u64 {
    std::fs::metadata(ws.path("out.jsonl")).map(|m| m.len()).unwrap_or(0)
}

fn output_lines(ws: &Workspace) -> usize {
    std::fs::read(ws.path("out.jsonl")).map(|b| b.iter().filter(|c| **c == b'\n').count()).unwrap_or(0)
}

#[test]
fn kill_9_ten_times_loses_nothing_and_replays_only_what_was_not_committed() {
    let ws = Workspace::new();
    write_input(&ws.path("in.jsonl"), EVENTS);
    let file = pipeline(&ws);
    let seed = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as u64;
    let mut rng = fastrand::Rng::with_seed(seed);
    // Replays allowed: per crash, what reached the output after the last commit.
    let mut bound = 0;
    let mut kills = 0;
    for round in 0..10 {
        // A random moment, measured in output: between the first new bytes and
        // about 15,000 events later, so ten rounds fit in the input.
        let target = output_bytes(&ws) + rng.u64(1..1_500_000);
        let mut child = ws.spawn(&file, Stdio::null());
        let start = Instant::now();
        while output_bytes(&ws) < target && child.try_wait().unwrap().is_none() {
            assert!(start.elapsed() < PATIENCE, "round {round}: no progress (seed {seed})");
            std::thread::sleep(Duration::from_millis(1));
        }
        if child.try_wait().unwrap().is_some() {
            break;
        }
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        kills += 1;
        let (written, committed) = (output_lines(&ws), committed_events(&ws, &file));
        assert!(committed <= written, "round {round}: committed {committed} > written {written} (seed {seed})");
        bound += written - committed;
    }
    let last = ws.run(&file);
    last.assert_success();
    assert_eq!(kills, 10, "the run finished before ten crashes ({kills}); make the input larger (seed {seed})");

    let text = std::fs::read_to_string(ws.path("out.jsonl")).unwrap();
    let mut seen: HashMap<String, usize> = HashMap::new();
    for line in text.lines() {
        let event: Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("torn line {line:?}: {e} (seed {seed})"));
        *seen.entry(event["id"].as_str().unwrap().to_owned()).or_default() += 1;
    }
    let missing: Vec<String> =
        (0..EVENTS).map(|n| format!("e-{n:07}")).filter(|id| !seen.contains_key(id)).take(5).collect();
    assert!(missing.is_empty(), "lost events, e.g. {missing:?} (seed {seed})");
    let duplicates = text.lines().count() - EVENTS;
    eprintln!("{kills} crashes: {duplicates} duplicates, bound {bound} (seed {seed})");
    assert!(
        duplicates <= bound,
        "{duplicates} duplicates over {kills} crashes, more than the {bound} written after the last commits (seed {seed})"
    );
    assert!(duplicates < EVENTS, "crashes replay far less than everything: {duplicates} duplicates (seed {seed})");
    let end = saved(&ws, &file);
    let size = std::fs::metadata(ws.path("in.jsonl")).unwrap().len();
    assert_eq!(end["sources"]["in"]["position"]["offset"], size, "the whole input is committed at the end");

    // Finished input is not read again; --from-start reads it all once more.
    let again = ws.run(&file);
    again.assert_success();
    assert_eq!(again.source("in")["emitted"], 0, "{}", again.stderr);
    let mut from_start = ws.command(&file);
    let rerun = Run::from_output(from_start.arg("--from-start").output().unwrap());
    rerun.assert_success();
    assert_eq!(rerun.source("in")["emitted"], EVENTS as u64);
}

#[test]
fn state_show_and_reset_and_a_file_changed_under_its_position() {
    let ws = Workspace::new();
    write_input(&ws.path("in.jsonl"), 1000);
    let file = pipeline(&ws);
    let empty = saved(&ws, &file);
    assert_eq!(empty["store"], Value::Null, "nothing saved before the first run");
    ws.run(&file).assert_success();
    let table = flowctl(&ws, &["state", "show", file.to_str().unwrap()]);
    let table = String::from_utf8_lossy(&table.stdout);
    assert!(table.contains("in") && table.contains("file") && table.contains("after line 1000"), "{table}");

    // Truncated: refused with the reason and the way out, not read from somewhere in the middle.
    write_input(&ws.path("in.jsonl"), 10);
    let refused = ws.run(&file);
    assert_eq!(refused.code, Some(2), "{}", refused.stderr);
    assert!(refused.stderr.contains("truncated") && refused.stderr.contains("--from-start"), "{}", refused.stderr);
    assert!(!refused.stderr.contains("panicked"), "{}", refused.stderr);

    let reset = flowctl(&ws, &["state", "reset", file.to_str().unwrap()]);
    assert!(String::from_utf8_lossy(&reset.stdout).contains("starts from the beginning"));
    let fresh = ws.run(&file);
    fresh.assert_success();
    assert_eq!(fresh.source("in")["emitted"], 10);
}

#[test]
fn a_damaged_or_foreign_state_store_is_a_clear_error_not_a_panic() {
    let ws = Workspace::new();
    write_input(&ws.path("in.jsonl"), 10);
    let file = pipeline(&ws);
    let store = ws.path(".flowctl-state/test.redb");
    std::fs::create_dir_all(store.parent().unwrap()).unwrap();
    std::fs::write(&store, b"this is not a state store, just some text that is long enough to look like a header")
        .unwrap();
    let damaged = ws.run(&file);
    assert_eq!(damaged.code, Some(2), "{}", damaged.stderr);
    assert!(damaged.stderr.contains("damaged") && damaged.stderr.contains("flowctl state reset"), "{}", damaged.stderr);
    assert!(!damaged.stderr.contains("panicked"), "{}", damaged.stderr);
    let show = flowctl(&ws, &["state", "show", file.to_str().unwrap()]);
    assert!(!show.status.success() && String::from_utf8_lossy(&show.stderr).contains("damaged"));

    // Another pipeline's store under this pipeline's name.
    std::fs::remove_file(&store).unwrap();
    let other = ws.path("other.yaml");
    std::fs::write(&other, std::fs::read_to_string(&file).unwrap().replace("name: test", "name: other")).unwrap();
    ws.run(&other).assert_success();
    std::fs::copy(ws.path(".flowctl-state/other.redb"), &store).unwrap();
    let foreign = ws.run(&file);
    assert_eq!(foreign.code, Some(2), "{}", foreign.stderr);
    assert!(foreign.stderr.contains("belongs to pipeline \"other\""), "{}", foreign.stderr);
}
