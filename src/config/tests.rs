//! `flowctl.yaml` read right: defaults, every key, the repo's own pipeline. The problem
//! cases are in `check_tests.rs`; both go through the public [`super::parse_str`].

#![allow(clippy::unwrap_used)] // tests: a failed unwrap is a failed test

use std::path::{Path, PathBuf};
use std::time::Duration;

use super::*;

/// A temp directory holding `m.wasm` (placeholder: only existence is checked here) and
/// the pipeline file path messages are reported against.
pub(super) struct Dir {
    pub(super) dir: tempfile::TempDir,
}

impl Dir {
    pub(super) fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("m.wasm"), b"\0asm\x01\0\0\0").unwrap();
        Self { dir }
    }

    pub(super) fn file(&self) -> PathBuf {
        self.dir.path().join("p.yaml")
    }

    pub(super) fn parse(&self, spec: &str) -> Result<Pipeline, ConfigErrors> {
        parse_str(&wrap(spec), &self.file())
    }

    /// The problems as `line: key: message` (without the file name), one per entry.
    pub(super) fn problems(&self, spec: &str) -> Vec<String> {
        let errors = self.parse(spec).expect_err("expected problems");
        errors
            .iter()
            .map(|e| format!("{}: {}: {}", e.line.map_or("?".into(), |l| l.to_string()), e.key, e.message))
            .collect()
    }
}

/// The envelope, so tests write only `spec:` (which starts on line 4).
pub(super) fn wrap(spec: &str) -> String {
    format!("apiVersion: flowctl/v1\nkind: Pipeline\nmetadata: {{name: t}}\n{spec}")
}

pub(super) const MINIMAL: &str = "\
spec:
  sources: [{id: src, type: generator}]
  processors:
    - {id: p, type: wasm, inputs: [src], wasm: {module: m.wasm}}
  sinks: [{id: out, type: stdout, inputs: [p]}]
";

#[test]
fn minimal_pipeline_gets_every_default() {
    let dir = Dir::new();
    let pipeline = dir.parse(MINIMAL).unwrap();
    assert_eq!(pipeline.name, "t");
    assert_eq!(pipeline.settings.log_level, "info");
    assert_eq!(pipeline.settings.metrics_addr, defaults::METRICS_ADDR);
    assert_eq!(pipeline.settings.shutdown_grace, Duration::from_secs(10));
    assert_eq!(pipeline.settings.channel_capacity, 16);
    let dead_letters = std::path::absolute(dir.dir.path().join("dead-letters.jsonl")).unwrap();
    assert_eq!(pipeline.settings.dead_letter, DeadLetterSpec::File(dead_letters));
    let SourceKind::Generator(generator) = &pipeline.sources[0].kind else { panic!("generator") };
    assert_eq!(generator.profile, GeneratorProfile::Simple);
    assert_eq!((generator.count, generator.rate, generator.event_size, generator.seed), (None, None, 256, 1));
    let p = &pipeline.processors[0];
    assert_eq!(p.inputs, vec!["src".to_string()]);
    assert_eq!(p.config, serde_json::json!({}));
    assert_eq!(p.wasm().expect("a wasm processor").versions.len(), 1);
    assert_eq!(p.wasm().expect("a wasm processor").versions[0].weight, 100);
    assert!(p.wasm().expect("a wasm processor").versions[0].module.is_absolute());
    assert!(p.wasm().expect("a wasm processor").versions[0].module.ends_with("m.wasm"));
    assert_eq!(p.wasm().expect("a wasm processor").route_by, "id");
    assert_eq!(
        (
            p.wasm().expect("a wasm processor").pool_size,
            p.wasm().expect("a wasm processor").batch_size,
            p.wasm().expect("a wasm processor").max_retries
        ),
        (2, 128, 2)
    );
    assert_eq!(p.wasm().expect("a wasm processor").batch_timeout, Duration::from_millis(5));
    assert_eq!(p.wasm().expect("a wasm processor").limits, crate::runtime::Limits::default());
    assert_eq!(p.wasm().expect("a wasm processor").permissions, crate::runtime::Permissions::default());
    assert!(
        p.wasm().expect("a wasm processor").rollback.is_none()
            && p.wasm().expect("a wasm processor").circuit_breaker.is_none()
    );
    assert_eq!((pipeline.settings.admin_token, pipeline.settings.hot_reload), (None, true));
    assert!(matches!(pipeline.sinks[0].kind, SinkKind::Stdout { pretty: false }));
}

