//! `flowctl bench MODULE`: throughput and latency of one module outside a
//! pipeline, on `--pool` threads each with its own instance and its share of
//! the batches (slices of one sample made before the clock starts, see
//! [`batches`]) and an instance warmed up by up to [`WARMUP_EVENTS`] untimed
//! events, as criterion and the peers' hosts time a warm instance: a short
//! run would otherwise measure the guest memory's first page faults and the
//! allocator's first pages. Fuel per event
//! comes from the timed run when `--fuel` meters it, else from a separate
//! metered pass over the first events, so metering never slows the timed run.

mod batches;
mod report;

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::{Arc, Barrier};
use std::time::Instant;

use anyhow::Context;
use hdrhistogram::Histogram;
use indicatif::{ProgressBar, ProgressStyle};

use super::module_opts::ModuleOptions;
use crate::config::{GeneratorConfig, GeneratorProfile, SourceKind, SourceSpec};
use crate::event::Event;
use crate::runtime::{InstanceSlot, LoadedModule, Runtime, RuntimeSettings};
use batches::BatchStream;
use report::{print_table, BenchReport, Percentiles, StartCost};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The module to measure (.wasm or .wat).
    pub module: PathBuf,
    /// How many events to process.
    #[arg(long, default_value_t = 100_000)]
    pub events: u64,
    /// Size of each synthetic event in bytes.
    #[arg(long, default_value_t = 256, conflicts_with = "input")]
    pub event_size: usize,
    /// Use these events (JSONL) instead, cycling through them.
    #[arg(long)]
    pub input: Option<PathBuf>,
    /// Events per guest call.
    #[arg(long, default_value_t = 128)]
    pub batch: usize,
    /// Worker threads, each with its own instance.
    #[arg(long, default_value_t = 1)]
    pub pool: usize,
    /// Print one JSON object instead of a table.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub module_options: ModuleOptions,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    anyhow::ensure!(args.batch > 0, "--batch must be at least 1");
    anyhow::ensure!(args.pool > 0, "--pool must be at least 1");
    let spec = args.module_options.spec(&args.module)?;
    let runtime = Runtime::new(RuntimeSettings::default()).context("starting the wasm runtime")?;
    let load =
        |spec| runtime.load_file(&args.module, spec).with_context(|| format!("loading {}", args.module.display()));
    let metered = spec.limits.fuel.is_some();
    let loading = Instant::now();
    let module = load(spec.clone())?;
    let load_ms = loading.elapsed().as_secs_f64() * 1e3;
    let start = StartCost {
        module_bytes: std::fs::metadata(&args.module).map(|m| m.len()).unwrap_or(0),
        load_ms,
        compile_cache: module.cache_outcome().label().to_owned(),
        instance_us: instance_start_us(&module)?,
    };
    let sample = sample_events(&args)?;
    let mut report = measure(&args, module, &sample, start)?;
    if !metered {
        let mut spec = spec;
        spec.limits.fuel = Some(CALIBRATION_FUEL);
        report.fuel_per_event = calibrate_fuel(load(spec)?, &sample, args.batch);
    }
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print_table(&report);
    }
    Ok(ExitCode::SUCCESS)
}

/// The events to cycle through: from `--input`, or a generator's.
fn sample_events(args: &Args) -> anyhow::Result<Vec<Event>> {
    if let Some(path) = &args.input {
        let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        let events = text
            .lines()
            .enumerate()
            .filter(|(_, l)| !l.trim().is_empty())
            .map(|(i, l)| Event::from_json(l.as_bytes()).with_context(|| format!("{}:{}", path.display(), i + 1)))
            .collect::<anyhow::Result<Vec<_>>>()?;
        anyhow::ensure!(!events.is_empty(), "{} holds no events", path.display());
        return Ok(events);
    }
    let spec = SourceSpec {
        id: "bench".into(),
        kind: SourceKind::Generator(GeneratorConfig {
            profile: GeneratorProfile::Simple,
            count: Some(args.events.min(10_000)),
            rate: None,
            event_size: args.event_size,
            seed: 1,
        }),
    };
    let mut source = crate::connectors::build_source(&spec)?;
    let mut events = Vec::new();
    while source.poll_batch(&mut events, 1024)? {}
    Ok(events)
}

/// Events each worker processes at most (its first batch, repeated) before the clock starts.
pub const WARMUP_EVENTS: usize = 20_000;

/// Instances made to time an instance start.
const INSTANCE_SAMPLES: usize = 20;

