//! The misbehaving guests in `tests/guests/` through both the library API and
//! the `flowctl test` binary: each must end with its own specific error while
//! the host keeps running, and a long run alternating good and bad events
//! must process every good one.

#![allow(clippy::unwrap_used)] // tests: a failed unwrap is a failed test

use std::path::PathBuf;
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use flowctl::runtime::{
    HttpPermission, InstanceSlot, Limits, LoadedModule, Permissions, ProcessError, ProcessorSpec, Runtime,
    RuntimeSettings,
};
use flowctl::Event;
use serde_json::json;

fn guest_path(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/guests").join(format!("{name}.wat"))
}

/// The limits both routes use: small enough that hostile guests hit them fast.
const TIMEOUT: &str = "100ms";
const MEMORY: &str = "16MiB";
/// The only domain the HTTP guests are allowed to reach.
const ALLOWED: &str = "allowed.example";

fn spec(name: &str) -> ProcessorSpec {
    ProcessorSpec {
        name: name.into(),
        version: None,
        config: json!({}),
        limits: Limits { timeout: Duration::from_millis(100), memory_bytes: 16 * 1024 * 1024, ..Limits::default() },
        permissions: Permissions { http: Some(HttpPermission::new(vec![ALLOWED.into()])), ..Permissions::default() },
        ..ProcessorSpec::named(name)
    }
}

fn load(name: &str, spec: ProcessorSpec) -> Arc<LoadedModule> {
    let runtime = Runtime::new(RuntimeSettings { cache_dir: None, epoch_tick: Duration::from_millis(1) }).unwrap();
    runtime.load_file(&guest_path(name), spec).unwrap_or_else(|e| panic!("loading {name}: {e}"))
}

fn event(i: usize) -> Event {
    Event::new(format!("e{i}"), "test.v1", 1_700_000_000_000 + i as i64, json!({"n": i, "payload": "x".repeat(16)}))
}

/// Runs one event through the guest via the library and returns its error.
fn library_error(name: &str, spec: ProcessorSpec) -> ProcessError {
    let mut slot = InstanceSlot::new(load(name, spec));
    let mut results = slot.process(&[event(1)]);
    match results.pop() {
        Some(Err(err)) => err,
        other => panic!("{name}: expected an error, got {other:?}"),
    }
}

/// Runs one event through `flowctl test`; returns (exit code, stdout, stderr).
fn cli(name: &str, extra: &[&str]) -> (Option<i32>, String, String) {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in.jsonl");
    std::fs::write(&input, event(1).to_json()).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_flowctl"))
        .arg("test")
        .arg(guest_path(name))
        .arg("--input")
        .arg(&input)
        .args(extra)
        .args(defaults_not_in(extra))
        .env("XDG_CACHE_HOME", dir.path())
        .output()
        .unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        strip_ansi(&String::from_utf8_lossy(&out.stderr)),
    )
}

/// The limit and permission flags every CLI run gets, unless `extra` sets them.
fn defaults_not_in(extra: &[&str]) -> Vec<&'static str> {
    [["--timeout", TIMEOUT], ["--memory", MEMORY], ["--allow-http", ALLOWED]]
        .into_iter()
        .filter(|[flag, _]| !extra.contains(flag))
        .flatten()
        .collect()
}

/// Log lines may be coloured; assertions look at the text.
fn strip_ansi(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// Asserts the library error's kind and that `flowctl test` prints the same
/// error for event `e1` and exits 1.
fn assert_fails(name: &str, spec: ProcessorSpec, cli_extra: &[&str], kind: &str, text: &str) {
    let err = library_error(name, spec);
    assert_eq!(err.kind(), kind, "{name}: {err}");
    assert!(err.to_string().contains(text), "{name}: `{err}` does not mention `{text}`");
    let (code, stdout, stderr) = cli(name, cli_extra);
    assert_eq!(code, Some(1), "{name}: stdout {stdout}\nstderr {stderr}");
    let line = stderr
        .lines()
        .find(|l| l.starts_with("event e1: "))
        .unwrap_or_else(|| panic!("{name}: no error line in {stderr}"));
    assert!(line.contains(text), "{name}: `{line}` does not mention `{text}`");
    assert_eq!(line, format!("event e1: {err}"), "{name}: library and CLI disagree");
}

#[test]
fn infinite_loop_is_stopped_by_the_deadline() {
    assert_fails("infinite_loop", spec("infinite_loop"), &[], "deadline", "deadline exceeded (100ms)");
}

#[test]
fn infinite_loop_with_fuel_runs_out_of_fuel() {
    let mut spec = spec("infinite_loop");
    spec.limits.fuel = Some(1_000_000);
    spec.limits.timeout = Duration::from_secs(60);
    assert_fails(
        "infinite_loop",
        spec,
        &["--fuel", "1000000", "--timeout", "60s"],
        "fuel",
        "fuel exhausted (budget 1000000)",
    );
}

#[test]
fn memory_hog_hits_the_memory_limit() {
    assert_fails("memory_hog", spec("memory_hog"), &[], "memory", "memory limit exceeded (limit 16777216 bytes");
}

#[test]
fn trap_is_a_trap() {
    assert_fails("trap", spec("trap"), &[], "trap", "trap: ");
}

#[test]
fn bad_pointer_is_refused() {
    assert_fails("bad_pointer", spec("bad_pointer"), &[], "invalid_pointer", "invalid output pointer");
}

#[test]
fn garbage_output_is_malformed() {
    assert_fails("garbage_output", spec("garbage_output"), &[], "malformed_output", "malformed output");
}

#[test]
fn ungranted_import_is_denied_by_name() {
    let mut spec = spec("ungranted_import");
    spec.permissions.http = None;
    let err = library_error("ungranted_import", spec.clone());
    assert_eq!(err.kind(), "capability_denied", "{err}");
    assert!(err.to_string().starts_with("capability denied: http_request"), "{err}");
    // Without --allow-http the CLI grants no HTTP either.
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in.jsonl");
    std::fs::write(&input, event(1).to_json()).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_flowctl"))
        .args(["test".as_ref(), guest_path("ungranted_import").as_os_str(), "--input".as_ref(), input.as_os_str()])
        .env("XDG_CACHE_HOME", dir.path())
        .output()
        .unwrap();
    let stderr = strip_ansi(&String::from_utf8_lossy(&out.stderr));
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains(&format!("event e1: {err}")), "{stderr}");
    assert!(stderr.contains("flowctl::audit") && stderr.contains("allowed=false"), "no audit line: {stderr}");
}

