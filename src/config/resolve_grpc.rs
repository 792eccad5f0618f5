//! The gRPC connectors' `config:` to the model: endpoints, TLS files, process
//! commands, stream and batch settings, the subscriber fan-out's policy.

use std::net::SocketAddr;
use std::time::Duration;

use serde_saphyr::Spanned;

use super::defaults;
use super::model::*;
use super::raw::UnitText;
use super::raw_grpc::*;
use super::resolve::Resolver;

/// The remote keys, checked. `at` is the connector's `type:` (the line for a missing key).
fn remote(r: &mut Resolver, raw: RemoteKeys, key: &str, at: &Spanned<String>) -> Option<RemoteSpec> {
    let mut spec = RemoteSpec::new(None);
    let mut ok = true;
    if let Some(endpoint) = raw.endpoint {
        let text = endpoint.value.trim();
        let valid = (text.starts_with("http://") || text.starts_with("https://"))
            && text.parse::<tonic::transport::Uri>().is_ok_and(|uri| uri.host().is_some());
        if valid {
            spec.endpoint = Some(text.to_owned());
        } else {
            let message = format!("{text:?} is not a gRPC endpoint (use http://host:port or https://host:port)");
            r.problems.on(endpoint, format!("{key}.endpoint"), message);
            ok = false;
        }
    }
    if let Some(tls) = raw.tls {
        spec.tls = tls_spec(r, tls, &format!("{key}.tls"), at);
    }
    spec.headers = raw.headers.clone();
    if let Some(command) = raw.command {
        spec.process = process_spec(r, &raw, command, key);
        ok &= spec.process.is_some();
    }
    if raw.endpoint.is_none() && raw.command.is_none() {
        let message = "needs `endpoint:` (where the component listens) or `command:` (to start it)";
        r.problems.on(at, format!("{key}.endpoint"), message);
        ok = false;
    }
    if let Some(timeout) = raw.connect_timeout {
        spec.connect_timeout = r.duration(timeout, &format!("{key}.connect_timeout")).unwrap_or(spec.connect_timeout);
    }
    if let Some(backoff) = raw.backoff {
        if let Some(initial) = &backoff.initial {
            spec.backoff.initial =
                r.duration(initial, &format!("{key}.backoff.initial")).unwrap_or(spec.backoff.initial);
        }
        if let Some(max) = &backoff.max {
            spec.backoff.max = r.duration(max, &format!("{key}.backoff.max")).unwrap_or(spec.backoff.max);
        }
        spec.backoff.max = spec.backoff.max.max(spec.backoff.initial);
    }
    ok.then_some(spec)
}

fn tls_spec(r: &mut Resolver, raw: &RawTls, key: &str, at: &Spanned<String>) -> Option<TlsSpec> {
    let file = |r: &mut Resolver, written: &Option<Spanned<String>>, name: &str| {
        let written = written.as_ref()?;
        let path = r.path(&written.value);
        if !path.is_file() {
            r.problems.on(written, format!("{key}.{name}"), format!("{} does not exist", written.value));
        }
        Some(path)
    };
    let spec = TlsSpec {
        ca: file(r, &raw.ca, "ca"),
        cert: file(r, &raw.cert, "cert"),
        key: file(r, &raw.key, "key"),
        domain: raw.domain.clone(),
    };
    if spec.cert.is_some() != spec.key.is_some() {
        r.problems.on(at, key, "a client certificate needs both `cert` and `key`");
    }
    Some(spec)
}

fn process_spec(r: &mut Resolver, raw: &RemoteKeys, command: &Spanned<Vec<String>>, key: &str) -> Option<ProcessSpec> {
    let Some(program) = command.value.first().filter(|p| !p.trim().is_empty()) else {
        r.problems.on(command, format!("{key}.command"), "needs the program to run, e.g. [./bin/source, --flag]");
        return None;
    };
    let mut argv = command.value.clone();
    // A path with a slash is relative to the pipeline file; a bare name is looked up on PATH.
    if program.contains('/') {
        let path = r.path(program);
        if !path.is_file() {
            r.problems.on(command, format!("{key}.command"), format!("{program} does not exist"));
            return None;
        }
        argv[0] = path.display().to_string();
    }
    let mut duration = |text: Option<&Spanned<UnitText>>, name: &str, default: Duration| {
        text.and_then(|t| r.duration(t, &format!("{key}.{name}"))).unwrap_or(default)
    };
    Some(ProcessSpec {
        command: argv,
        env: raw.env.clone(),
        ready_timeout: duration(raw.ready_timeout, "ready_timeout", defaults::PROCESS_READY_TIMEOUT),
        stop_grace: duration(raw.stop_grace, "stop_grace", defaults::PROCESS_STOP_GRACE),
    })
}

