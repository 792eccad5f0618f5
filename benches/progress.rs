//! What durable progress costs: file -> passthrough -> file, 1,000,000 events,
//! with checkpoints (tickets, flushes every half interval, a commit per
//! interval) and without, alternated in one run; median of 5 each.
//!
//! And what processor state costs per event: `state_get` + `state_set`; and
//! what a stateful processor (`count`) gains from a second worker when its
//! events are split into lanes by key (`pool_size: 2`, `route_by`).
//!
//! `cargo bench --bench progress` (release). Figures in docs/performance.md.

#![allow(clippy::unwrap_used)] // a bench: a failed unwrap is a failed run

use std::io::Write;
use std::path::Path;
use std::time::{Duration, Instant};

use flowctl::actors::{run_pipeline_with, EngineOptions};
use flowctl::event::Event;
use flowctl::runtime::{ProcessorSpec, Runtime, RuntimeSettings};

/// Full size under `cargo bench`; a quick check under `cargo test --benches`.
fn full() -> bool {
    std::env::args().any(|a| a == "--bench")
}

fn events() -> usize {
    if full() {
        1_000_000
    } else {
        20_000
    }
}

fn rounds() -> usize {
    if full() {
        5
    } else {
        1
    }
}

fn write_input(path: &Path) {
    let mut out = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    for n in 0..events() {
        let pad = "x".repeat(200);
        let user = n % 1000;
        writeln!(
            out,
            r#"{{"id":"e-{n:07}","type":"t","timestamp":1,"data":{{"n":{n},"user":"u{user}","pad":"{pad}"}}}}"#
        )
        .unwrap();
    }
}

/// file -> one processor -> file; `processor` is its YAML mapping after `id`, `type` and `inputs`.
fn pipeline_file(dir: &Path, name: &str, processor: &str) -> std::path::PathBuf {
    let text = format!(
        r#"apiVersion: flowctl/v1
kind: Pipeline
metadata: {{name: progress-bench}}
spec:
  settings: {{metrics_addr: "127.0.0.1:0", dead_letter: {{type: file, path: dead.jsonl}}, hot_reload: false}}
  sources:
    - {{id: in, type: file, config: {{path: in.jsonl}}}}
  processors:
    - {{id: p, type: wasm, inputs: [in], {processor}}}
  sinks:
    - {{id: out, type: file, inputs: [p], config: {{path: out.jsonl}}}}
"#
    );
    let file = dir.join(format!("{name}.yaml"));
    std::fs::write(&file, text).unwrap();
    file
}

fn module(name: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("processors/{name}.wasm")).display().to_string()
}

/// One cold run of the pipeline, from the beginning, into an empty output.
fn run(dir: &Path, file: &Path, runtime: &Runtime, without_checkpoints: bool) -> Duration {
    let _ = std::fs::remove_file(dir.join("out.jsonl"));
    let pipeline = flowctl::config::load(file).unwrap();
    let options = EngineOptions { from_start: true, without_checkpoints, ..EngineOptions::default() };
    let system = actix::System::new();
    let start = Instant::now();
    let report =
        system.block_on(run_pipeline_with(pipeline, runtime.clone(), options, std::future::pending())).unwrap();
    let took = start.elapsed();
    assert_eq!(report.sinks[0].written, events() as u64);
    took
}

/// Per-event cost of `state_get` + `state_set`: the same echo guest with and
/// without the two calls, event by event, state in memory and (durable) with
/// pending writes held for checkpoints.
fn state_cost() {
    let runtime = Runtime::new(RuntimeSettings::default()).unwrap();
    let guests = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/guests");
    let events: Vec<Event> = (0..events() / 10)
        .map(|n| Event::new(format!("{n:010}"), "t", 1, serde_json::json!({"n": n, "pad": "x".repeat(200)})))
        .collect();
    let per_event = |file: &str, durable: bool| {
        let mut spec = ProcessorSpec::named(if durable { "durable" } else { file });
        spec.permissions.state = true;
        let module = runtime.load_file(&guests.join(file), spec).unwrap();
        if let (true, Some(state)) = (durable, runtime.processor_state("durable")) {
            state.load(Vec::new());
        }
        let mut instance = module.instantiate().unwrap();
        let mut best = f64::MAX;
        for _ in 0..rounds() {
            let start = Instant::now();
            for event in &events {
                instance.process_event(event).unwrap();
            }
            best = best.min(start.elapsed().as_secs_f64() * 1e9 / events.len() as f64);
        }
        best
    };
    let (echo, memory, durable) =
        (per_event("echo.wat", false), per_event("state_counter.wat", false), per_event("state_counter.wat", true));
    println!("state_get + state_set per event (best of {} x {} events, one at a time):", rounds(), events.len());
    println!("  echo guest:                 {echo:>8.0} ns/event");
    println!("  + get and set, in memory:   {memory:>8.0} ns/event  (+{:.2} us)", (memory - echo) / 1000.0);
    println!("  + get and set, durable:     {durable:>8.0} ns/event  (+{:.2} us)", (durable - echo) / 1000.0);
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    state_cost();
    let dir = tempfile::tempdir().unwrap();
    write_input(&dir.path().join("in.jsonl"));
    let passthrough = format!("wasm: {{module: \"{}\", pool_size: 1, batch_size: 256}}", module("passthrough"));
    let file = pipeline_file(dir.path(), "passthrough", &passthrough);
    let runtime = Runtime::new(RuntimeSettings::default()).unwrap();
    let (mut on, mut off) = (Vec::new(), Vec::new());
    run(dir.path(), &file, &runtime, false); // warm the page cache and the module cache
    for _ in 0..rounds() {
        off.push(events() as f64 / run(dir.path(), &file, &runtime, true).as_secs_f64());
        on.push(events() as f64 / run(dir.path(), &file, &runtime, false).as_secs_f64());
    }
    let (on, off) = (median(on), median(off));
    println!("file -> passthrough -> file, {} events of ~300 B, median of {}:", events(), rounds());
    println!("  without checkpoints: {off:>12.0} events/s");
    println!("  with checkpoints:    {on:>12.0} events/s  (cost {:+.1}%)", (off - on) / off * 100.0);

    let count = |pool: &str| {
        let wasm = format!("module: \"{}\", batch_size: 256, permissions: {{state: true}}, {pool}", module("count"));
        format!("config: {{key: data.user}}, wasm: {{{wasm}}}")
    };
    let one = pipeline_file(dir.path(), "count-1", &count("pool_size: 1"));
    let two = pipeline_file(dir.path(), "count-2", &count("pool_size: 2, route_by: data.user"));
    let (mut lane, mut lanes) = (Vec::new(), Vec::new());
    for _ in 0..rounds() {
        lane.push(events() as f64 / run(dir.path(), &one, &runtime, false).as_secs_f64());
        lanes.push(events() as f64 / run(dir.path(), &two, &runtime, false).as_secs_f64());
    }
    let (lane, lanes) = (median(lane), median(lanes));
    println!("file -> count (1,000 users) -> file, with checkpoints, median of {}:", rounds());
    println!("  pool_size 1:                    {lane:>12.0} events/s");
    println!("  pool_size 2, 2 lanes by user:   {lanes:>12.0} events/s  ({:.2}x)", lanes / lane);
}
