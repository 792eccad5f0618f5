//! A processor's `wasm:` block: modules or weighted versions, routing, the canary
//! guard, batching, limits and permissions.

use std::collections::HashMap;
use std::time::Duration;

use serde_saphyr::Spanned;

use super::defaults;
use super::error::line_of_spanned;
use super::model::{
    BreakerSpec, GrpcProcessorConfig, ProcessorConfig, ProcessorKind, RollbackSpec, VersionSpec, WasmConfig,
};
use super::raw::UnitText;
use super::raw::{RawBreaker, RawLimits, RawPermissions, RawProcessor, RawRollback, RawVersion, RawWasm};
use super::resolve::Resolver;
use crate::runtime::{Limits, Permissions};

/// Smallest memory limit a module can run in: one 64 KiB wasm page.
const WASM_PAGE: u64 = 64 * 1024;

pub(crate) fn processor(r: &mut Resolver, raw: &RawProcessor, key: &str) -> Option<ProcessorConfig> {
    let inputs = raw.inputs.as_ref().map(|list| list.value.iter().map(|id| id.value.clone()).collect());
    let kind = match raw.kind.value.as_str() {
        "wasm" => ProcessorKind::Wasm(wasm_processor(r, raw, key)?),
        "grpc" => ProcessorKind::Grpc(grpc_processor(r, raw, key)?),
        other => {
            let message = format!("unknown processor type {other:?} (use wasm or grpc)");
            r.problems.on(&raw.kind, format!("{key}.type"), message);
            return None;
        }
    };
    let config = match (&kind, &raw.config) {
        (ProcessorKind::Wasm(_), Some(config)) => config.value.clone(),
        _ => serde_json::Value::Object(Default::default()),
    };
    Some(ProcessorConfig { id: raw.id.value.clone(), inputs: inputs.unwrap_or_default(), config, kind })
}

/// `type: grpc`: `config:` says how to reach the remote processor (no `wasm:` block).
fn grpc_processor(r: &mut Resolver, raw: &RawProcessor, key: &str) -> Option<GrpcProcessorConfig> {
    if let Some(wasm) = &raw.wasm {
        r.problems.on(
            wasm,
            format!("{key}.wasm"),
            "a grpc processor takes no `wasm:` block; its settings go in `config:`",
        );
    }
    let Some(config) = &raw.config else {
        r.problems.on(&raw.kind, format!("{key}.config.endpoint"), "a grpc processor needs `config: {endpoint: ...}`");
        return None;
    };
    r.problems.set_fallback_line(line_of_spanned(config));
    let typed = super::resolve::buffered::typed(r, config, key);
    let resolved = typed.and_then(|typed| super::resolve_grpc::processor(r, &typed, key, &raw.kind));
    r.problems.set_fallback_line(None);
    resolved
}

fn wasm_processor(r: &mut Resolver, raw: &RawProcessor, key: &str) -> Option<WasmConfig> {
    let Some(wasm) = &raw.wasm else {
        r.problems.on(
            &raw.id,
            format!("{key}.wasm"),
            "a wasm processor needs a `wasm:` block with `module:` or `versions:`",
        );
        return None;
    };
    wasm_config(r, wasm, &format!("{key}.wasm"))
}

