//! `/metrics` of a real `flowctl run`, scraped over HTTP and parsed with a
//! Prometheus text-format parser: the counts equal what the sinks and the
//! dead-letter file hold, a trapping guest shows in restarts and dead
//! letters, host calls and guest metrics are there, and `promtool check
//! metrics` accepts the text (when promtool is installed; CI installs it).
//! Also: a taken listen address fails the run with the address named.

#![allow(clippy::unwrap_used)] // tests: a failed unwrap is a failed test

mod engine_common;
mod telemetry_common;

use std::process::Command;

use engine_common::*;
use telemetry_common::*;

const EVENTS: u64 = 400;

fn wat(name: &str) -> String {
    format!("{}/tests/guests/{name}.wat", env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn scraped_counts_match_the_sinks_and_dead_letters_and_promtool_accepts_them() {
    let ws = Workspace::new();
    let input = ws.path("in.jsonl");
    append_events(&input, 0..EVENTS);
    let (trap, logger) = (wat("trap_on_odd"), wat("log_and_metric"));
    // A followed file keeps the run alive for the scrape; SIGTERM ends it.
    let file = ws.pipeline(&format!(
        r#"
  settings:
    dead_letter: {{type: file, path: dead.jsonl}}
  sources:
    - {{id: in, type: file, config: {{path: in.jsonl, follow: true}}}}
  processors:
    - id: t
      type: wasm
      inputs: [in]
      wasm: {{module: "{trap}", pool_size: 2, batch_size: 16, max_retries: 1, limits: {{fuel: 1000000}}}}
    - id: g
      type: wasm
      inputs: [in]
      wasm: {{versions: [{{name: v1, module: "{logger}", weight: 100}}], pool_size: 1, batch_size: 32}}
  sinks:
    - {{id: out, type: file, inputs: [t], config: {{path: out.jsonl}}}}
    - {{id: logged, type: file, inputs: [g], config: {{path: logged.jsonl}}}}
"#
    ));
    let live = Live::start(&ws, &file);
    wait_until("every event at a sink or in the dead letters", || {
        line_count(&ws, "out.jsonl") + line_count(&ws, "dead.jsonl") == EVENTS as usize
            && line_count(&ws, "logged.jsonl") == EVENTS as usize
    });
    let (text, scrape) = live.scrape();
    // Kept for `.ci/run`, which lints it with promtool once more.
    let sample = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/metrics-sample.prom");
    std::fs::create_dir_all(sample.parent().unwrap()).unwrap();
    std::fs::write(&sample, &text).unwrap();

    let (sunk, dead) = (line_count(&ws, "out.jsonl") as f64, line_count(&ws, "dead.jsonl") as f64);
    assert_eq!((sunk, dead), (EVENTS as f64 / 2.0, EVENTS as f64 / 2.0), "even ids pass, odd ones trap");
    let m = |name: &str, labels: &[(&str, &str)]| {
        value(&scrape, name, labels).unwrap_or_else(|| panic!("no {name} {labels:?} in:\n{text}"))
    };
    let t = [("pipeline", "test"), ("component", "t")];
    // Source, processor and sink counts agree with each other and with the files.
    assert_eq!(m("flowctl_events_emitted_total", &[("component", "in")]), EVENTS as f64);
    assert_eq!(
        m("flowctl_bytes_in_total", &[("component", "in")]),
        std::fs::metadata(ws.path("in.jsonl")).unwrap().len() as f64
    );
    assert_eq!(m("flowctl_events_received_total", &t), EVENTS as f64);
    assert_eq!(m("flowctl_events_emitted_total", &t), sunk);
    assert_eq!(m("flowctl_events_received_total", &[("component", "out")]), sunk);
    assert_eq!(m("flowctl_events_emitted_total", &[("component", "out")]), sunk);
    assert_eq!(
        m("flowctl_bytes_out_total", &[("component", "out")]),
        std::fs::metadata(ws.path("out.jsonl")).unwrap().len() as f64
    );
    // The trapping guest: dead letters as the file holds them, instances restarted for traps.
    assert_eq!(m("flowctl_events_dead_lettered_total", &[("component", "t"), ("kind", "trap")]), dead);
    assert!(m("flowctl_instance_restarts_total", &[("component", "t"), ("reason", "trap")]) >= dead);
    assert_eq!(m("flowctl_instance_restarts_total", &[("component", "t"), ("reason", "fuel")]), 0.0);
    assert!(m("flowctl_fuel_per_event_count", &t) > 0.0, "fuel is metered on t");
    assert!(m("flowctl_batch_duration_seconds_count", &t) >= EVENTS as f64 / 16.0);
    // The last event traps, so t may end with no live instance; g keeps its instance.
    assert!(m("flowctl_instances_alive", &t) >= 0.0);
    assert!(m("flowctl_instances_alive", &[("component", "g"), ("version", "v1")]) >= 1.0);
    assert!(m("flowctl_instance_memory_bytes", &[("component", "g")]) >= 65536.0, "one page at least");
    assert!(m("flowctl_bytes_in_total", &t) > 0.0 && m("flowctl_bytes_out_total", &t) > 0.0);
    assert_eq!(m("flowctl_queue_depth", &[("component", "t"), ("stage", "pool")]), 0.0, "everything drained");
    // The host-calling guest: every call counted, its gauge exported under the guest prefix.
    let g = [("processor", "g"), ("version", "v1")];
    for function in ["log", "record_metric"] {
        assert_eq!(
            m("flowctl_host_calls_total", &[g[0], g[1], ("function", function), ("result", "ok")]),
            EVENTS as f64
        );
        assert_eq!(m("flowctl_host_calls_total", &[g[0], ("function", function), ("result", "denied")]), 0.0);
    }
    assert_eq!(m("flowctl_guest_events_seen", &[("processor", "g")]), EVENTS as f64, "one instance saw them all");
    assert_eq!(m("flowctl_events_received_total", &[("component", "g"), ("version", "v1")]), EVENTS as f64);
    assert_eq!(m("flowctl_component_ready", &[("component", "t")]), 1.0);
    assert_eq!(m("flowctl_build_info", &[("version", env!("CARGO_PKG_VERSION"))]), 1.0);
    assert!(text.contains("# HELP flowctl_events_received_total "), "described metrics:\n{text}");

    promtool_check(&text);
    live.stop().assert_success();
}

/// `promtool check metrics` (Prometheus's own linter) on a scrape; skipped
/// with a note where promtool is not installed.
fn promtool_check(text: &str) {
    use std::io::Write;
    let child = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn();
    let Ok(mut child) = child else {
        eprintln!("promtool is not installed: skipping `promtool check metrics` (.ci/run installs it)");
        return;
    };
    child.stdin.take().unwrap().write_all(text.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    let said = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success() && said.trim().is_empty(), "promtool check metrics:\n{said}\n---\n{text}");
}

#[test]
fn a_taken_metrics_address_fails_the_run_naming_it() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let ws = Workspace::new();
    // From the pipeline file (no flag), so `settings.metrics_addr` is what is used.
    let file = ws.pipeline(&format!(
        r#"
  settings:
    metrics_addr: {addr}
  sources:
    - {{id: gen, type: generator, config: {{count: 10}}}}
  sinks:
    - {{id: out, type: null, inputs: [gen]}}
"#
    ));
    let out = Command::new(env!("CARGO_BIN_EXE_flowctl")).arg("run").arg(&file).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains(&addr) && stderr.contains("metrics"), "the address is named: {stderr}");
    // The flag overrides the file: the same pipeline runs on a free port.
    let out = Command::new(env!("CARGO_BIN_EXE_flowctl"))
        .args(["run", "--metrics-addr", "127.0.0.1:0"])
        .arg(&file)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
}
