//! [`RawFile`] to the validated [`Pipeline`]: checks every value, applies
//! [`defaults`], resolves relative paths against the file's directory. Every
//! problem is recorded, not just the first; the pipeline is returned only if none.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_saphyr::Spanned;

use super::defaults;
use super::error::{line_of_spanned, ConfigErrors, Problems};
use super::graph;
use super::model::*;
use super::raw::*;
use super::raw_connectors::{ConnectorConfig, RawGenerator, RawProfile};
use super::resolve_admin::{self, Environment};
use super::units;
use super::{resolve_progress, resolve_signing, resolve_wasm};

pub const API_VERSION: &str = "flowctl/v1";
pub const KIND: &str = "Pipeline";
const LOG_LEVELS: &[&str] = &["error", "warn", "info", "debug", "trace"];

/// Context shared by the checks of one file.
pub(crate) struct Resolver<'a> {
    pub problems: Problems,
    /// Directory relative paths are resolved against (absolute).
    pub base_dir: &'a Path,
    pub env: &'a Environment,
}

impl Resolver<'_> {
    /// A path as written, resolved against the file's directory.
    pub fn path(&self, written: &str) -> PathBuf {
        self.base_dir.join(written)
    }

    pub fn size(&mut self, text: &Spanned<UnitText>, key: &str) -> Option<u64> {
        units::parse_bytes(&text.value.0).map_err(|error| self.problems.on(text, key, error.to_string())).ok()
    }

    pub fn duration(&mut self, text: &Spanned<UnitText>, key: &str) -> Option<Duration> {
        units::parse_duration(&text.value.0).map_err(|error| self.problems.on(text, key, error.to_string())).ok()
    }

    /// A count that must be at least 1 (pool sizes, capacities...).
    pub fn positive(&mut self, value: &Spanned<usize>, key: &str, default: usize) -> usize {
        if value.value == 0 {
            self.problems.on(value, key, "must be at least 1");
            return default;
        }
        value.value
    }
}

pub(crate) fn resolve(raw: RawFile, file: &Path, base_dir: &Path, env: &Environment) -> Result<Pipeline, ConfigErrors> {
    let mut resolver = Resolver { problems: Problems::new(file), base_dir, env };
    let r = &mut resolver;
    if raw.api_version.value != API_VERSION {
        let message = format!("{:?} is not supported (use {API_VERSION})", raw.api_version.value);
        r.problems.on(&raw.api_version, "apiVersion", message);
    }
    if raw.kind.value != KIND {
        r.problems.on(&raw.kind, "kind", format!("{:?} is not a known kind (use {KIND})", raw.kind.value));
    }
    let name = raw.metadata.name.value.trim().to_string();
    if name.is_empty() {
        r.problems.on(&raw.metadata.name, "metadata.name", "must not be empty");
    }
    let spec_line = line_of_spanned(&raw.spec);
    let spec = raw.spec.value;
    resolve_signing::check_required(r, spec.settings.as_ref(), &spec.processors);
    let settings = settings(r, spec.settings.unwrap_or_default());
    if spec.sources.is_empty() {
        r.problems.at(spec_line, "spec.sources", "a pipeline needs at least one source");
    }
    if spec.sinks.is_empty() {
        r.problems.at(spec_line, "spec.sinks", "a pipeline needs at least one sink");
    }
    graph::check(&mut r.problems, &spec.sources, &spec.processors, &spec.sinks);
    let sources =
        spec.sources.iter().enumerate().filter_map(|(i, s)| source(r, s, &format!("spec.sources[{i}]"))).collect();
    let processors = spec
        .processors
        .iter()
        .enumerate()
        .filter_map(|(i, p)| resolve_wasm::processor(r, p, &format!("spec.processors[{i}]")))
        .collect();
    let sinks = spec.sinks.iter().enumerate().filter_map(|(i, s)| sink(r, s, &format!("spec.sinks[{i}]"))).collect();
    let pipeline = Pipeline { name, source_file: file.to_path_buf(), settings, sources, processors, sinks };
    resolver.problems.finish(pipeline)
}