fn wasm_config(r: &mut Resolver, raw: &Spanned<RawWasm>, key: &str) -> Option<WasmConfig> {
    let wasm = &raw.value;
    let versions = match (&wasm.module, &wasm.versions) {
        (Some(module), None) => {
            let path = module_path(r, module, &format!("{key}.module"));
            vec![VersionSpec { name: None, module: path, weight: defaults::SINGLE_MODULE_WEIGHT }]
        }
        (None, Some(versions)) => versions_list(r, versions, &format!("{key}.versions")),
        (Some(module), Some(_)) => {
            r.problems.on(module, key, "use either `module:` or `versions:`, not both");
            Vec::new()
        }
        (None, None) => {
            r.problems.at(line_of_spanned(raw), key, "needs `module:` (one module) or `versions:` (weighted versions)");
            Vec::new()
        }
    };
    let route_by = match &wasm.route_by {
        None => defaults::ROUTE_BY.to_string(),
        Some(route_by) => {
            if !is_routing_key(&route_by.value) {
                let message = format!(
                    "{:?} is not a routing key (use id, or data.<field path> such as data.account)",
                    route_by.value
                );
                r.problems.on(route_by, format!("{key}.route_by"), message);
            }
            route_by.value.clone()
        }
    };
    let batch_timeout = match &wasm.batch_timeout {
        None => defaults::BATCH_TIMEOUT,
        Some(text) => r.duration(text, &format!("{key}.batch_timeout")).unwrap_or(defaults::BATCH_TIMEOUT),
    };
    let stateful = wasm.permissions.state == Some(true);
    let default_pool = if stateful { 1 } else { defaults::POOL_SIZE };
    let pool_size = match &wasm.pool_size {
        None => default_pool,
        Some(size) if stateful && size.value > 1 && wasm.route_by.is_none() => {
            let message = "needs `route_by` (the field the processor keeps its state by) to be more than 1 for a \
                           processor granted permissions.state: events are then split between the instances by \
                           that key, so each key is touched by one instance at a time, in order";
            r.problems.on(size, format!("{key}.pool_size"), message);
            1
        }
        Some(size) => r.positive(size, &format!("{key}.pool_size"), default_pool),
    };
    Some(WasmConfig {
        versions,
        route_by,
        pool_size,
        batch_size: wasm
            .batch_size
            .as_ref()
            .map_or(defaults::BATCH_SIZE, |size| r.positive(size, &format!("{key}.batch_size"), defaults::BATCH_SIZE)),
        batch_timeout,
        limits: limits(r, &wasm.limits, &format!("{key}.limits")),
        permissions: permissions(r, &wasm.permissions, &format!("{key}.permissions")),
        max_retries: wasm.max_retries.unwrap_or(defaults::MAX_RETRIES),
        rollback: wasm.rollback.as_ref().map(|rollback| rollback_spec(r, rollback, &format!("{key}.rollback"))),
        circuit_breaker: wasm.circuit_breaker.as_ref().map(|b| breaker_spec(r, b, &format!("{key}.circuit_breaker"))),
        tenant: wasm.tenant.as_ref().map(|t| t.value.clone()),
        quotas: super::resolve_quota::quotas(r, &wasm.quotas, &format!("{key}.quotas")),
        require_signature: wasm.require_signature.as_ref().map_or(defaults::REQUIRE_SIGNATURE, |s| s.value),
    })
}

fn module_path(r: &mut Resolver, module: &Spanned<String>, key: &str) -> std::path::PathBuf {
    let path = r.path(&module.value);
    if !path.is_file() {
        let message = format!("{} does not exist (run scripts/build-processors.sh?)", module.value);
        r.problems.on(module, key, message);
    }
    path
}

fn versions_list(r: &mut Resolver, versions: &Spanned<Vec<RawVersion>>, key: &str) -> Vec<VersionSpec> {
    if versions.value.is_empty() {
        r.problems.on(versions, key, "needs at least one version");
        return Vec::new();
    }
    let mut names: HashMap<&str, usize> = HashMap::new();
    let mut resolved = Vec::with_capacity(versions.value.len());
    for (index, version) in versions.value.iter().enumerate() {
        let key = format!("{key}[{index}]");
        if let Some(name) = &version.name {
            let line = line_of_spanned(name).unwrap_or(0);
            if name.value.trim().is_empty() {
                r.problems.on(name, format!("{key}.name"), "must not be empty");
            } else if let Some(first) = names.insert(&name.value, line) {
                r.problems.on(
                    name,
                    format!("{key}.name"),
                    format!("duplicate version name {:?} (first at line {first})", name.value),
                );
            }
        }
        let module = module_path(r, &version.module, &format!("{key}.module"));
        resolved.push(VersionSpec {
            name: version.name.as_ref().map(|name| name.value.clone()),
            module,
            weight: version.weight.value,
        });
    }
    if resolved.iter().all(|version| version.weight == 0) {
        r.problems.on(versions, key, "all weights are 0: no version would get any traffic");
    }
    resolved
}

/// `id`, or `data.` followed by a dotted path of non-empty field names.
fn is_routing_key(text: &str) -> bool {
    if text == "id" {
        return true;
    }
    match text.strip_prefix("data.") {
        Some(path) => path.split('.').all(|field| !field.is_empty() && !field.contains(char::is_whitespace)),
        None => false,
    }
}