pub(crate) fn source(
    r: &mut Resolver,
    raw: &RawGrpcSource,
    id: &str,
    key: &str,
    at: &Spanned<String>,
) -> Option<GrpcSourceConfig> {
    Some(GrpcSourceConfig {
        remote: remote(r, raw.remote(), &format!("{key}.config"), at)?,
        params: raw.params.clone(),
        state_key: raw.state_key.clone().unwrap_or_else(|| id.to_owned()),
    })
}

pub(crate) fn sink(r: &mut Resolver, raw: &RawGrpcSink, key: &str, at: &Spanned<String>) -> Option<GrpcSinkConfig> {
    let key = format!("{key}.config");
    // Every key is checked even when the remote is wrong, so all problems show at once.
    let remote = remote(r, raw.remote(), &key, at);
    let stream_events = raw.stream_events.as_ref().map_or(defaults::GRPC_SINK_STREAM_EVENTS, |n| {
        r.positive(n, &format!("{key}.stream_events"), defaults::GRPC_SINK_STREAM_EVENTS)
    });
    let stream_timeout = raw
        .stream_timeout
        .as_ref()
        .and_then(|t| r.duration(t, &format!("{key}.stream_timeout")))
        .unwrap_or(defaults::GRPC_SINK_STREAM_TIMEOUT);
    Some(GrpcSinkConfig {
        remote: remote?,
        stream_events,
        stream_timeout,
        max_retries: raw.max_retries.unwrap_or(defaults::GRPC_SINK_MAX_RETRIES),
    })
}

pub(crate) fn processor(
    r: &mut Resolver,
    raw: &RawGrpcProcessor,
    key: &str,
    at: &Spanned<String>,
) -> Option<GrpcProcessorConfig> {
    let key = format!("{key}.config");
    let remote = remote(r, raw.remote(), &key, at);
    let positive = |r: &mut Resolver, n: &Option<Spanned<usize>>, name: &str, default: usize| {
        n.as_ref().map_or(default, |n| r.positive(n, &format!("{key}.{name}"), default))
    };
    let mut duration = |text: &Option<Spanned<UnitText>>, name: &str, default: Duration| {
        text.as_ref().and_then(|t| r.duration(t, &format!("{key}.{name}"))).unwrap_or(default)
    };
    let batch_timeout = duration(&raw.batch_timeout, "batch_timeout", defaults::BATCH_TIMEOUT);
    let timeout = duration(&raw.timeout, "timeout", defaults::GRPC_PROCESSOR_TIMEOUT);
    let batch_size = positive(r, &raw.batch_size, "batch_size", defaults::GRPC_PROCESSOR_BATCH_SIZE);
    let concurrency = positive(r, &raw.concurrency, "concurrency", defaults::GRPC_PROCESSOR_CONCURRENCY);
    Some(GrpcProcessorConfig {
        remote: remote?,
        batch_size,
        batch_timeout,
        concurrency,
        timeout,
        max_retries: raw.max_retries.unwrap_or(defaults::GRPC_PROCESSOR_MAX_RETRIES),
    })
}

pub(crate) fn server(r: &mut Resolver, raw: &RawGrpcServer, key: &str) -> Option<GrpcServerConfig> {
    let key = format!("{key}.config");
    let listen = match raw.listen.value.parse::<SocketAddr>() {
        Ok(addr) => Some(addr),
        Err(_) => {
            let message = format!("{:?} is not an address (use ip:port, e.g. 127.0.0.1:50060)", raw.listen.value);
            r.problems.on(&raw.listen, format!("{key}.listen"), message);
            None
        }
    };
    let buffer = raw.buffer.as_ref().map_or(defaults::GRPC_SERVER_BUFFER, |n| {
        r.positive(n, &format!("{key}.buffer"), defaults::GRPC_SERVER_BUFFER)
    });
    let slow_subscriber = match &raw.slow_subscriber {
        None => Some(SlowSubscriber::Block),
        Some(policy) => match policy.value.as_str() {
            "block" => Some(SlowSubscriber::Block),
            "drop_oldest" => Some(SlowSubscriber::DropOldest),
            "disconnect" => Some(SlowSubscriber::Disconnect),
            other => {
                let message = format!("unknown policy {other:?} (use {})", SlowSubscriber::NAMES.join(", "));
                r.problems.on(policy, format!("{key}.slow_subscriber"), message);
                None
            }
        },
    };
    Some(GrpcServerConfig { listen: listen?, buffer, slow_subscriber: slow_subscriber? })
}
