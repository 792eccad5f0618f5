//! What durable progress costs: file -> passthrough -> file, 1,000,000 events,
//! with checkpoints (tickets, flushes every half interval, a commit per
//! interval) and without, alternated in one run; median of 5 each.
//!
//! `cargo bench --bench progress` (release). Figures in docs/performance.md.

#![allow(clippy::unwrap_used)] // a bench: a failed unwrap is a failed run

use std::io::Write;
use std::path::Path;
use std::time::{Duration, Instant};

use flowctl::actors::{run_pipeline_with, EngineOptions};
use flowctl::runtime::{Runtime, RuntimeSettings};

const EVENTS: usize = 1_000_000;
const ROUNDS: usize = 5;

fn write_input(path: &Path) {
    let mut out = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    for n in 0..EVENTS {
        let pad = "x".repeat(200);
        writeln!(out, r#"{{"id":"e-{n:07}","type":"t","timestamp":1,"data":{{"n":{n},"pad":"{pad}"}}}}"#).unwrap();
    }
}

fn pipeline_file(dir: &Path) -> std::path::PathBuf {
    let module = Path::new(env!("CARGO_MANIFEST_DIR")).join("processors/passthrough.wasm");
    let text = format!(
        r#"apiVersion: flowctl/v1
kind: Pipeline
metadata: {{name: progress-bench}}
spec:
  settings: {{metrics_addr: "127.0.0.1:0", dead_letter: {{type: file, path: dead.jsonl}}, hot_reload: false}}
  sources:
    - {{id: in, type: file, config: {{path: in.jsonl}}}}
  processors:
    - {{id: p, type: wasm, inputs: [in], wasm: {{module: "{}", pool_size: 1, batch_size: 256}}}}
  sinks:
    - {{id: out, type: file, inputs: [p], config: {{path: out.jsonl}}}}
"#,
        module.display()
    );
    let file = dir.join("pipeline.yaml");
    std::fs::write(&file, text).unwrap();
    file
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
    assert_eq!(report.sinks[0].written, EVENTS as u64);
    took
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    let dir = tempfile::tempdir().unwrap();
    write_input(&dir.path().join("in.jsonl"));
    let file = pipeline_file(dir.path());
    let runtime = Runtime::new(RuntimeSettings::default()).unwrap();
    let (mut on, mut off) = (Vec::new(), Vec::new());
    run(dir.path(), &file, &runtime, false); // warm the page cache and the module cache
    for _ in 0..ROUNDS {
        off.push(EVENTS as f64 / run(dir.path(), &file, &runtime, true).as_secs_f64());
        on.push(EVENTS as f64 / run(dir.path(), &file, &runtime, false).as_secs_f64());
    }
    let (on, off) = (median(on), median(off));
    println!("file -> passthrough -> file, {EVENTS} events of ~300 B, median of {ROUNDS}:");
    println!("  without checkpoints: {off:>12.0} events/s");
    println!("  with checkpoints:    {on:>12.0} events/s  (cost {:+.1}%)", (off - on) / off * 100.0);
}