fn settings(r: &mut Resolver, raw: RawSettings) -> Settings {
    let mut settings = Settings {
        log_level: defaults::LOG_LEVEL.to_string(),
        metrics_addr: defaults::METRICS_ADDR,
        dead_letter: DeadLetterSpec::File(r.path(defaults::DEAD_LETTER_FILE)),
        shutdown_grace: defaults::SHUTDOWN_GRACE,
        channel_capacity: defaults::CHANNEL_CAPACITY,
        admin_token: None,
        hot_reload: raw.hot_reload.unwrap_or(true),
        state_dir: r.path(defaults::STATE_DIR),
        checkpoint_interval: defaults::CHECKPOINT_INTERVAL,
        control_plane_addr: None,
        audit_log: None,
        trusted_keys: resolve_signing::trusted_keys(r, raw.trusted_keys.as_ref()),
    };
    if let Some(path) = &raw.audit_log {
        if path.value.trim().is_empty() {
            r.problems.on(path, "spec.settings.audit_log", "must be a file path");
        } else {
            settings.audit_log = Some(r.path(&path.value));
        }
    }
    if let Some(addr) = &raw.control_plane_addr {
        match addr.value.parse::<SocketAddr>() {
            Ok(parsed) => settings.control_plane_addr = Some(parsed),
            Err(_) => {
                let message = format!("{:?} is not an address (use ip:port, e.g. 127.0.0.1:50051)", addr.value);
                r.problems.on(addr, "spec.settings.control_plane_addr", message);
            }
        }
    }
    resolve_admin::admin_access(r, &raw, &mut settings);
    resolve_progress::progress(r, &raw, &mut settings);
    if let Some(level) = raw.log_level {
        if LOG_LEVELS.contains(&level.value.as_str()) {
            settings.log_level = level.value.clone();
        } else {
            let message = format!("{:?} is not a log level (use one of {})", level.value, LOG_LEVELS.join(", "));
            r.problems.on(&level, "spec.settings.log_level", message);
        }
    }
    if let Some(addr) = raw.metrics_addr {
        match addr.value.parse::<SocketAddr>() {
            Ok(parsed) => settings.metrics_addr = parsed,
            Err(_) => {
                let message = format!("{:?} is not an address (use ip:port, e.g. 127.0.0.1:9464)", addr.value);
                r.problems.on(&addr, "spec.settings.metrics_addr", message);
            }
        }
    }
    if let Some(dead_letter) = raw.dead_letter {
        if let Some(spec) = dead_letter_spec(r, &dead_letter) {
            settings.dead_letter = spec;
        }
    }
    if let Some(grace) = raw.shutdown_grace {
        settings.shutdown_grace = r.duration(&grace, "spec.settings.shutdown_grace").unwrap_or(settings.shutdown_grace);
    }
    if let Some(capacity) = raw.channel_capacity {
        settings.channel_capacity = r.positive(&capacity, "spec.settings.channel_capacity", settings.channel_capacity);
    }
    settings
}

fn dead_letter_spec(r: &mut Resolver, raw: &RawDeadLetter) -> Option<DeadLetterSpec> {
    const KEY: &str = "spec.settings.dead_letter";
    match (raw.kind.value.as_str(), &raw.path) {
        ("file", path) => {
            let written = path.as_ref().map_or(defaults::DEAD_LETTER_FILE, |p| p.value.as_str());
            let resolved = r.path(written);
            if let Some(path) = path {
                check_parent_dir(r, path, &resolved, &format!("{KEY}.path"));
            }
            Some(DeadLetterSpec::File(resolved))
        }
        ("stderr", None) => Some(DeadLetterSpec::Stderr),
        ("stderr", Some(path)) => {
            r.problems.on(path, format!("{KEY}.path"), "only `type: file` takes a path");
            None
        }
        (other, _) => {
            r.problems.on(
                &raw.kind,
                format!("{KEY}.type"),
                format!("unknown dead-letter type {other:?} (use file or stderr)"),
            );
            None
        }
    }
}

/// Output files may not exist yet, but their directory must.
fn check_parent_dir(r: &mut Resolver, written: &Spanned<String>, resolved: &Path, key: &str) {
    let parent = resolved.parent().unwrap_or(r.base_dir);
    if !parent.is_dir() {
        r.problems.on(written, key, format!("directory of {} does not exist", written.value));
    }
}

fn source(r: &mut Resolver, raw: &RawSource, key: &str) -> Option<SourceSpec> {
    let buffered_config;
    let config = match &raw.config {
        ConnectorConfig::Buffered(value) => {
            r.problems.set_fallback_line(line_of_spanned(value));
            buffered_config = buffered::source(r, &raw.kind.value, value, key)?;
            buffered_config.as_ref()
        }
        ConnectorConfig::Typed(config) => Some(config),
        ConnectorConfig::Absent => None,
    };
    let kind = source_kind(r, raw, config, key);
    r.problems.set_fallback_line(None);
    Some(SourceSpec { id: raw.id.value.clone(), kind: kind? })
}