/// Fuel per event of the calibration pass: far more than any event needs, so
/// the pass measures rather than limits.
const CALIBRATION_FUEL: u64 = 1 << 40;
/// Events run by the calibration pass.
const CALIBRATION_EVENTS: usize = 1_000;

/// Fuel per successfully processed event over up to [`CALIBRATION_EVENTS`]
/// sample events, on an instance of a fuel-metered load of the module.
fn calibrate_fuel(module: Arc<LoadedModule>, sample: &[Event], batch: usize) -> Option<f64> {
    let mut slot = InstanceSlot::new(module);
    let events: Vec<Event> = sample.iter().cycle().take(CALIBRATION_EVENTS).cloned().collect();
    let mut ok = 0u64;
    for chunk in events.chunks(batch.max(1)) {
        ok += slot.process(chunk).iter().filter(|r| r.is_ok()).count() as u64;
    }
    let fuel = slot.usage().fuel;
    (ok > 0 && fuel > 0).then(|| fuel as f64 / ok as f64)
}

/// Median of [`INSTANCE_SAMPLES`] instance starts.
fn instance_start_us(module: &Arc<LoadedModule>) -> anyhow::Result<f64> {
    let mut micros = Vec::with_capacity(INSTANCE_SAMPLES);
    for _ in 0..INSTANCE_SAMPLES {
        let started = Instant::now();
        let instance = module.instantiate().context("making an instance")?;
        micros.push(started.elapsed().as_secs_f64() * 1e6);
        drop(instance);
    }
    micros.sort_by(f64::total_cmp);
    Ok(micros[micros.len() / 2])
}

fn measure(args: &Args, module: Arc<LoadedModule>, sample: &[Event], cost: StartCost) -> anyhow::Result<BenchReport> {
    // Each worker knows its batches before the clock starts: a hand-off per
    // batch would be measured, not the module (with `--batch 1` it would be
    // most of the time). Batches are slices of one padded sample, as
    // criterion reuses its input: building a million one-event batches up
    // front would time their page faults and frees instead. One worker runs
    // on this thread.
    let stream = BatchStream::new(sample, args.events, args.batch);
    let progress = progress_bar(args.events);
    // Every worker warms up, then all start together; the clock starts with them.
    let start = Barrier::new(args.pool.max(1));
    // Calibrated against the OS clock here, before any worker starts.
    let clock = quanta::Clock::new();
    let mut stats = (0..args.pool).map(|_| WorkerStats::new()).collect::<anyhow::Result<Vec<_>>>()?.into_iter();
    let here = stats.next().context("no benchmark worker")?;
    let (started, per_worker) = std::thread::scope(|scope| {
        let (stream, progress, start, clock) = (&stream, progress.as_ref(), &start, &clock);
        let others: Vec<_> = stats
            .enumerate()
            .map(|(i, stats)| {
                let module = module.clone();
                scope.spawn(move || {
                    let share = stream.share(i + 1, args.pool);
                    run_worker(clock, warm_slot(module, stream, start), share, progress, stats)
                })
            })
            .collect();
        let slot = warm_slot(module.clone(), stream, start);
        let started = Instant::now();
        let mut all = vec![Ok(run_worker(clock, slot, stream.share(0, args.pool), progress, here))];
        all.extend(others.into_iter().map(|w| w.join()));
        (started, all)
    });
    let seconds = started.elapsed().as_secs_f64();
    if let Some(progress) = progress {
        progress.finish_and_clear();
    }

    let mut batch_hist = new_histogram()?;
    let mut failed = 0;
    let mut peak_memory = 0;
    let mut fuel = 0;
    for worker in per_worker {
        let stats = worker.map_err(|_| anyhow::anyhow!("a benchmark worker panicked"))?;
        batch_hist.add(&stats.batch_latency).context("merging latencies")?;
        failed += stats.failed;
        peak_memory = peak_memory.max(stats.peak_memory);
        fuel += stats.fuel;
    }
    let ok_events = args.events.saturating_sub(failed);
    let micros = |q: f64| batch_hist.value_at_quantile(q) as f64 / 1e3;
    // Every batch but the last holds `batch` events, so an event's share of
    // its batch's time is the batch's divided by that: one record per batch.
    let per_batch = args.batch.min(args.events as usize).max(1) as f64;
    Ok(BenchReport {
        module: args.module.display().to_string(),
        events: args.events,
        failed_events: failed,
        batch: args.batch,
        pool: args.pool,
        seconds,
        events_per_second: args.events as f64 / seconds,
        batch_latency_us: Percentiles { p50: micros(0.5), p99: micros(0.99), max: batch_hist.max() as f64 / 1e3 },
        event_latency_us: Percentiles {
            p50: micros(0.5) / per_batch,
            p99: micros(0.99) / per_batch,
            max: batch_hist.max() as f64 / 1e3 / per_batch,
        },
        fuel_per_event: (fuel > 0 && ok_events > 0).then(|| fuel as f64 / ok_events as f64),
        peak_guest_memory_bytes: peak_memory,
        peak_rss_bytes: peak_rss(),
        start: cost,
    })
}

