//! NATS JetStream scale-out: source nats -> passthrough -> sink nats, with a
//! real `nats-server -js` on loopback (`scripts/nats-server.sh` installs it).
//! 1 and then 2 `flowctl run` processes (the release binary) share one
//! durable consumer; the figure is events/s from their start until the sink
//! stream holds every event.
//!
//! `cargo bench --bench nats` (release). Figures in docs/performance.md.

#![allow(clippy::unwrap_used)] // a bench: a failed unwrap is a failed run

#[path = "../tests/nats_common/mod.rs"]
mod nats_common;

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use nats_common::NatsServer;

/// Full size under `cargo bench`; a quick check under `cargo test --benches`.
fn full() -> bool {
    std::env::args().any(|a| a == "--bench")
}

fn events() -> usize {
    if full() {
        300_000
    } else {
        5_000
    }
}

fn rounds() -> usize {
    if full() {
        3
    } else {
        1
    }
}

fn pipeline(dir: &Path, url: &str, round: &str) -> std::path::PathBuf {
    let module = Path::new(env!("CARGO_MANIFEST_DIR")).join("processors/passthrough.wasm");
    let text = format!(
        r#"apiVersion: flowctl/v1
kind: Pipeline
metadata: {{name: nats-bench}}
spec:
  settings: {{metrics_addr: "127.0.0.1:0", hot_reload: false}}
  sources:
    - id: in
      type: nats
      config: {{url: "{url}", stream: IN{round}, subject: in{round}.events, durable: work}}
  processors:
    - {{id: p, type: wasm, inputs: [in], wasm: {{module: "{}", batch_size: 256}}}}
  sinks:
    - {{id: out, type: nats, inputs: [p], config: {{url: "{url}", stream: OUT{round}, subject: out{round}.events}}}}
"#,
        module.display()
    );
    let file = dir.join("pipeline.yaml");
    std::fs::write(&file, text).unwrap();
    file
}

fn spawn(file: &Path) -> Child {
    Command::new(env!("CARGO_BIN_EXE_flowctl"))
        .args(["--log-level", "warn", "run"])
        .arg(file)
        .current_dir(file.parent().unwrap())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

/// CPU seconds (user + system) process `pid` used so far, from /proc.
fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let fields: Vec<&str> = stat.rsplit_once(')').map_or("", |(_, rest)| rest).split_whitespace().collect();
    let ticks: f64 = fields.get(11..13).map_or(0.0, |f| f.iter().filter_map(|t| t.parse::<f64>().ok()).sum());
    // SAFETY: sysconf with a valid name.
    ticks / unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64
}

/// What one run measured.
struct Run {
    events_per_second: f64,
    /// CPU seconds the replicas used.
    flowctl_cpu: f64,
    /// CPU seconds `nats-server` used meanwhile.
    server_cpu: f64,
}

/// `replicas` processes draining `events()` from a fresh stream.
fn run(nats: &NatsServer, replicas: usize, round: &str) -> Run {
    let payloads = (0..events())
        .map(|n| {
            format!(r#"{{"id":"e-{n:07}","type":"t","timestamp":1,"data":{{"n":{n},"pad":"{}"}}}}"#, "x".repeat(200))
                .into_bytes()
        })
        .collect();
    nats.publish(&format!("IN{round}"), &format!("in{round}.events"), payloads);
    let dirs: Vec<tempfile::TempDir> = (0..replicas).map(|_| tempfile::tempdir().unwrap()).collect();
    let files: Vec<_> = dirs.iter().map(|d| pipeline(d.path(), &nats.url, round)).collect();
    let server_before = cpu_seconds(nats.pid());
    let start = Instant::now();
    let mut children: Vec<Child> = files.iter().map(|f| spawn(f)).collect();
    assert!(nats.wait_for_count(&format!("OUT{round}"), events() as u64, Duration::from_secs(300)), "never finished");
    let took = start.elapsed();
    let flowctl_cpu: f64 = children.iter().map(|c| cpu_seconds(c.id())).sum();
    let server_cpu = cpu_seconds(nats.pid()) - server_before;
    for child in &mut children {
        let _ = child.kill();
        let _ = child.wait();
    }
    Run { events_per_second: events() as f64 / took.as_secs_f64(), flowctl_cpu, server_cpu }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    let nats = NatsServer::start();
    let (mut one, mut two, mut flowctl_us, mut server_us) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let per_event_us = |cpu: f64| cpu / events() as f64 * 1e6;
    for round in 0..rounds() {
        let alone = run(&nats, 1, &format!("A{round}"));
        one.push(alone.events_per_second);
        flowctl_us.push(per_event_us(alone.flowctl_cpu));
        server_us.push(per_event_us(alone.server_cpu));
        two.push(run(&nats, 2, &format!("B{round}")).events_per_second);
    }
    let (flowctl_us, server_us) = (median(flowctl_us), median(server_us));
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get()) as f64;
    println!("nats source -> passthrough -> nats sink, {} events of ~300 B, median of {}:", events(), rounds());
    println!("  1 process:   {:>10.0} events/s", median(one));
    println!("  2 processes: {:>10.0} events/s  (one durable consumer, this machine)", median(two));
    println!("  CPU per event, 1 process: flowctl {flowctl_us:.1} us, nats-server {server_us:.1} us");
    println!(
        "  ceiling of {cores} cores at that cost: {:.0} events/s; with a flowctl that cost nothing: {:.0}",
        cores * 1e6 / (flowctl_us + server_us),
        cores * 1e6 / server_us
    );
}
