//! Runtime benches: the cost of running a processor in the sandbox, next to
//! the same logic compiled natively (the WASM/native ratio is the figure that
//! matters) and to the engine's own call path around it, plus cold start, the
//! cost of epoch deadlines, what reading an event from its JSON costs a
//! source (file, NATS, gRPC), and what the built-in generator pays to make one.
//!
//! Needs `processors/{passthrough,ttp}.wasm` (scripts/build-processors.sh) and
//! a release `flowctl` for the process cold start (`cargo build --release`;
//! skipped with a note when absent).
//!
//! ```text
//! cargo bench --bench runtime                  # everything
//! cargo bench --bench runtime -- passthrough   # one group
//! ```
//! Figures and the machine they were measured on: docs/performance.md.

#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use flowctl::config::{GeneratorConfig, GeneratorProfile};
use flowctl::connectors::generator::Generator;
use flowctl::connectors::Source;
use flowctl::runtime::{InstanceSlot, ProcessorSpec, Runtime, RuntimeSettings};
use flowctl::Event;
use flowctl_sdk::Processor;

/// The allocator `flowctl` itself runs with (src/main.rs), so figures match the binary.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const BATCH: usize = 256;

fn module_path(name: &str) -> PathBuf {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("processors").join(format!("{name}.wasm"));
    assert!(path.exists(), "{} is missing: run scripts/build-processors.sh first", path.display());
    path
}

/// `BATCH` generated events of `profile`.
fn events(profile: GeneratorProfile, event_size: usize) -> Vec<Event> {
    let config = GeneratorConfig { profile, count: Some(BATCH as u64), rate: None, event_size, seed: 1 };
    let mut generator = Generator::new("bench", &config);
    let mut out = Vec::new();
    while generator.poll_batch(&mut out, BATCH).unwrap() {}
    out
}

/// The same processor compiled natively, on the same JSON text: exactly the
/// guest's code path (`Processor::process_json`) without the sandbox.
fn native<P: Processor>(processor: &mut P, wire: &[Vec<u8>]) -> usize {
    let mut out = Vec::with_capacity(64 * 1024);
    for json in wire {
        processor.process_json(json, &mut out).unwrap();
    }
    out.len()
}

fn compare<P: Processor>(c: &mut Criterion, runtime: &Runtime, name: &str, input: &[Event], mut processor: P) {
    let module = runtime.load_file(&module_path(name), ProcessorSpec::named(name)).unwrap();
    let mut instance = module.instantiate().unwrap();
    let wire: Vec<Vec<u8>> = input.iter().map(Event::to_json).collect();
    let mean_size = wire.iter().map(Vec::len).sum::<usize>() / wire.len();

    let mut group = c.benchmark_group(format!("{name} ({mean_size} B events)"));
    group.throughput(Throughput::Elements(input.len() as u64));
    group.bench_function("wasm batched", |b| b.iter(|| instance.process_batch(input).unwrap()));
    group.bench_function("wasm per event", |b| {
        b.iter(|| input.iter().map(|e| instance.process_event(e).unwrap().len()).sum::<usize>())
    });
    // The same calls through the engine's own path (what its workers and
    // `flowctl bench --batch 1` run): the retry policy, usage and quota
    // bookkeeping, a results vector per call.
    let mut slot = InstanceSlot::new(module.clone());
    group.bench_function("engine per event", |b| {
        b.iter(|| input.chunks(1).map(|e| slot.process(e).len()).sum::<usize>())
    });
    group.bench_function("native", |b| b.iter(|| native(&mut processor, &wire)));
    group.finish();
}

fn processors(c: &mut Criterion) {
    let runtime = Runtime::new(RuntimeSettings::default()).unwrap();
    let simple = events(GeneratorProfile::Simple, 300);
    compare(c, &runtime, "passthrough", &simple, passthrough::Passthrough);
    let stellar = events(GeneratorProfile::Stellar, 0);
    compare(c, &runtime, "ttp", &stellar, ttp::Ttp::new(Default::default()).unwrap());
}

