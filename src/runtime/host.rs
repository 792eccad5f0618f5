//! Host functions a guest may import (module `flowctl`, and `env` for modules
//! written to the original contract), granted per processor. An import that is
//! not granted is still defined, as a stub that ends the call with
//! `capability denied`, an audit line and a counter: the module loads, and the
//! denial happens where and when the guest actually tries.

use std::sync::Arc;

use wasmtime::{Caller, Engine, Linker};

use super::guest_memory::{self, pack};
use super::host_calls::{CallResult, HostCallCounters, HostFn};
use super::http::{HttpClient, HttpDenial, HttpFailure};
use super::metrics::{AUDIT_TARGET, GUEST_METRIC_PREFIX, GUEST_TARGET, MAX_GUEST_METRICS};
use super::permissions::Permissions;
use super::scope::{MetricAdmission, ProcessorScope};
use super::store::StoreData;
use super::usage::LiveInstances;

/// Import modules under which the host functions are provided.
pub const HOST_MODULES: [&str; 2] = ["flowctl", "env"];
/// The WASI preview 1 import module.
pub const WASI_MODULE: &str = "wasi_snapshot_preview1";

/// Trap raised by a stub for a host function the processor was not granted.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("capability denied: {function}")]
pub struct CapabilityTrap {
    pub function: &'static str,
    pub target: Option<String>,
}

/// Longest guest log line kept; the rest of a longer one is cut.
pub const MAX_LOG_LINE: usize = 8 * 1024;

/// What all instances of one version of a processor share.
pub struct ProcessorShared {
    pub version: String,
    /// What the processor keeps across versions: metric names, log budget, quotas.
    pub scope: Arc<ProcessorScope>,
    /// Present when `http_request` is granted.
    pub http: Option<HttpClient>,
    /// Instances of this module alive now, and their memory.
    pub live: LiveInstances,
    pub host_calls: HostCallCounters,
}

impl ProcessorShared {
    /// The HTTP client draws from the scope's rate window, which this version
    /// shares with the processor's other versions.
    pub fn new(scope: Arc<ProcessorScope>, version: String, permissions: &Permissions) -> Self {
        let http = permissions.http.clone().map(|permission| HttpClient::new(permission, scope.http_rate.clone()));
        let host_calls = HostCallCounters::new(&scope.name, &version);
        Self { version, scope, http, live: LiveInstances::default(), host_calls }
    }
}

/// A linker with the host functions as `permissions` grant them, and WASI when asked for.
pub fn linker(engine: &Engine, permissions: &Permissions, with_wasi: bool) -> wasmtime::Result<Linker<StoreData>> {
    let mut linker = Linker::new(engine);
    for module in HOST_MODULES {
        if permissions.log {
            linker.func_wrap(module, "log", host_log)?;
        } else {
            linker.func_wrap(
                module,
                "log",
                |c: Caller<'_, StoreData>, _: i32, _: i32, _: i32| -> wasmtime::Result<()> {
                    Err(deny(&c, "log", None).into())
                },
            )?;
        }
        if permissions.metrics {
            linker.func_wrap(module, "record_metric", host_record_metric)?;
        } else {
            linker.func_wrap(
                module,
                "record_metric",
                |c: Caller<'_, StoreData>, _: i32, _: i32, _: f64| -> wasmtime::Result<()> {
                    Err(deny(&c, "record_metric", None).into())
                },
            )?;
        }
        if permissions.http.is_some() {
            linker.func_wrap(module, "http_request", host_http_request)?;
        } else {
            linker.func_wrap(
                module,
                "http_request",
                |c: Caller<'_, StoreData>,
                 _: i32,
                 url_ptr: i32,
                 url_len: i32,
                 _: i32,
                 _: i32|
                 -> wasmtime::Result<i64> {
                    let target = read(&c, url_ptr, url_len).ok().map(|b| String::from_utf8_lossy(&b).into_owned());
                    Err(deny(&c, "http_request", target).into())
                },
            )?;
        }
        super::host_state::add(&mut linker, module, permissions.state)?;
    }
    linker.func_wrap("env", super::guest_abort::NAME, super::guest_abort::abort)?;
    if with_wasi {
        wasmtime_wasi::p1::add_to_linker_sync(&mut linker, StoreData::wasi)?;
        // The one WASI call that blocks, replaced by one bounded by the call's deadline.
        linker.allow_shadowing(true);
        linker.func_wrap(WASI_MODULE, "poll_oneoff", super::wasi_poll::poll_oneoff)?;
        linker.allow_shadowing(false);
    }
    Ok(linker)
}

/// Whether a linker made by [`linker`] holds a host function bounded by the
/// call's wall-clock deadline ([`StoreData::deadline`]): granted HTTP, and
/// WASI's `poll_oneoff`. Only then is the deadline set for each call.
pub fn reads_call_deadline(permissions: &Permissions, with_wasi: bool) -> bool {
    permissions.http.is_some() || with_wasi
}

