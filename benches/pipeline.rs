//! End-to-end pipeline bench: generator -> passthrough.wasm -> null.
//!
//! Reports (printed, and criterion's events/s):
//! - end-to-end throughput with pool sizes 1 and 2, next to the runtime's own
//!   batched throughput of the same module on one thread (the issue's target:
//!   end-to-end >= 70% of it);
//! - source-to-sink latency at half the measured maximum rate. Method: a bench
//!   source stamps every event with a monotonic nanosecond clock in
//!   `metadata["bench.sent_ns"]` when it hands it over; a bench sink reads the
//!   clock when the batch reaches it and records each event's difference in an
//!   HDR histogram. So latency covers queueing, batching (batch_timeout),
//!   WASM, reordering and delivery, not the sink's I/O;
//! - RSS after the first and the last million events of a long run.
//!
//! Needs `processors/passthrough.wasm` (scripts/build-processors.sh).

#![allow(clippy::unwrap_used)]

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use criterion::{criterion_group, Criterion, Throughput};
use flowctl::actors::{run_pipeline, run_pipeline_with, EngineOptions, RunReport};
use flowctl::config::{GeneratorConfig, GeneratorProfile, Pipeline};
use flowctl::connectors::generator::Generator;
use flowctl::connectors::{ConnectorError, Sink, Source};
use flowctl::runtime::{InstanceSlot, ProcessorSpec, Runtime, RuntimeSettings};
use flowctl::Event;
use hdrhistogram::Histogram;

/// The allocator `flowctl` itself runs with (src/main.rs), so figures match the binary.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const EVENTS: u64 = 200_000;
const BATCH: usize = 128;
const SENT_NS: &str = "bench.sent_ns";

fn module() -> PathBuf {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("processors/passthrough.wasm");
    assert!(path.exists(), "{} is missing: run scripts/build-processors.sh first", path.display());
    path
}

fn pipeline(source: &str, pool: usize, batch: usize, timeout: &str) -> Pipeline {
    let text = format!(
        r#"apiVersion: flowctl/v1
kind: Pipeline
metadata: {{name: bench}}
spec:
  settings: {{dead_letter: {{type: stderr}}}}
  sources: [{{id: gen, type: generator, config: {source}}}]
  processors:
    - {{id: p, type: wasm, inputs: [gen], wasm: {{module: "{}", pool_size: {pool}, batch_size: {batch}, batch_timeout: {timeout}}}}}
  sinks: [{{id: out, type: null, inputs: [p]}}]
"#,
        module().display()
    );
    flowctl::config::parse_str(&text, Path::new("/tmp/bench.yaml")).unwrap()
}

fn run(pipeline: Pipeline, runtime: &Runtime, options: EngineOptions) -> RunReport {
    let system = actix::System::new();
    let runtime = runtime.clone();
    system.block_on(run_pipeline_with(pipeline, runtime, options, std::future::pending())).unwrap()
}

/// Seconds for `EVENTS` generated events through the whole pipeline.
fn end_to_end(runtime: &Runtime, pool: usize) -> Duration {
    let p = pipeline(&format!("{{count: {EVENTS}}}"), pool, BATCH, "5ms");
    let start = Instant::now();
    let system = actix::System::new();
    let report = system.block_on(run_pipeline(p, runtime.clone(), std::future::pending())).unwrap();
    let elapsed = start.elapsed();
    assert_eq!(report.sinks[0].written, EVENTS);
    elapsed
}

/// Events/s of `InstanceSlot::process` on batches of the same events, one thread.
fn runtime_batched(runtime: &Runtime) -> f64 {
    let module = runtime.load_file(&module(), ProcessorSpec::named("p")).unwrap();
    let mut slot = InstanceSlot::new(module);
    let config = GeneratorConfig {
        profile: GeneratorProfile::Simple,
        count: Some(EVENTS),
        rate: None,
        event_size: 256,
        seed: 1,
    };
    let mut generator = Generator::new("gen", &config);
    let mut batches = Vec::new();
    loop {
        let mut batch = Vec::new();
        let more = generator.poll_batch(&mut batch, BATCH).unwrap();
        batches.push(batch);
        if !more {
            break;
        }
    }
    let start = Instant::now();
    for batch in &batches {
        std::hint::black_box(slot.process(batch));
    }
    EVENTS as f64 / start.elapsed().as_secs_f64()
}