/// `Event::from_bytes` over the JSON of the processors' events: how a JSONL
/// file, NATS or gRPC source reads each event it receives.
fn reading(c: &mut Criterion) {
    for events in [events(GeneratorProfile::Simple, 300), events(GeneratorProfile::Stellar, 0)] {
        let wire: Vec<bytes::Bytes> = events.iter().map(|e| e.to_json().into()).collect();
        let mean_size = wire.iter().map(|w| w.len()).sum::<usize>() / wire.len();
        let mut group = c.benchmark_group(format!("event read ({mean_size} B events)"));
        group.throughput(Throughput::Elements(wire.len() as u64));
        group.bench_function("from_bytes", |b| {
            b.iter(|| wire.iter().map(|json| Event::from_bytes(json.clone()).unwrap().timestamp()).sum::<i64>())
        });
        group.finish();
    }
}

/// The built-in generator making 300 B `simple` events, 256 a call, and
/// dropping them: what a generated event costs the source's thread alone,
/// a ceiling on every generated end-to-end figure (`scripts/bench-e2e.sh`,
/// `cargo bench --bench pipeline`), whatever the processors cost.
fn generating(c: &mut Criterion) {
    let config =
        GeneratorConfig { profile: GeneratorProfile::Simple, count: None, rate: None, event_size: 300, seed: 1 };
    let mut generator = Generator::new("bench", &config);
    let mut out = Vec::with_capacity(BATCH);
    let mut group = c.benchmark_group("event make (300 B events)");
    group.throughput(Throughput::Elements(BATCH as u64));
    group.bench_function("generator", |b| {
        b.iter(|| {
            out.clear();
            generator.poll_batch(&mut out, BATCH).unwrap();
            out.len()
        })
    });
    group.finish();
}

/// Module ready (cached artifact loaded, `init` run) and instance creation, in
/// process; then a whole process from exec to its first output event.
fn cold_start(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let settings = RuntimeSettings { cache_dir: Some(dir.path().to_path_buf()), ..RuntimeSettings::default() };
    let runtime = Runtime::new(settings).unwrap();
    let path = module_path("passthrough");
    runtime.load_file(&path, ProcessorSpec::named("passthrough")).unwrap(); // fills the disk cache
    let mut group = c.benchmark_group("cold start");
    group.bench_function("module ready from disk cache", |b| {
        // A fresh Runtime each time, so nothing is served from memory.
        b.iter_batched(
            || {
                Runtime::new(RuntimeSettings {
                    cache_dir: Some(dir.path().to_path_buf()),
                    ..RuntimeSettings::default()
                })
            },
            |runtime| runtime.unwrap().load_file(&path, ProcessorSpec::named("passthrough")).unwrap(),
            BatchSize::PerIteration,
        )
    });
    let module = runtime.load_file(&path, ProcessorSpec::named("passthrough")).unwrap();
    group.bench_function("instantiate", |b| b.iter(|| module.instantiate().unwrap()));
    idle_instance_rss(&module);

    let binary = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/release/flowctl");
    if binary.exists() {
        let input = dir.path().join("one.jsonl");
        std::fs::write(&input, events(GeneratorProfile::Simple, 300)[0].to_json()).unwrap();
        group.sample_size(20).measurement_time(Duration::from_secs(5));
        group.bench_function("process start to first event out", |b| {
            b.iter_custom(|iters| {
                let start = Instant::now();
                for _ in 0..iters {
                    let out = Command::new(&binary).arg("test").arg(&path).arg("--input").arg(&input).output().unwrap();
                    assert!(out.status.success() && !out.stdout.is_empty());
                }
                start.elapsed()
            })
        });
    } else {
        eprintln!("note: {} not built; skipping the process cold start", binary.display());
    }
    group.finish();
}

/// Resident memory of an idle instance (one event processed, then parked, as
/// in a pool): the RSS growth of holding 200 of them, divided. Printed, since
/// criterion measures time only.
fn idle_instance_rss(module: &std::sync::Arc<flowctl::runtime::LoadedModule>) {
    const COUNT: usize = 200;
    let event = events(GeneratorProfile::Simple, 300).remove(0);
    let before = rss_bytes();
    let instances: Vec<_> = (0..COUNT)
        .map(|_| {
            let mut instance = module.instantiate().unwrap();
            instance.process_event(&event).unwrap();
            instance
        })
        .collect();
    let per_instance = rss_bytes().saturating_sub(before) / COUNT as u64;
    eprintln!("idle instance RSS: {:.2} MiB each ({COUNT} instances)", per_instance as f64 / (1 << 20) as f64);
    drop(instances);
}