/// Host functions the module imports that `permissions` do not grant.
pub fn ungranted_imports(report: &super::validate::ModuleReport, permissions: &Permissions) -> Vec<&'static str> {
    let granted = |f: &str| match f {
        "log" => permissions.log,
        "record_metric" => permissions.metrics,
        "http_request" => permissions.http.is_some(),
        "state_get" | "state_set" | "state_delete" => permissions.state,
        _ => true,
    };
    let mut ungranted: Vec<&'static str> =
        ["log", "record_metric", "http_request", "state_get", "state_set", "state_delete"]
            .into_iter()
            .filter(|f| !granted(f))
            .filter(|f| report.imports.iter().any(|i| HOST_MODULES.iter().any(|m| i.name == format!("{m}.{f}"))))
            .collect();
    ungranted.dedup();
    ungranted
}

/// Writes the audit line and counts the denial; returns the trap for stubs.
pub(super) fn deny(caller: &Caller<'_, StoreData>, function: &'static str, target: Option<String>) -> CapabilityTrap {
    audit_denied(&caller.data().shared, function, target.as_deref());
    CapabilityTrap { function, target }
}

/// One audit line and one `denied` count for a refused capability use.
pub fn audit_denied(shared: &ProcessorShared, function: &'static str, target: Option<&str>) {
    tracing::warn!(
        target: AUDIT_TARGET,
        tenant = shared.scope.quota.tenant(),
        processor = %shared.scope.name,
        version = %shared.version,
        action = function,
        target = target.unwrap_or(""),
        allowed = false,
        "capability denied"
    );
    if let Some(f) = HostCallCounters::function(function) {
        shared.host_calls.count(f, CallResult::Denied);
    }
}

/// The audit line and `denied` count of an `http_request` a rule of the
/// processor's HTTP permission refused; the reason names the rule.
fn audit_http_denial(shared: &ProcessorShared, url: &str, denial: &HttpDenial) {
    tracing::warn!(
        target: AUDIT_TARGET,
        tenant = shared.scope.quota.tenant(),
        processor = %shared.scope.name,
        version = %shared.version,
        action = "http_request",
        target = %url,
        allowed = false,
        reason = %denial,
        "capability denied"
    );
    shared.host_calls.count(HostFn::HttpRequest, CallResult::Denied);
}

/// Copies `len` bytes at `ptr` out of the guest's memory.
pub(super) fn read(caller: &Caller<'_, StoreData>, ptr: i32, len: i32) -> Result<Vec<u8>, guest_memory::BadPointer> {
    read_at_most(caller, ptr, len, usize::MAX)
}

/// Copies the first `max` of the `len` bytes at `ptr` (all of which must be in bounds).
fn read_at_most(
    caller: &Caller<'_, StoreData>,
    ptr: i32,
    len: i32,
    max: usize,
) -> Result<Vec<u8>, guest_memory::BadPointer> {
    let data = match caller.data().memory {
        Some(memory) => memory.data(caller),
        None => &[],
    };
    guest_memory::slice(data, ptr as u32, len as u32).map(|bytes| bytes[..bytes.len().min(max)].to_vec())
}

fn host_log(caller: Caller<'_, StoreData>, level: i32, ptr: i32, len: i32) -> wasmtime::Result<()> {
    let data = match caller.data().memory {
        Some(memory) => memory.data(&caller),
        None => &[],
    };
    let shared = &caller.data().shared;
    let bytes = guest_memory::slice(data, ptr as u32, len as u32)
        .inspect_err(|_| shared.host_calls.count(HostFn::Log, CallResult::Error))?;
    shared.host_calls.count(HostFn::Log, CallResult::Ok);
    if !shared.scope.admit_log_line() {
        return Ok(());
    }
    let message = String::from_utf8_lossy(&bytes[..bytes.len().min(MAX_LOG_LINE)]);
    let (processor, version) = (&shared.scope.name, &shared.version);
    match level {
        0 => {
            tracing::debug!(target: GUEST_TARGET, processor = %processor, version = %version, "{message}")
        }
        2 => {
            tracing::warn!(target: GUEST_TARGET, processor = %processor, version = %version, "{message}")
        }
        3 => {
            tracing::error!(target: GUEST_TARGET, processor = %processor, version = %version, "{message}")
        }
        _ => {
            tracing::info!(target: GUEST_TARGET, processor = %processor, version = %version, "{message}")
        }
    }
    Ok(())
}

/// Raw names one instance remembers, so a repeated `record_metric` costs a
/// hash lookup; a guest cycling through more raw names than this (all of which
/// may sanitise to admitted names) is served uncached instead of growing the map.
const MAX_CACHED_RAW_NAMES: usize = 2 * MAX_GUEST_METRICS;