#[test]
fn every_key_is_read() {
    let dir = Dir::new();
    std::fs::write(dir.dir.path().join("in.jsonl"), "").unwrap();
    let pipeline = dir
        .parse(
            "\
spec:
  settings:
    log_level: debug
    metrics_addr: 0.0.0.0:9000
    admin_token: s3cret
    hot_reload: false
    dead_letter: {type: stderr}
    shutdown_grace: 1m
    channel_capacity: 4
  sources:
    - {id: g, type: generator, config: {profile: stellar, count: 10, rate: 2.5, event_size: 1KiB, seed: 7}}
    - {id: f, type: file, config: {path: in.jsonl, follow: true}}
    - {id: s, type: stdin}
  processors:
    - id: p
      type: wasm
      inputs: [g, f, s]
      config: {field: data.transfer, op: exists, n: [1, 2.5, true, null]}
      wasm:
        versions:
          - {name: v1, module: m.wasm, weight: 90}
          - {module: m.wasm, weight: 10}
        route_by: data.account
        rollback: {max_error_rate: 0.05, min_events: 500}
        circuit_breaker: {max_restarts: 5, window: 10s, cooldown: 1m}
        pool_size: 4
        batch_size: 256
        batch_timeout: 250us
        max_retries: 0
        limits: {memory: 32MiB, fuel: 1000, timeout: 50ms, max_input: 1MB, max_output: 2MiB}
        permissions:
          log: false
          metrics: false
          http:
            allowed_domains: [api.example.com]
            allowed_networks: [127.0.0.0/8, 10.1.0.0/16, 10.9.9.9, 'fd00::/8']
            allowed_ports: [8443]
            timeout: 2s
            max_requests_per_minute: 60
            max_request_body: 64KiB
            max_response_body: 2MiB
  sinks:
    - {id: a, type: stdout, inputs: [p], config: {pretty: true}}
    - {id: b, type: file, inputs: [p], config: {path: out.jsonl}}
    - {id: c, type: 'null', inputs: [p]}
    - {id: d, type: null, inputs: [p]}
",
        )
        .unwrap();
    let s = &pipeline.settings;
    assert_eq!(s.log_level, "debug");
    assert_eq!(s.metrics_addr.to_string(), "0.0.0.0:9000");
    let token = s.admin_token.as_ref().unwrap();
    assert_eq!((token.secret.as_str(), &token.source, s.hot_reload), ("s3cret", &TokenSource::Setting, false));
    assert_eq!(s.dead_letter, DeadLetterSpec::Stderr);
    assert_eq!((s.shutdown_grace, s.channel_capacity), (Duration::from_secs(60), 4));
    let SourceKind::Generator(g) = &pipeline.sources[0].kind else { panic!("generator") };
    assert_eq!(g.profile, GeneratorProfile::Stellar);
    assert_eq!((g.count, g.rate, g.event_size, g.seed), (Some(10), Some(2.5), 1024, 7));
    let SourceKind::File(f) = &pipeline.sources[1].kind else { panic!("file") };
    assert!(f.follow && f.path.ends_with("in.jsonl") && f.path.is_absolute());
    assert!(matches!(pipeline.sources[2].kind, SourceKind::Stdin));
    let p = &pipeline.processors[0];
    assert_eq!(p.config, serde_json::json!({"field": "data.transfer", "op": "exists", "n": [1, 2.5, true, null]}));
    let w = p.wasm().expect("a wasm processor");
    assert_eq!(w.versions[0].name.as_deref(), Some("v1"));
    assert_eq!((w.versions[0].weight, w.versions[1].weight, w.versions[1].name.clone()), (90, 10, None));
    assert_eq!(w.route_by, "data.account");
    assert_eq!(w.rollback, Some(RollbackSpec { max_error_rate: 0.05, min_events: 500 }));
    let breaker = BreakerSpec { max_restarts: 5, window: Duration::from_secs(10), cooldown: Duration::from_secs(60) };
    assert_eq!(w.circuit_breaker, Some(breaker));
    assert_eq!((w.pool_size, w.batch_size, w.max_retries), (4, 256, 0));
    assert_eq!(w.batch_timeout, Duration::from_micros(250));
    let l = &w.limits;
    assert_eq!((l.memory_bytes, l.fuel, l.timeout), (32 << 20, Some(1000), Duration::from_millis(50)));
    assert_eq!((l.max_input_bytes, l.max_output_bytes), (1_000_000, 2 << 20));
    assert!(!w.permissions.log && !w.permissions.metrics);
    let http = w.permissions.http.as_ref().unwrap();
    assert_eq!(http.allowed_domains, vec!["api.example.com".to_string()]);
    assert_eq!((http.timeout, http.max_requests_per_minute), (Duration::from_secs(2), 60));
    let networks: Vec<String> = http.allowed_networks.iter().map(ToString::to_string).collect();
    assert_eq!(networks, ["127.0.0.0/8", "10.1.0.0/16", "10.9.9.9/32", "fd00::/8"]);
    assert_eq!(http.allowed_ports, [8443]);
    assert_eq!((http.max_request_body, http.max_response_body), (64 * 1024, 2 * 1024 * 1024));
    assert!(matches!(pipeline.sinks[0].kind, SinkKind::Stdout { pretty: true }));
    assert!(matches!(&pipeline.sinks[1].kind, SinkKind::File { path } if path.ends_with("out.jsonl")));
    assert!(matches!(pipeline.sinks[2].kind, SinkKind::Null));
    assert!(matches!(pipeline.sinks[3].kind, SinkKind::Null), "a bare YAML null names the null sink");
}

#[test]
fn the_repo_default_pipeline_is_valid_once_modules_exist() {
    let dir = Dir::new();
    std::fs::create_dir(dir.dir.path().join("processors")).unwrap();
    for module in ["ttp.wasm", "filter.wasm"] {
        std::fs::write(dir.dir.path().join("processors").join(module), b"\0asm").unwrap();
    }
    let text = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("flowctl.yaml")).unwrap();
    let pipeline = parse_str(&text, &dir.dir.path().join("flowctl.yaml")).unwrap();
    assert_eq!(pipeline.name, "stellar-transfers");
    let ids: Vec<&str> = pipeline.processors.iter().map(|p| p.id.as_str()).collect();
    assert_eq!(ids, ["ttp", "filter"]);
    let SourceKind::Generator(g) = &pipeline.sources[0].kind else { panic!("generator") };
    assert!(g.count.is_some(), "the demo must end by itself");
}
