//! `flowctl bench` on the real binary and the real passthrough module:
//! `--json` gives one object with throughput, latency percentiles, fuel per
//! event, peak guest memory and RSS; no progress bar when not on a terminal.

#![allow(clippy::unwrap_used)] // tests: a failed unwrap is a failed test

mod engine_common;

use std::process::Command;

use engine_common::guest;
use serde_json::Value;

fn bench(args: &[&str]) -> (Value, String) {
    let cache = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_flowctl"))
        .arg("bench")
        .arg(guest("passthrough"))
        .args(args)
        .env("XDG_CACHE_HOME", cache.path())
        .output()
        .unwrap();
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr).into_owned());
    assert!(out.status.success(), "flowctl bench failed:\n{stderr}");
    let report =
        serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("stdout is not one JSON object ({e}):\n{stdout}"));
    (report, stderr)
}

fn check_latencies(r: &Value, what: &str) {
    let p = |q: &str| r[what][q].as_f64().unwrap();
    assert!(p("p50") > 0.0 && p("p50") <= p("p99") && p("p99") <= p("max"), "{what}: {r}");
}

#[test]
fn json_report_has_throughput_latency_fuel_memory_and_rss() {
    let (r, stderr) = bench(&["--events", "3000", "--event-size", "200", "--batch", "50", "--pool", "2", "--json"]);
    assert_eq!((r["events"].as_u64(), r["failed_events"].as_u64()), (Some(3000), Some(0)), "{r}");
    assert_eq!((r["batch"].as_u64(), r["pool"].as_u64()), (Some(50), Some(2)));
    assert!(r["events_per_second"].as_f64().unwrap() > 0.0, "{r}");
    check_latencies(&r, "batch_latency_us");
    check_latencies(&r, "event_latency_us");
    assert!(r["batch_latency_us"]["p50"].as_f64() >= r["event_latency_us"]["p50"].as_f64(), "{r}");
    assert!(r["fuel_per_event"].as_f64().unwrap() > 0.0, "measured by a metered pass: {r}");
    assert!(r["peak_guest_memory_bytes"].as_u64().unwrap() >= 65536, "{r}");
    assert!(r["peak_rss_bytes"].as_u64().unwrap() > 1 << 20, "{r}");
    assert!(!stderr.contains("events ("), "no progress bar when stderr is not a terminal:\n{stderr}");
}

#[test]
fn input_events_and_a_fuel_limit_are_used() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in.jsonl");
    std::fs::write(&input, "{\"id\":\"a\",\"data\":{\"x\":1}}\n{\"id\":\"b\",\"data\":{\"x\":2}}\n").unwrap();
    let input = input.display().to_string();
    let (r, _) = bench(&["--events", "500", "--input", &input, "--batch", "10", "--fuel", "10000000", "--json"]);
    assert_eq!((r["events"].as_u64(), r["failed_events"].as_u64()), (Some(500), Some(0)), "{r}");
    let fuel = r["fuel_per_event"].as_f64().unwrap();
    assert!(fuel > 0.0 && fuel < 10_000_000.0, "measured in the metered run, under the limit: {r}");
}