fn rollback_spec(r: &mut Resolver, raw: &RawRollback, key: &str) -> RollbackSpec {
    let rate = raw.max_error_rate.value;
    if !(rate.is_finite() && rate > 0.0 && rate <= 1.0) {
        let message = format!("{rate} is not an error rate (a fraction above 0 and at most 1, e.g. 0.05)");
        r.problems.on(&raw.max_error_rate, format!("{key}.max_error_rate"), message);
    }
    if raw.min_events.value == 0 {
        r.problems.on(&raw.min_events, format!("{key}.min_events"), "must be at least 1");
    }
    RollbackSpec { max_error_rate: rate, min_events: raw.min_events.value }
}

fn breaker_spec(r: &mut Resolver, raw: &RawBreaker, key: &str) -> BreakerSpec {
    if raw.max_restarts.value == 0 {
        r.problems.on(&raw.max_restarts, format!("{key}.max_restarts"), "must be at least 1");
    }
    let mut duration =
        |text: &Spanned<UnitText>, name: &str, default: Duration| match r.duration(text, &format!("{key}.{name}")) {
            Some(d) if d.is_zero() => {
                r.problems.on(text, format!("{key}.{name}"), "must be above 0");
                default
            }
            Some(d) => d,
            None => default,
        };
    let window = duration(&raw.window, "window", Duration::from_secs(1));
    let cooldown = raw
        .cooldown
        .as_ref()
        .map_or(defaults::BREAKER_COOLDOWN, |c| duration(c, "cooldown", defaults::BREAKER_COOLDOWN));
    BreakerSpec { max_restarts: raw.max_restarts.value, window, cooldown }
}

fn limits(r: &mut Resolver, raw: &RawLimits, key: &str) -> Limits {
    let mut limits = Limits::default();
    if let Some(memory) = &raw.memory {
        if let Some(bytes) = r.size(memory, &format!("{key}.memory")) {
            if bytes < WASM_PAGE {
                r.problems.on(memory, format!("{key}.memory"), "must be at least 64KiB (one wasm page)");
            }
            limits.memory_bytes = bytes;
        }
    }
    if let Some(fuel) = &raw.fuel {
        if fuel.value == 0 {
            r.problems.on(fuel, format!("{key}.fuel"), "must be at least 1 (leave out to disable fuel metering)");
        }
        limits.fuel = Some(fuel.value);
    }
    if let Some(timeout) = &raw.timeout {
        if let Some(duration) = r.duration(timeout, &format!("{key}.timeout")) {
            if duration.is_zero() {
                r.problems.on(timeout, format!("{key}.timeout"), "must be above 0");
            }
            limits.timeout = duration;
        }
    }
    for (text, field, target) in [
        (&raw.max_input, "max_input", &mut limits.max_input_bytes),
        (&raw.max_output, "max_output", &mut limits.max_output_bytes),
        (&raw.max_state_key, "max_state_key", &mut limits.state.max_key_bytes),
        (&raw.max_state_value, "max_state_value", &mut limits.state.max_value_bytes),
        (&raw.max_state, "max_state", &mut limits.state.max_bytes),
    ] {
        let Some(text) = text else { continue };
        let key = format!("{key}.{field}");
        if let Some(bytes) = r.size(text, &key) {
            match usize::try_from(bytes) {
                Ok(0) | Err(_) => r.problems.on(text, key, "must be above 0 and fit in memory"),
                Ok(bytes) => *target = bytes,
            }
        }
    }
    if let Some(max) = &raw.max_outputs {
        if max.value == 0 {
            r.problems.on(max, format!("{key}.max_outputs"), "must be at least 1");
        }
        limits.max_outputs = max.value;
    }
    if let Some(rate) = &raw.log_lines_per_second {
        limits.log_lines_per_second = rate.value;
    }
    limits
}

fn permissions(r: &mut Resolver, raw: &RawPermissions, key: &str) -> Permissions {
    let defaults = Permissions::default();
    Permissions {
        log: raw.log.unwrap_or(defaults.log),
        metrics: raw.metrics.unwrap_or(defaults.metrics),
        http: raw.http.as_ref().map(|http| super::resolve_http::permission(r, http, &format!("{key}.http"))),
        state: raw.state.unwrap_or(defaults.state),
    }
}

#[cfg(test)]
mod tests {
    use super::is_routing_key;

    #[test]
    fn routing_keys_are_id_or_a_data_path() {
        for good in ["id", "data.account", "data.tx.source_account"] {
            assert!(is_routing_key(good), "{good}");
        }
        for bad in ["", "data", "data.", "data..x", "account", "metadata.x", "data.a b"] {
            assert!(!is_routing_key(bad), "{bad}");
        }
    }
}
