//! The Prometheus recorder: installed once per process, every catalog metric
//! described (`# HELP`), histogram buckets chosen per metric (microseconds to
//! seconds for latencies).

use std::sync::OnceLock;

use metrics_exporter_prometheus::{BuildError, Matcher, PrometheusBuilder, PrometheusHandle};

use super::names::{self, Kind};

/// Batch latency buckets in seconds: 10 µs .. 10 s.
const BATCH_BUCKETS: &[f64] = &[
    0.000_01, 0.000_025, 0.000_05, 0.000_1, 0.000_25, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
    0.5, 1.0, 2.5, 5.0, 10.0,
];

/// Per-event latency buckets in seconds: 1 µs .. 1 s (a simple guest takes
/// about a microsecond per event in a release build).
#[rustfmt::skip]
const EVENT_BUCKETS: &[f64] = &[
    0.000_001, 0.000_002_5, 0.000_005, 0.000_01, 0.000_025, 0.000_05, 0.000_1, 0.000_25, 0.000_5, 0.001, 0.002_5,
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0,
];

/// Fuel per event buckets: 100 .. 1G (wasm instructions, roughly).
const FUEL_BUCKETS: &[f64] = &[1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9];

static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();

/// Installs the global recorder (first call) and returns the handle that renders
/// the text format. Later calls return the same handle. Metric handles made
/// before this are no-ops forever, so `flowctl run` calls it first thing.
pub fn install() -> Result<PrometheusHandle, BuildError> {
    if let Some(handle) = HANDLE.get() {
        return Ok(handle.clone());
    }
    let handle = PrometheusBuilder::new()
        .set_buckets_for_metric(Matcher::Full(names::BATCH_DURATION.into()), BATCH_BUCKETS)?
        .set_buckets_for_metric(Matcher::Full(names::EVENT_DURATION.into()), EVENT_BUCKETS)?
        .set_buckets_for_metric(Matcher::Full(names::FUEL_PER_EVENT.into()), FUEL_BUCKETS)?
        .set_buckets_for_metric(Matcher::Full(names::CHECKPOINT_SECONDS.into()), BATCH_BUCKETS)?
        .install_recorder()?;
    for def in names::CATALOG {
        match def.kind {
            Kind::Counter => metrics::describe_counter!(def.name, def.help),
            Kind::Gauge => metrics::describe_gauge!(def.name, def.help),
            Kind::Histogram => metrics::describe_histogram!(def.name, def.help),
        }
    }
    metrics::gauge!(names::BUILD_INFO, "version" => env!("CARGO_PKG_VERSION"), "wasmtime" => WASMTIME_VERSION).set(1.0);
    Ok(HANDLE.get_or_init(|| handle).clone())
}

/// The wasmtime version we link (from Cargo.lock, see `build.rs`), for `flowctl_build_info`.
pub const WASMTIME_VERSION: &str = env!("FLOWCTL_WASMTIME_VERSION");