fn host_record_metric(mut caller: Caller<'_, StoreData>, ptr: i32, len: i32, value: f64) -> wasmtime::Result<()> {
    // Names are cut to 100 characters when sanitised; a few more bytes keep
    // distinct long names distinct in the raw-name cache.
    let raw = read_at_most(&caller, ptr, len, 4 * MAX_METRIC_NAME)
        .inspect_err(|_| caller.data().shared.host_calls.count(HostFn::RecordMetric, CallResult::Error))?;
    let state = caller.data_mut();
    let scope = &state.shared.scope;
    state.shared.host_calls.count(HostFn::RecordMetric, CallResult::Ok);
    if let Some(slot) = state.gauges.get(&raw) {
        match slot {
            Some(gauge) => gauge.set(value),
            None => scope.guest_metrics_dropped.increment(1),
        }
        return Ok(());
    }
    let name = sanitize_metric_name(&raw);
    let admission = scope.admit_metric(&name);
    let full_name = format!("{GUEST_METRIC_PREFIX}{name}");
    if admission == MetricAdmission::First {
        // Gives the series its `# HELP` line (promtool rejects metrics without one).
        metrics::describe_gauge!(full_name.clone(), "Recorded by processor guests with record_metric.");
    }
    let gauge =
        (admission != MetricAdmission::Refused).then(|| metrics::gauge!(full_name, "processor" => scope.name.clone()));
    match &gauge {
        Some(g) => g.set(value),
        None => scope.guest_metrics_dropped.increment(1),
    }
    if state.gauges.len() < MAX_CACHED_RAW_NAMES {
        state.gauges.insert(raw, gauge);
    }
    Ok(())
}

/// Longest sanitised guest metric name, before the prefix.
const MAX_METRIC_NAME: usize = 100;

/// Suffixes Prometheus reserves for counters, histograms and summaries; a
/// guest gauge must not end in one, or scrapers misread it.
const RESERVED_SUFFIXES: [&str; 5] = ["_total", "_count", "_sum", "_bucket", "_created"];

/// Lower-cases and maps everything outside `[a-z0-9_]` to `_`; empty becomes
/// `unnamed`; a reserved suffix gets `_value` appended.
pub fn sanitize_metric_name(raw: &[u8]) -> String {
    let mut name: String = String::from_utf8_lossy(raw)
        .chars()
        .map(|c| c.to_ascii_lowercase())
        .map(|c| if c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' { c } else { '_' })
        .take(MAX_METRIC_NAME)
        .collect();
    if name.is_empty() {
        return "unnamed".into();
    }
    if RESERVED_SUFFIXES.iter().any(|s| name.ends_with(s)) {
        name.push_str("_value");
    }
    name
}

fn host_http_request(
    mut caller: Caller<'_, StoreData>,
    method: i32,
    url_ptr: i32,
    url_len: i32,
    body_ptr: i32,
    body_len: i32,
) -> wasmtime::Result<i64> {
    let bad_pointer =
        |_: &guest_memory::BadPointer| caller.data().shared.host_calls.count(HostFn::HttpRequest, CallResult::Error);
    let url_bytes = read(&caller, url_ptr, url_len).inspect_err(bad_pointer)?;
    let body = read(&caller, body_ptr, body_len).inspect_err(bad_pointer)?;
    let url = String::from_utf8_lossy(&url_bytes).into_owned();
    let shared = caller.data().shared.clone();
    let Some(client) = shared.http.as_ref() else {
        return Err(deny(&caller, "http_request", Some(url)).into());
    };
    if !shared.scope.quota.take_http_request() {
        audit_denied(&shared, "http_request", Some(&url));
        return Ok(0);
    }
    let response = match client.request(&url, method, body, caller.data().deadline) {
        Ok(response) => response,
        Err(HttpFailure::Denied(denial)) => {
            audit_http_denial(&shared, &url, &denial);
            return Ok(0);
        }
        Err(HttpFailure::Failed(reason)) => {
            tracing::warn!(target: GUEST_TARGET, processor = %shared.scope.name, url = %url, "http_request failed: {reason}");
            shared.host_calls.count(HostFn::HttpRequest, CallResult::Error);
            return Ok(0);
        }
    };
    shared.host_calls.count(HostFn::HttpRequest, CallResult::Ok);
    write_to_guest(&mut caller, &response)
}

/// Copies `bytes` into a buffer from the guest's `allocate`; the guest owns it afterwards.
pub(super) fn write_to_guest(caller: &mut Caller<'_, StoreData>, bytes: &[u8]) -> wasmtime::Result<i64> {
    let Some(allocate) = caller.get_export("allocate").and_then(|e| e.into_func()) else {
        return Ok(0);
    };
    let allocate = allocate.typed::<i32, i32>(&*caller)?;
    let len = u32::try_from(bytes.len())?;
    let ptr = allocate.call(&mut *caller, len as i32)? as u32;
    if ptr == 0 {
        return Ok(0);
    }
    let Some(memory) = caller.data().memory else {
        return Ok(0);
    };
    guest_memory::slice_mut(memory.data_mut(&mut *caller), ptr, len)?.copy_from_slice(bytes);
    Ok(pack(ptr, len))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metric_names_are_sanitized() {
        assert_eq!(sanitize_metric_name(b"Orders.Open-count2"), "orders_open_count2");
        assert_eq!(sanitize_metric_name(b"Orders.Total-count"), "orders_total_count_value");
        assert_eq!(sanitize_metric_name(b""), "unnamed");
        assert_eq!(sanitize_metric_name("é{x}".as_bytes()), "__x_");
        assert_eq!(sanitize_metric_name(b"orders_total"), "orders_total_value");
    }
}