struct WorkerStats {
    /// Nanoseconds per batch.
    batch_latency: Histogram<u64>,
    failed: u64,
    /// Largest linear memory of an instance, recycled, discarded or live.
    peak_memory: u64,
    /// Fuel consumed (0 unless `--fuel` meters the run).
    fuel: u64,
}

impl WorkerStats {
    fn new() -> anyhow::Result<Self> {
        Ok(Self { batch_latency: new_histogram()?, failed: 0, peak_memory: 0, fuel: 0 })
    }
}

/// An instance that has processed `work`'s first batch, repeated, for as
/// many events as `work` holds up to [`WARMUP_EVENTS`] (so warming never
/// takes longer than the run: a module calling out over HTTP makes no more
/// calls than twice what was asked), returned once every worker's is (`start`).
fn warm_slot(module: Arc<LoadedModule>, stream: &BatchStream, start: &Barrier) -> InstanceSlot {
    let mut slot = InstanceSlot::new(module);
    let batch = stream.first();
    if !batch.is_empty() {
        let events = stream.total.min(WARMUP_EVENTS);
        for _ in 0..events.div_ceil(batch.len()) {
            drop(slot.process(batch));
        }
    }
    start.wait();
    slot
}

/// Runs a worker's batches. One clock read per batch: a batch's time runs
/// from the end of the one before, so it includes the loop's own few
/// nanoseconds of bookkeeping (a push of its clock ticks) and nothing else.
/// The held times go into the histogram [`TICKS_HELD`] at a time, outside
/// any batch's time: recorded one by one between guest calls they cost 4%
/// of a `--batch 1` run, together about 1%.
fn run_worker<'a>(
    clock: &quanta::Clock,
    mut slot: InstanceSlot,
    work: impl Iterator<Item = &'a [Event]>,
    progress: Option<&ProgressBar>,
    mut stats: WorkerStats,
) -> WorkerStats {
    let fuel_before = slot.usage().fuel;
    let mut ticks = Vec::with_capacity(TICKS_HELD);
    let mut last = clock.raw();
    for batch in work {
        let results = slot.process(batch);
        let now = clock.raw();
        ticks.push(now.saturating_sub(last));
        last = now;
        if ticks.len() == TICKS_HELD {
            record_ticks(clock, &mut ticks, &mut stats.batch_latency);
            last = clock.raw();
        }
        stats.failed += results.iter().filter(|r| r.is_err()).count() as u64;
        if let Some(progress) = progress {
            progress.inc(batch.len() as u64);
        }
    }
    record_ticks(clock, &mut ticks, &mut stats.batch_latency);
    stats.peak_memory = slot.peak_memory_bytes();
    stats.fuel = slot.usage().fuel.saturating_sub(fuel_before);
    stats
}

/// Batch times a worker holds, as raw clock ticks, before recording them.
const TICKS_HELD: usize = 4096;

fn record_ticks(clock: &quanta::Clock, ticks: &mut Vec<u64>, histogram: &mut Histogram<u64>) {
    for &delta in ticks.iter() {
        histogram.saturating_record(clock.delta_as_nanos(0, delta).max(1));
    }
    ticks.clear();
}

/// Nanoseconds from 1 ns to an hour at 3 significant digits: fixed bounds,
/// so recording in the timed loop never resizes (a longer call saturates).
fn new_histogram() -> anyhow::Result<Histogram<u64>> {
    Histogram::new_with_bounds(1, 3_600_000_000_000, 3).context("creating a latency histogram")
}

/// A bar on stderr when it is a terminal; nothing for pipes, files and CI
/// logs (not even a hidden bar: its counter costs a clock read per batch).
fn progress_bar(total: u64) -> Option<ProgressBar> {
    if !std::io::stderr().is_terminal() {
        return None;
    }
    let bar = ProgressBar::new(total);
    if let Ok(style) = ProgressStyle::with_template("{bar:40} {pos}/{len} events ({per_sec}, {eta})") {
        bar.set_style(style);
    }
    Some(bar)
}

/// Peak resident set size of this process (Linux `VmHWM`).
fn peak_rss() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}