#[test]
fn http_to_a_domain_outside_the_allow_list_is_denied_and_audited() {
    let (code, stdout, stderr) = cli("http_denied", &[]);
    assert!(stderr.contains("flowctl::audit") && stderr.contains("allowed=false"), "no audit line: {stderr}");
    assert!(stderr.contains("not in allowed_domains"), "{stderr}");
    // The guest sees 0 (no trap): it goes on and reports the denial itself.
    let mut slot = InstanceSlot::new(load("http_denied", spec("http_denied")));
    let result = slot.process(&[event(1)]).pop().unwrap();
    assert_eq!(slot.restarts(), 0, "a denied request must not cost the instance: {result:?}");
    assert_eq!(code == Some(0), result.is_ok(), "stdout {stdout}\nstderr {stderr}");
}

#[test]
fn wasi_hello_runs_and_its_output_is_logged() {
    let mut slot = InstanceSlot::new(load("wasi_hello", spec("wasi_hello")));
    assert!(slot.module().report().uses_wasi);
    let result = slot.process(&[event(1)]).pop().unwrap();
    assert!(result.is_ok(), "{result:?}");
    let (code, stdout, stderr) = cli("wasi_hello", &[]);
    assert_eq!(code, Some(0), "stderr {stderr}");
    assert!(!stdout.is_empty());
}

#[test]
fn ten_thousand_alternating_events_process_every_good_one() {
    let module = load("trap_on_odd", spec("trap_on_odd"));
    let mut slot = InstanceSlot::new(module);
    let events: Vec<Event> = (0..10_000).map(event).collect();
    let mut good = 0;
    let mut bad = 0;
    for (chunk_index, chunk) in events.chunks(100).enumerate() {
        let results = slot.process(chunk);
        assert_eq!(results.len(), chunk.len());
        for (i, (input, result)) in chunk.iter().zip(results).enumerate() {
            let n = chunk_index * 100 + i;
            match result {
                Ok(out) if n % 2 == 0 => {
                    assert_eq!(out.len(), 1, "event {n}");
                    assert_eq!(out[0].id(), input.id());
                    good += 1;
                }
                Err(err) if n % 2 == 1 => {
                    assert_eq!(err.kind(), "trap", "event {n}: {err}");
                    bad += 1;
                }
                other => panic!("event {n}: unexpected {other:?}"),
            }
        }
    }
    assert_eq!((good, bad), (5_000, 5_000));
    // The guest has no `process_batch`: one call per event, so per chunk of
    // 100 each of the 50 bad events costs one instance, and no good event runs twice.
    assert_eq!(slot.restarts(), 100 * 50);
}

#[test]
fn ten_thousand_alternating_events_through_flowctl_test() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in.jsonl");
    let lines: Vec<String> = (0..10_000).map(|i| String::from_utf8(event(i).to_json()).unwrap()).collect();
    std::fs::write(&input, lines.join("\n")).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_flowctl"))
        .arg("test")
        .arg(guest_path("trap_on_odd"))
        .arg("--input")
        .arg(&input)
        .args(["--batch", "100"])
        .env("XDG_CACHE_HOME", dir.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let ids: Vec<String> = stdout.lines().map(|l| serde_json::from_str::<Event>(l).unwrap().id().to_owned()).collect();
    assert_eq!(ids, (0..10_000).step_by(2).map(|i| format!("e{i}")).collect::<Vec<_>>());
    let stderr = strip_ansi(&String::from_utf8_lossy(&out.stderr));
    let errors: Vec<&str> = stderr.lines().filter(|l| l.starts_with("event ")).collect();
    assert_eq!(errors.len(), 5_000);
    assert!(errors.iter().all(|l| l.contains(": trap: ")), "{}", errors[0]);
    assert!(errors[0].starts_with("event e1: trap: "), "{}", errors[0]);
}
