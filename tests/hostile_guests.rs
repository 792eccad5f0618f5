//! Attacks on the host by a module, replayed against the real binary: each
//! must end with a named error and a dead letter while the host stays within
//! bounded memory and time, and the pipeline goes on. (The guests are in
//! `tests/guests/`; `runtime_guests.rs` covers the classic faults.)

#![allow(clippy::unwrap_used)] // tests: a failed unwrap is a failed test

mod engine_common;
mod telemetry_common;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use engine_common::{wat_guest, Workspace};
use telemetry_common::{append_events, line_count, value, wait_until, Live};

/// How a finished child ran: exit code, stderr, its peak RSS and wall time.
struct Measured {
    code: Option<i32>,
    stderr: String,
    max_rss_mb: f64,
    elapsed: Duration,
}

/// Runs `cmd` to its end and measures the child itself (`wait4`), not the test process.
#[allow(clippy::zombie_processes)] // reaped by wait4, which std's Child does not know about
fn measure(mut cmd: Command) -> Measured {
    let start = Instant::now();
    let child = cmd.stdout(Stdio::null()).stderr(Stdio::piped()).spawn().unwrap();
    let pid = child.id() as libc::pid_t;
    let mut stderr_pipe = child.stderr.unwrap();
    let reader = std::thread::spawn(move || {
        let mut text = String::new();
        std::io::Read::read_to_string(&mut stderr_pipe, &mut text).unwrap();
        text
    });
    let mut status = 0;
    // SAFETY: a zeroed rusage is a valid out-parameter; `pid` is our own unreaped child.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: as above; wait4 writes only into `status` and `usage`.
    let waited = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    assert_eq!(waited, pid, "wait4 failed: {}", std::io::Error::last_os_error());
    let elapsed = start.elapsed();
    let code = libc::WIFEXITED(status).then(|| libc::WEXITSTATUS(status));
    Measured { code, stderr: reader.join().unwrap(), max_rss_mb: usage.ru_maxrss as f64 / 1024.0, elapsed }
}

fn flowctl_test(dir: &Path, guest: &str, events: usize, extra: &[&str]) -> Command {
    let input = dir.join("in.jsonl");
    let lines: String =
        (0..events).map(|i| format!("{{\"id\":\"e{i}\",\"type\":\"t.v1\",\"timestamp\":1,\"data\":{{}}}}\n")).collect();
    std::fs::write(&input, lines).unwrap();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_flowctl"));
    cmd.arg("test").arg(wat_guest(guest)).arg("--input").arg(&input).args(extra).env("XDG_CACHE_HOME", dir);
    cmd
}

#[test]
fn an_amplifying_module_is_cut_at_max_outputs_in_bounded_memory() {
    let dir = tempfile::tempdir().unwrap();
    let run = measure(flowctl_test(dir.path(), "amplify", 1, &["--memory", "16MiB"]));
    eprintln!("amplify: peak RSS {:.0} MB, {:?}", run.max_rss_mb, run.elapsed);
    assert_eq!(run.code, Some(1), "{}", run.stderr);
    assert!(
        run.stderr.contains("event e0: too many outputs for one event (limit 1000: limits.max_outputs)"),
        "{}",
        run.stderr
    );
    assert!(run.max_rss_mb < 200.0, "host peaked at {:.0} MB", run.max_rss_mb);

    let raised = measure(flowctl_test(dir.path(), "amplify", 1, &["--memory", "16MiB", "--max-outputs", "10"]));
    assert!(raised.stderr.contains("(limit 10: limits.max_outputs)"), "{}", raised.stderr);
}

#[test]
fn an_amplifying_processor_dead_letters_every_event_and_the_pipeline_goes_on() {
    let ws = Workspace::new();
    let file = ws.pipeline(&format!(
        r#"
  settings: {{dead_letter: {{type: file, path: dead.jsonl}}}}
  sources:
    - {{id: gen, type: generator, config: {{count: 20}}}}
  processors:
    - {{id: amp, type: wasm, inputs: [gen], wasm: {{module: "{amp}", batch_size: 4, limits: {{memory: 16MiB}}}}}}
    - {{id: pass, type: wasm, inputs: [gen], wasm: {{module: "{pass}"}}}}
  sinks:
    - {{id: out, type: file, inputs: [amp, pass], config: {{path: out.jsonl}}}}
"#,
        amp = wat_guest("amplify"),
        pass = engine_common::guest("passthrough"),
    ));
    let mut cmd = ws.command(&file);
    cmd.current_dir(ws.dir.path());
    let run = measure(cmd);
    eprintln!("amplify pipeline: peak RSS {:.0} MB, {:?}", run.max_rss_mb, run.elapsed);
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    assert!(run.max_rss_mb < 200.0, "host peaked at {:.0} MB", run.max_rss_mb);
    assert_eq!(ws.events("out.jsonl").len(), 20, "the other branch delivered everything");
    let dead = ws.events("dead.jsonl");
    assert_eq!(dead.len(), 20);
    assert!(dead.iter().all(|d| d["error_kind"] == "too_many_outputs" && d["processor"] == "amp"), "{:?}", dead[0]);
}

