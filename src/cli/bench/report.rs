//! What a `flowctl bench` run reports: the `--json` object and the table.

use serde::Serialize;

/// What one run measured.
#[derive(Debug, Serialize)]
pub struct BenchReport {
    pub module: String,
    pub events: u64,
    pub failed_events: u64,
    pub batch: usize,
    pub pool: usize,
    pub seconds: f64,
    pub events_per_second: f64,
    /// Latency of one guest call (one batch), microseconds.
    pub batch_latency_us: Percentiles,
    /// Batch latency divided by batch size, microseconds.
    pub event_latency_us: Percentiles,
    /// Fuel (roughly, wasm instructions) per event; `None` if it could not be metered.
    pub fuel_per_event: Option<f64>,
    pub peak_guest_memory_bytes: u64,
    pub peak_rss_bytes: Option<u64>,
    /// What a cold start costs.
    pub start: StartCost,
}

/// The module's size and what starting it costs, before any event.
#[derive(Debug, Serialize)]
pub struct StartCost {
    pub module_bytes: u64,
    /// Loading: compiling (unless the compile cache had it), checking and
    /// making the first instance, milliseconds.
    pub load_ms: f64,
    /// Whether the load compiled or read the compile cache (`hit`, `miss`, ...).
    pub compile_cache: String,
    /// Median time to make one more instance (and run its `_initialize` and
    /// `init`), as a restart or a larger pool does, microseconds.
    pub instance_us: f64,
}

#[derive(Debug, Serialize)]
pub struct Percentiles {
    pub p50: f64,
    pub p99: f64,
    pub max: f64,
}

pub fn print_table(r: &BenchReport) {
    println!("module            {}", r.module);
    println!("events            {} ({} failed), batch {}, pool {}", r.events, r.failed_events, r.batch, r.pool);
    println!("throughput        {:.0} events/s over {:.3} s", r.events_per_second, r.seconds);
    println!(
        "batch latency     p50 {:.2} µs  p99 {:.2} µs  max {:.0} µs",
        r.batch_latency_us.p50, r.batch_latency_us.p99, r.batch_latency_us.max
    );
    println!(
        "event latency     p50 {:.2} µs  p99 {:.2} µs  max {:.2} µs",
        r.event_latency_us.p50, r.event_latency_us.p99, r.event_latency_us.max
    );
    if let Some(fuel) = r.fuel_per_event {
        println!("fuel per event    {fuel:.0}");
    }
    println!("guest memory      {} KiB peak", r.peak_guest_memory_bytes / 1024);
    let s = &r.start;
    println!(
        "start             {} KiB module, load {:.1} ms (compile cache: {}), {:.0} µs per new instance",
        s.module_bytes / 1024,
        s.load_ms,
        s.compile_cache,
        s.instance_us
    );
    if let Some(rss) = r.peak_rss_bytes {
        println!("process RSS       {} MiB peak", rss / (1024 * 1024));
    }
}