fn clock_ns() -> u64 {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    EPOCH.get_or_init(Instant::now).elapsed().as_nanos() as u64
}

/// Emits `count` stamped events at `rate` per second (`None`: as fast as accepted).
struct StampedSource {
    next: u64,
    count: u64,
    rate: Option<f64>,
    start: Option<Instant>,
    data: serde_json::Value,
}

impl Source for StampedSource {
    fn poll_batch(&mut self, out: &mut Vec<Event>, max: usize) -> Result<bool, ConnectorError> {
        let start = *self.start.get_or_insert_with(Instant::now);
        let mut want = (self.count - self.next).min(max as u64);
        if let Some(rate) = self.rate {
            loop {
                let due = (start.elapsed().as_secs_f64() * rate) as u64;
                if due > self.next {
                    want = want.min(due - self.next);
                    break;
                }
                std::thread::sleep(Duration::from_micros(20));
            }
        }
        for _ in 0..want {
            let e = Event::new(format!("b-{}", self.next), "bench.v1", 0, self.data.clone())
                .with_metadata(SENT_NS, &clock_ns().to_string());
            out.push(e);
            self.next += 1;
        }
        Ok(self.next < self.count)
    }
}

/// Records each event's latency since its stamp, and RSS every million events.
struct LatencySink {
    histogram: Arc<Mutex<Histogram<u64>>>,
    seen: u64,
    rss: Arc<Mutex<Vec<(u64, u64)>>>,
}

impl Sink for LatencySink {
    fn write(&mut self, events: &[Event]) -> Result<(), ConnectorError> {
        let now = clock_ns();
        let mut h = self.histogram.lock().unwrap();
        for e in events {
            if let Some(sent) = e.metadata_map().get(SENT_NS).and_then(|s| s.parse::<u64>().ok()) {
                let _ = h.record(now.saturating_sub(sent).max(1));
            }
            self.seen += 1;
            if self.seen.is_multiple_of(1_000_000) {
                self.rss.lock().unwrap().push((self.seen, rss_kib()));
            }
        }
        Ok(())
    }

    fn flush(&mut self) -> Result<(), ConnectorError> {
        Ok(())
    }
}

fn rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        .unwrap_or(0)
}

struct Stamped {
    histogram: Histogram<u64>,
    rss: Vec<(u64, u64)>,
    elapsed: Duration,
}

fn stamped_run(runtime: &Runtime, count: u64, rate: Option<f64>, pool: usize, batch: usize, timeout: &str) -> Stamped {
    let histogram = Arc::new(Mutex::new(Histogram::new(3).unwrap()));
    let rss = Arc::new(Mutex::new(Vec::new()));
    let data = serde_json::json!({"user": "user-0042", "amount": 12.5, "payload": "x".repeat(160)});
    let source = StampedSource { next: 0, count, rate, start: None, data };
    let sink = LatencySink { histogram: histogram.clone(), seen: 0, rss: rss.clone() };
    let options = EngineOptions {
        sources: HashMap::from([("gen".to_string(), Box::new(source) as Box<dyn Source>)]),
        sinks: HashMap::from([("out".to_string(), Box::new(sink) as Box<dyn Sink>)]),
        ..EngineOptions::default()
    };
    let start = Instant::now();
    let report = run(pipeline("{count: 1}", pool, batch, timeout), runtime, options);
    let elapsed = start.elapsed();
    assert_eq!(report.sinks[0].written, count);
    let histogram = histogram.lock().unwrap().clone();
    let rss = rss.lock().unwrap().clone();
    Stamped { histogram, rss, elapsed }
}