fn source_kind(r: &mut Resolver, raw: &RawSource, config: Option<&RawSourceConfig>, key: &str) -> Option<SourceKind> {
    let kind = match (raw.kind.value.as_str(), config) {
        ("generator", Some(RawSourceConfig::Generator(config))) => SourceKind::Generator(generator(r, config, key)?),
        ("generator", _) => SourceKind::Generator(generator(r, &RawGenerator::default(), key)?),
        ("file", Some(RawSourceConfig::File(config))) => {
            let path = r.path(&config.path.value);
            if !config.follow && !path.is_file() {
                r.problems.on(
                    &config.path,
                    format!("{key}.config.path"),
                    format!("{} does not exist", config.path.value),
                );
            }
            SourceKind::File(FileSourceConfig { path, follow: config.follow })
        }
        ("file", _) => {
            r.problems.on(&raw.kind, format!("{key}.config.path"), "a file source needs `config: {path: ...}`");
            return None;
        }
        ("stdin", _) => SourceKind::Stdin,
        ("grpc", Some(RawSourceConfig::Grpc(config))) => {
            SourceKind::Grpc(Box::new(super::resolve_grpc::source(r, config, &raw.id.value, key, &raw.kind)?))
        }
        ("grpc", _) => {
            r.problems.on(&raw.kind, format!("{key}.config.endpoint"), "a grpc source needs `config: {endpoint: ...}`");
            return None;
        }
        ("nats", Some(RawSourceConfig::Nats(config))) => SourceKind::Nats(super::resolve_nats::source(r, config, key)),
        ("nats", _) => {
            r.problems.on(
                &raw.kind,
                format!("{key}.config"),
                "a nats source needs `config: {stream: ..., durable: ...}`",
            );
            return None;
        }
        (other, _) => {
            let message = format!("unknown source type {other:?} (use generator, file, stdin, grpc or nats)");
            r.problems.on(&raw.kind, format!("{key}.type"), message);
            return None;
        }
    };
    Some(kind)
}

fn generator(r: &mut Resolver, raw: &RawGenerator, key: &str) -> Option<GeneratorConfig> {
    let profile = match raw.profile {
        None | Some(RawProfile::Simple) => GeneratorProfile::Simple,
        Some(RawProfile::Stellar) => GeneratorProfile::Stellar,
    };
    let rate = match &raw.rate {
        Some(rate) if !(rate.value.is_finite() && rate.value > 0.0) => {
            let message = format!("{} is not a rate (events per second, above 0; leave out for no limit)", rate.value);
            r.problems.on(rate, format!("{key}.config.rate"), message);
            None
        }
        other => other.as_ref().map(|rate| rate.value),
    };
    let event_size = match &raw.event_size {
        None => defaults::GENERATOR_EVENT_SIZE,
        Some(text) => {
            let bytes = r.size(text, &format!("{key}.config.event_size"))?;
            usize::try_from(bytes).unwrap_or(usize::MAX)
        }
    };
    Some(GeneratorConfig {
        profile,
        count: raw.count,
        rate,
        event_size,
        seed: raw.seed.unwrap_or(defaults::GENERATOR_SEED),
    })
}

fn sink(r: &mut Resolver, raw: &RawSink, key: &str) -> Option<SinkSpec> {
    let buffered_config;
    let config = match &raw.config {
        ConnectorConfig::Buffered(value) => {
            r.problems.set_fallback_line(line_of_spanned(value));
            buffered_config = buffered::sink(r, &raw.kind.value, value, key)?;
            buffered_config.as_ref()
        }
        ConnectorConfig::Typed(config) => Some(config),
        ConnectorConfig::Absent => None,
    };
    let kind = sink_kind(r, raw, config, key);
    r.problems.set_fallback_line(None);
    let inputs = raw.inputs.as_ref().map(|list| list.value.iter().map(|id| id.value.clone()).collect());
    Some(SinkSpec { id: raw.id.value.clone(), inputs: inputs.unwrap_or_default(), kind: kind? })
}