#[test]
fn a_sleeping_module_answers_at_its_deadline() {
    let dir = tempfile::tempdir().unwrap();
    let run = measure(flowctl_test(dir.path(), "sleep", 3, &["--timeout", "100ms"]));
    eprintln!("sleep: 3 events in {:?}", run.elapsed);
    assert_eq!(run.code, Some(1), "{}", run.stderr);
    for i in 0..3 {
        assert!(run.stderr.contains(&format!("event e{i}: deadline exceeded (100ms)")), "{}", run.stderr);
    }
    // Each 60 s sleep ends at its 100 ms deadline: three events cannot take a
    // minute. The bound is loose on purpose (a busy CI machine); the point is
    // that no sleep runs its course.
    assert!(run.elapsed < Duration::from_secs(20), "took {:?}", run.elapsed);
}

#[test]
fn a_flood_of_log_lines_is_cut_to_the_processor_rate() {
    let dir = tempfile::tempdir().unwrap();
    let run = measure(flowctl_test(dir.path(), "log_flood", 3, &[]));
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    let logged = run.stderr.lines().filter(|l| l.contains("flood line")).count();
    eprintln!("log flood: {logged} of 60000 lines logged in {:?}", run.elapsed);
    // 100 lines of burst plus 100 per second of the run.
    let allowed = 100 + 100 * (run.elapsed.as_secs() as usize + 1);
    assert!(logged >= 1 && logged <= allowed, "{logged} lines logged, at most {allowed} allowed");
}

#[test]
fn floods_of_metric_names_and_log_lines_stay_within_their_caps() {
    let ws = Workspace::new();
    let file = ws.pipeline(&format!(
        r#"
  sources:
    - {{id: in, type: file, config: {{path: in.jsonl, follow: true}}}}
  processors:
    - {{id: names, type: wasm, inputs: [in], wasm: {{module: "{names}", batch_size: 1, pool_size: 1}}}}
    - {{id: noisy, type: wasm, inputs: [in], wasm: {{module: "{noisy}", batch_size: 1, limits: {{log_lines_per_second: 5}}}}}}
  sinks:
    - {{id: out, type: file, inputs: [names, noisy], config: {{path: out.jsonl}}}}
"#,
        names = wat_guest("metric_flood"),
        noisy = wat_guest("log_flood"),
    ));
    std::fs::write(ws.path("in.jsonl"), "").unwrap();
    let live = Live::start(&ws, &file);
    append_events(&ws.path("in.jsonl"), 0..30);
    wait_until("60 outputs", || line_count(&ws, "out.jsonl") == 60);
    let (text, scrape) = live.scrape();
    let guest_series = scrape
        .samples
        .iter()
        .filter(|s| s.metric.starts_with("flowctl_guest_") && s.labels.get("processor") == Some("names"))
        .count();
    assert_eq!(guest_series, 64, "the cap of distinct names");
    let dropped_updates = value(&scrape, "flowctl_dropped_guest_metric_updates_total", &[("processor", "names")]);
    // 30 events x 1,000 names; only updates of the 64 admitted names pass.
    let dropped_updates = dropped_updates.unwrap();
    assert!((29_000.0..30_000.0).contains(&dropped_updates), "{dropped_updates} updates dropped");
    let dropped_lines = value(&scrape, "flowctl_dropped_guest_log_lines_total", &[("processor", "noisy")]).unwrap();
    assert!(dropped_lines > 30.0 * 20_000.0 - 1000.0, "{dropped_lines} lines dropped\n{text}");
    let logged = live.logs().iter().filter(|l| l["fields"]["message"] == "flood line").count();
    assert!(logged < 1000, "{logged} guest lines reached the log");
    live.stop().assert_success();
}