fn bench(c: &mut Criterion) {
    let runtime = Runtime::new(RuntimeSettings::default()).unwrap();
    let mut group = c.benchmark_group("pipeline");
    group.sample_size(10).throughput(Throughput::Elements(EVENTS));
    for pool in [1, 2] {
        group.bench_function(format!("generator-passthrough-null/pool{pool}"), |b| {
            b.iter_custom(|iters| (0..iters).map(|_| end_to_end(&runtime, pool)).sum())
        });
    }
    group.finish();
}

/// The figures `docs/performance.md` records, printed before criterion runs
/// (`cargo bench --bench pipeline -- none` prints only these).
fn figures() {
    let runtime = Runtime::new(RuntimeSettings::default()).unwrap();
    let baseline = runtime_batched(&runtime);
    let e2e_1 = EVENTS as f64 / end_to_end(&runtime, 1).as_secs_f64();
    let e2e_2 = EVENTS as f64 / end_to_end(&runtime, 2).as_secs_f64();
    println!("runtime batched (1 thread, batch {BATCH}): {baseline:.0} events/s");
    println!("end-to-end pool 1: {e2e_1:.0} events/s ({:.0}% of runtime)", 100.0 * e2e_1 / baseline);
    println!("end-to-end pool 2: {e2e_2:.0} events/s ({:.0}% of runtime)", 100.0 * e2e_2 / baseline);

    for (pool, batch, timeout) in [(2, BATCH, "5ms"), (2, 32, "1ms"), (1, 32, "1ms")] {
        let max = stamped_run(&runtime, 500_000, None, pool, batch, timeout);
        let max_rate = 500_000.0 / max.elapsed.as_secs_f64();
        let half = max_rate / 2.0;
        let lat = stamped_run(&runtime, (half * 5.0) as u64, Some(half), pool, batch, timeout);
        let us = |q: f64| lat.histogram.value_at_quantile(q) as f64 / 1000.0;
        println!(
            "pool {pool}, batch {batch}/{timeout}: max {max_rate:.0} events/s; at half ({half:.0}/s): p50 {:.0} us, p99 {:.0} us, p99.9 {:.0} us, max {:.0} us",
            us(0.5),
            us(0.99),
            us(0.999),
            lat.histogram.max() as f64 / 1000.0
        );
    }

    metrics_cost(&runtime);

    let long = stamped_run(&runtime, 5_000_000, None, 2, BATCH, "5ms");
    if let (Some(first), Some(last)) = (long.rss.first(), long.rss.last()) {
        println!(
            "RSS at {} events: {} KiB, at {} events: {} KiB ({:+.1}%)",
            first.0,
            first.1,
            last.0,
            last.1,
            100.0 * (last.1 as f64 - first.1 as f64) / first.1 as f64
        );
    }
}

/// End-to-end throughput without a metrics recorder (every `metrics` call a
/// no-op), then with flowctl's Prometheus recorder installed; best of three
/// runs each. Runs last among the figures that need metrics off, since a
/// recorder cannot be uninstalled.
fn metrics_cost(runtime: &Runtime) {
    let best =
        |runtime: &Runtime| (0..3).map(|_| EVENTS as f64 / end_to_end(runtime, 2).as_secs_f64()).fold(0.0, f64::max);
    let off = best(runtime);
    flowctl::telemetry::exporter::install().unwrap();
    let on = best(runtime);
    println!("metrics off: {off:.0} events/s, on: {on:.0} events/s ({:+.1}%)", 100.0 * (on - off) / off);
}

criterion_group!(benches, bench);

fn main() {
    // `cargo bench` passes --bench; `cargo test --benches` does not, and
    // criterion then runs each bench once as a check: the figures are for benches only.
    if std::env::args().any(|a| a == "--bench") {
        figures();
    }
    benches();
    Criterion::default().configure_from_args().final_summary();
}