fn sink_kind(r: &mut Resolver, raw: &RawSink, config: Option<&RawSinkConfig>, key: &str) -> Option<SinkKind> {
    let kind = match (raw.kind.value.as_str(), config) {
        ("stdout", Some(RawSinkConfig::Stdout(config))) => SinkKind::Stdout { pretty: config.pretty },
        ("stdout", _) => SinkKind::Stdout { pretty: false },
        ("file", Some(RawSinkConfig::File(config))) => {
            let path = r.path(&config.path.value);
            check_parent_dir(r, &config.path, &path, &format!("{key}.config.path"));
            SinkKind::File { path }
        }
        ("file", _) => {
            r.problems.on(&raw.kind, format!("{key}.config.path"), "a file sink needs `config: {path: ...}`");
            return None;
        }
        ("null", _) => SinkKind::Null,
        ("grpc", Some(RawSinkConfig::Grpc(config))) => {
            SinkKind::Grpc(Box::new(super::resolve_grpc::sink(r, config, key, &raw.kind)?))
        }
        ("grpc", _) => {
            r.problems.on(&raw.kind, format!("{key}.config.endpoint"), "a grpc sink needs `config: {endpoint: ...}`");
            return None;
        }
        ("grpc_server", Some(RawSinkConfig::GrpcServer(config))) => {
            SinkKind::GrpcServer(super::resolve_grpc::server(r, config, key)?)
        }
        ("nats", Some(RawSinkConfig::Nats(config))) => SinkKind::Nats(super::resolve_nats::sink(r, config, key)),
        ("nats", _) => {
            r.problems.on(
                &raw.kind,
                format!("{key}.config"),
                "a nats sink needs `config: {stream: ..., subject: ...}`",
            );
            return None;
        }
        ("grpc_server", _) => {
            r.problems.on(
                &raw.kind,
                format!("{key}.config.listen"),
                "a grpc_server sink needs `config: {listen: ip:port}`",
            );
            return None;
        }
        (other, _) => {
            let message = format!("unknown sink type {other:?} (use stdout, file, null, grpc, grpc_server or nats)");
            r.problems.on(&raw.kind, format!("{key}.type"), message);
            return None;
        }
    };
    Some(kind)
}

/// A connector `config:` written before its `type:`: typed now, from the buffered value.
/// Problems inside it point at the `config:` line (the buffered value has no finer positions).
pub(crate) mod buffered {
    use serde::de::DeserializeOwned;
    use serde_saphyr::Spanned;

    use super::super::raw_connectors::RawNoConfig;
    use super::super::yaml::user_key_path;
    use super::{RawSinkConfig, RawSourceConfig, Resolver};

    pub(crate) fn typed<T: DeserializeOwned>(
        r: &mut Resolver,
        value: &Spanned<serde_json::Value>,
        key: &str,
    ) -> Option<T> {
        serde_path_to_error::deserialize(&value.value)
            .map_err(|error| {
                let inner = error.path().to_string();
                let full = if inner == "." { format!("{key}.config") } else { format!("{key}.config.{inner}") };
                r.problems.on(value, user_key_path(&full), error.inner().to_string());
            })
            .ok()
    }

    /// `Some(None)` for an unknown type (reported by the caller), `None` when the config is bad.
    pub(super) fn source(
        r: &mut Resolver,
        kind: &str,
        value: &Spanned<serde_json::Value>,
        key: &str,
    ) -> Option<Option<RawSourceConfig>> {
        Some(Some(match kind {
            "generator" => RawSourceConfig::Generator(typed(r, value, key)?),
            "file" => RawSourceConfig::File(typed(r, value, key)?),
            "stdin" => {
                typed::<Option<RawNoConfig>>(r, value, key)?;
                RawSourceConfig::Stdin
            }
            "grpc" => RawSourceConfig::Grpc(typed(r, value, key)?),
            "nats" => RawSourceConfig::Nats(typed(r, value, key)?),
            _ => return Some(None),
        }))
    }

    pub(super) fn sink(
        r: &mut Resolver,
        kind: &str,
        value: &Spanned<serde_json::Value>,
        key: &str,
    ) -> Option<Option<RawSinkConfig>> {
        Some(Some(match kind {
            "stdout" => RawSinkConfig::Stdout(typed::<Option<_>>(r, value, key)?.unwrap_or_default()),
            "file" => RawSinkConfig::File(typed(r, value, key)?),
            "null" => {
                typed::<Option<RawNoConfig>>(r, value, key)?;
                RawSinkConfig::Null
            }
            "grpc" => RawSinkConfig::Grpc(typed(r, value, key)?),
            "grpc_server" => RawSinkConfig::GrpcServer(typed(r, value, key)?),
            "nats" => RawSinkConfig::Nats(typed(r, value, key)?),
            _ => return Some(None),
        }))
    }
}
