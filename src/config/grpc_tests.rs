//! The gRPC connectors' `config:`: the shapes of docs/grpc.md read right, and
//! each mistake reported as `line: key: message`.

#![allow(clippy::unwrap_used)] // tests: a failed unwrap is a failed test

use std::time::Duration;

use super::tests::Dir;
use super::*;

/// The example pipeline, all four gRPC component kinds.
const SHAPES: &str = "\
spec:
  sources:
    - id: ledgers
      type: grpc
      config:
        endpoint: http://127.0.0.1:50051
        params: {start_ledger: \"1000\"}
        headers: {authorization: Bearer t}
  processors:
    - id: legacy
      type: grpc
      inputs: [ledgers]
      config: {endpoint: http://127.0.0.1:50053}
  sinks:
    - id: db
      type: grpc
      inputs: [legacy]
      config: {endpoint: http://127.0.0.1:50052}
    - id: live
      type: grpc_server
      inputs: [legacy]
      config: {listen: 127.0.0.1:50060, buffer: 1024, slow_subscriber: drop_oldest}
";

#[test]
fn the_documented_shapes_parse_with_their_defaults() {
    let dir = Dir::new();
    let pipeline = dir.parse(SHAPES).unwrap();
    let SourceKind::Grpc(source) = &pipeline.sources[0].kind else { panic!("grpc source") };
    assert_eq!(source.remote.endpoint.as_deref(), Some("http://127.0.0.1:50051"));
    assert_eq!(source.params["start_ledger"], "1000");
    assert_eq!(source.remote.headers["authorization"], "Bearer t");
    assert_eq!(source.state_key, "ledgers");
    assert_eq!(
        source.remote.backoff,
        BackoffSpec { initial: Duration::from_millis(100), max: Duration::from_secs(10) }
    );
    let ProcessorKind::Grpc(processor) = &pipeline.processors[0].kind else { panic!("grpc processor") };
    assert_eq!((processor.batch_size, processor.concurrency, processor.max_retries), (256, 4, 3));
    assert_eq!(pipeline.processors[0].batch_size(), 256);
    let SinkKind::Grpc(sink) = &pipeline.sinks[0].kind else { panic!("grpc sink") };
    assert_eq!((sink.stream_events, sink.max_retries), (8192, 5));
    let SinkKind::GrpcServer(server) = &pipeline.sinks[1].kind else { panic!("grpc_server sink") };
    assert_eq!(server.listen.to_string(), "127.0.0.1:50060");
    assert_eq!((server.buffer, server.slow_subscriber), (1024, SlowSubscriber::DropOldest));
}

#[test]
fn a_process_driven_component_needs_no_endpoint() {
    let dir = Dir::new();
    std::fs::write(dir.dir.path().join("component"), "#!/bin/sh\n").unwrap();
    let pipeline = dir
        .parse(&SHAPES.replace(
            "config: {endpoint: http://127.0.0.1:50053}",
            "config: {command: [./component, --flag], env: {A: b}, stop_grace: 1s}",
        ))
        .unwrap();
    let ProcessorKind::Grpc(processor) = &pipeline.processors[0].kind else { panic!("grpc processor") };
    let process = processor.remote.process.as_ref().unwrap();
    assert!(process.command[0].ends_with("/component") && process.command[0].starts_with('/'));
    assert_eq!(process.command[1], "--flag");
    assert_eq!((process.env["A"].as_str(), process.stop_grace), ("b", Duration::from_secs(1)));
    assert_eq!(processor.remote.endpoint, None);
}

#[test]
fn grpc_mistakes_are_named_with_their_lines() {
    let dir = Dir::new();
    let text = SHAPES
        .replace("endpoint: http://127.0.0.1:50051", "endpoint: 127.0.0.1:50051")
        .replace("config: {endpoint: http://127.0.0.1:50053}", "config: {endpoint: http://127.0.0.1:50053, batch: 5}")
        .replace("config: {endpoint: http://127.0.0.1:50052}", "config: {stream_events: 0}")
        .replace("listen: 127.0.0.1:50060", "listen: somewhere")
        .replace("slow_subscriber: drop_oldest", "slow_subscriber: wait");
    assert_eq!(
        dir.problems(&text),
        [
            "9: spec.sources[0].config.endpoint: \"127.0.0.1:50051\" is not a gRPC endpoint (use http://host:port or https://host:port)",
            "16: spec.processors[0].config.batch: unknown field `batch`, expected one of `endpoint`, `tls`, `headers`, `command`, `env`, `ready_timeout`, `stop_grace`, `connect_timeout`, `backoff`, `batch_size`, `batch_timeout`, `concurrency`, `timeout`, `max_retries`",
            "19: spec.sinks[0].config.endpoint: needs `endpoint:` (where the component listens) or `command:` (to start it)",
            "21: spec.sinks[0].config.stream_events: must be at least 1",
            "25: spec.sinks[1].config.listen: \"somewhere\" is not an address (use ip:port, e.g. 127.0.0.1:50060)",
            "25: spec.sinks[1].config.slow_subscriber: unknown policy \"wait\" (use block, drop_oldest, disconnect)",
        ]
    );
}

#[test]
fn files_a_grpc_component_needs_must_exist() {
    let dir = Dir::new();
    let text = SHAPES
        .replace("headers: {authorization: Bearer t}", "tls: {ca: missing-ca.pem, cert: client.pem}")
        .replace("config: {endpoint: http://127.0.0.1:50053}", "config: {command: [./bin/missing]}");
    let problems = dir.problems(&text);
    assert!(problems.iter().any(|p| p.contains("config.tls.ca: missing-ca.pem does not exist")), "{problems:?}");
    assert!(problems.iter().any(|p| p.contains("needs both `cert` and `key`")), "{problems:?}");
    assert!(problems.iter().any(|p| p.contains("config.command: ./bin/missing does not exist")), "{problems:?}");
}

#[test]
fn a_grpc_processor_takes_no_wasm_block() {
    let dir = Dir::new();
    let text = SHAPES.replace(
        "config: {endpoint: http://127.0.0.1:50053}",
        "config: {endpoint: http://127.0.0.1:50053}\n      wasm: {module: m.wasm}",
    );
    let problems = dir.problems(&text);
    assert_eq!(
        problems,
        ["17: spec.processors[0].wasm: a grpc processor takes no `wasm:` block; its settings go in `config:`"]
    );
}