fn rss_bytes() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: u64 = statm.split_whitespace().nth(1).and_then(|p| p.parse().ok()).unwrap_or(0);
    pages * 4096
}

/// A compute-bound guest with and without epoch interruption, on raw
/// wasmtime: what the always-on deadline costs per call.
fn epoch_overhead(c: &mut Criterion) {
    const SPIN: &str = r#"(module (func (export "spin") (param $n i32) (result i32) (local $acc i32)
        (loop $l (local.set $acc (i32.add (local.get $acc) (i32.mul (local.get $n) (i32.const 31))))
                 (local.set $n (i32.sub (local.get $n) (i32.const 1)))
                 (br_if $l (i32.gt_s (local.get $n) (i32.const 0))))
        (local.get $acc)))"#;
    let mut group = c.benchmark_group("epoch deadline");
    for epochs in [false, true] {
        let mut config = wasmtime::Config::new();
        config.epoch_interruption(epochs);
        let engine = wasmtime::Engine::new(&config).unwrap();
        let module = wasmtime::Module::new(&engine, SPIN).unwrap();
        let mut store = wasmtime::Store::new(&engine, ());
        if epochs {
            store.set_epoch_deadline(1_000_000);
        }
        let instance = wasmtime::Instance::new(&mut store, &module, &[]).unwrap();
        let spin = instance.get_typed_func::<i32, i32>(&mut store, "spin").unwrap();
        let label = if epochs { "on" } else { "off" };
        group.bench_function(format!("1M-iteration loop, epochs {label}"), |b| {
            b.iter(|| spin.call(&mut store, 1_000_000).unwrap())
        });
    }
    // The same on a real processor: ttp's process_batch over 256 transactions.
    let input = {
        let mut buf = b"[".to_vec();
        for (i, event) in events(GeneratorProfile::Stellar, 0).iter().enumerate() {
            if i > 0 {
                buf.push(b',');
            }
            buf.extend(event.to_json());
        }
        buf.push(b']');
        buf
    };
    let wasm = std::fs::read(module_path("ttp")).unwrap();
    for epochs in [false, true] {
        let mut config = wasmtime::Config::new();
        config.epoch_interruption(epochs);
        let engine = wasmtime::Engine::new(&config).unwrap();
        let module = wasmtime::Module::new(&engine, &wasm).unwrap();
        let mut store = wasmtime::Store::new(&engine, ());
        if epochs {
            store.set_epoch_deadline(1_000_000);
        }
        let instance = wasmtime::Instance::new(&mut store, &module, &[]).unwrap();
        let memory = instance.get_memory(&mut store, "memory").unwrap();
        let allocate = instance.get_typed_func::<i32, i32>(&mut store, "allocate").unwrap();
        let free = instance.get_typed_func::<(i32, i32), ()>(&mut store, "free").unwrap();
        let batch = instance.get_typed_func::<(i32, i32), i64>(&mut store, "process_batch").unwrap();
        let label = if epochs { "on" } else { "off" };
        group.throughput(Throughput::Elements(BATCH as u64));
        group.bench_function(format!("ttp process_batch, epochs {label}"), |b| {
            b.iter(|| {
                let len = input.len() as i32;
                let ptr = allocate.call(&mut store, len).unwrap();
                memory.write(&mut store, ptr as usize, &input).unwrap();
                let packed = batch.call(&mut store, (ptr, len)).unwrap();
                free.call(&mut store, (ptr, len)).unwrap();
                let (out, out_len) = ((packed >> 32) as i32, (packed & 0xffff_ffff) as i32);
                free.call(&mut store, (out, out_len)).unwrap();
                out_len
            })
        });
    }
    group.finish();
}

criterion_group!(benches, processors, reading, generating, cold_start, epoch_overhead);
criterion_main!(benches);
