//! One test per check of `flowctl.yaml`: the exact `line: key: message` of each problem.

#![allow(clippy::unwrap_used)] // tests: a failed unwrap is a failed test

use std::path::Path;

use super::tests::{wrap, Dir, MINIMAL};
use super::*;

const SINK_OF_P: &str = "  sinks: [{id: out, type: stdout, inputs: [p]}]\n";

/// A pipeline whose only processor `p` has the given `wasm:` block lines (indented 8).
fn with_wasm(lines: &str) -> String {
    format!("spec:\n  sources: [{{id: src, type: generator}}]\n  processors:\n    - id: p\n      type: wasm\n      inputs: [src]\n      wasm:\n{lines}{SINK_OF_P}")
}

#[test]
fn a_cycle_is_named() {
    let dir = Dir::new();
    let problems = dir.problems(
        "spec:\n  sources: [{id: src, type: generator}]\n  processors:\n    - {id: a, type: wasm, inputs: [src, c], wasm: {module: m.wasm}}\n    - {id: b, type: wasm, inputs: [a], wasm: {module: m.wasm}}\n    - {id: c, type: wasm, inputs: [b], wasm: {module: m.wasm}}\n  sinks: [{id: out, type: stdout, inputs: [c]}]\n",
    );
    assert_eq!(problems, ["7: spec.processors[0].inputs: cycle: a -> b -> c -> a"]);
}

#[test]
fn a_processor_reading_itself_is_a_cycle() {
    let dir = Dir::new();
    let problems = dir.problems(&with_wasm("        module: m.wasm\n").replace("inputs: [src]", "inputs: [src, p]"));
    assert_eq!(problems, ["9: spec.processors[0].inputs: cycle: p -> p"]);
}

#[test]
fn graph_problems_are_all_reported() {
    let dir = Dir::new();
    let problems = dir.problems(
        "\
spec:
  sources: [{id: src, type: generator, inputs: [x]}]
  processors:
    - {id: src, type: wasm, inputs: [nope], wasm: {module: m.wasm}}
    - {id: p, type: wasm, wasm: {module: m.wasm}}
  sinks:
    - {id: out, type: stdout, inputs: [p, out]}
    - {id: o2, type: stdout, inputs: []}
",
    );
    assert_eq!(
        problems,
        [
            "5: spec.sources[0].inputs: a source has no inputs; remove `inputs:`",
            "5: spec.sources[0].id: no processor or sink lists \"src\" in its inputs, so its events would go nowhere",
            "7: spec.processors[0].id: duplicate id \"src\" (already used by the source spec.sources[0] at line 5)",
            "7: spec.processors[0].inputs[0]: unknown id \"nope\" (known sources and processors: src, p)",
            "8: spec.processors[1].inputs: a processor needs at least one input (e.g. inputs: [<source id>])",
            "10: spec.sinks[0].inputs[1]: \"out\" is a sink; a sink has no output to read",
            "11: spec.sinks[1].inputs: a sink needs at least one input (e.g. inputs: [<source id>])",
        ]
    );
}

#[test]
fn a_pipeline_needs_a_source_and_a_sink() {
    let dir = Dir::new();
    let problems = dir.problems("spec:\n  processors: []\n");
    assert_eq!(
        problems,
        ["5: spec.sources: a pipeline needs at least one source", "5: spec.sinks: a pipeline needs at least one sink"]
    );
}

#[test]
fn unknown_types_are_reported_with_their_line() {
    let dir = Dir::new();
    let problems = dir.problems(
        "spec:\n  sources: [{id: src, type: kafka, config: {topic: t}}]\n  processors:\n    - {id: p, type: lambda, inputs: [src]}\n  sinks: [{id: out, type: s3, inputs: [p]}]\n",
    );
    assert_eq!(
        problems,
        [
            "5: spec.sources[0].type: unknown source type \"kafka\" (use generator, file, stdin, grpc or nats)",
            "7: spec.processors[0].type: unknown processor type \"lambda\" (use wasm or grpc)",
            "8: spec.sinks[0].type: unknown sink type \"s3\" (use stdout, file, null, grpc, grpc_server or nats)",
        ]
    );
}

#[test]
fn bad_values_are_all_reported() {
    let dir = Dir::new();
    let problems = dir.problems(&with_wasm(
        "        module: missing/x.wasm\n        pool_size: 0\n        batch_size: 0\n        batch_timeout: soon\n        limits: {memory: 32XB, timeout: 5 parsecs, fuel: 0, max_input: 0}\n",
    ));
    assert_eq!(
        problems,
        [
            "11: spec.processors[0].wasm.module: missing/x.wasm does not exist (run scripts/build-processors.sh?)",
            "12: spec.processors[0].wasm.pool_size: must be at least 1",
            "13: spec.processors[0].wasm.batch_size: must be at least 1",
            "14: spec.processors[0].wasm.batch_timeout: \"soon\" is not a duration (use e.g. 250us, 50ms, 5s, 1m)",
            "15: spec.processors[0].wasm.limits.memory: \"32XB\" is not a size (use e.g. 32MiB, 64KiB, 1GB or a number of bytes)",
            "15: spec.processors[0].wasm.limits.fuel: must be at least 1 (leave out to disable fuel metering)",
            "15: spec.processors[0].wasm.limits.timeout: \"5 parsecs\" is not a duration (use e.g. 250us, 50ms, 5s, 1m)",
            "15: spec.processors[0].wasm.limits.max_input: must be above 0 and fit in memory",
        ]
    );
}

#[test]
fn module_and_versions_are_exclusive_and_one_is_required() {
    let dir = Dir::new();
    let both = dir.problems(&with_wasm("        module: m.wasm\n        versions: [{module: m.wasm, weight: 1}]\n"));
    assert_eq!(both, ["11: spec.processors[0].wasm: use either `module:` or `versions:`, not both"]);
    let neither = dir.problems(&with_wasm("        pool_size: 1\n"));
    assert_eq!(
        neither,
        ["11: spec.processors[0].wasm: needs `module:` (one module) or `versions:` (weighted versions)"]
    );
    let no_block = dir.problems(&with_wasm("").replace("      wasm:\n", ""));
    assert_eq!(
        no_block,
        ["7: spec.processors[0].wasm: a wasm processor needs a `wasm:` block with `module:` or `versions:`"]
    );
}

#[test]
fn versions_routing_and_rollback_are_checked() {
    let dir = Dir::new();
    let problems = dir.problems(&with_wasm(
        "        versions:\n          - {name: v1, module: m.wasm, weight: 0}\n          - {name: v1, module: gone.wasm, weight: 0}\n        route_by: user\n        rollback: {max_error_rate: 2, min_events: 0}\n",
    ));
    assert_eq!(
        problems,
        [
            "12: spec.processors[0].wasm.versions: all weights are 0: no version would get any traffic",
            "13: spec.processors[0].wasm.versions[1].name: duplicate version name \"v1\" (first at line 12)",
            "13: spec.processors[0].wasm.versions[1].module: gone.wasm does not exist (run scripts/build-processors.sh?)",
            "14: spec.processors[0].wasm.route_by: \"user\" is not a routing key (use id, or data.<field path> such as data.account)",
            "15: spec.processors[0].wasm.rollback.max_error_rate: 2 is not an error rate (a fraction above 0 and at most 1, e.g. 0.05)",
            "15: spec.processors[0].wasm.rollback.min_events: must be at least 1",
        ]
    );
    let empty = dir.problems(&with_wasm("        versions: []\n"));
    assert_eq!(empty, ["11: spec.processors[0].wasm.versions: needs at least one version"]);
}

#[test]
fn circuit_breaker_is_checked() {
    let dir = Dir::new();
    let problems = dir.problems(&with_wasm(
        "        module: m.wasm\n        circuit_breaker: {max_restarts: 0, window: 0s, cooldown: soon}\n",
    ));
    assert_eq!(
        problems,
        [
            "12: spec.processors[0].wasm.circuit_breaker.max_restarts: must be at least 1",
            "12: spec.processors[0].wasm.circuit_breaker.window: must be above 0",
            "12: spec.processors[0].wasm.circuit_breaker.cooldown: \"soon\" is not a duration (use e.g. 250us, 50ms, 5s, 1m)",
        ]
    );
}

#[test]
fn the_admin_api_off_loopback_needs_a_token() {
    let dir = Dir::new();
    let settings = |lines: &str| format!("spec:\n  settings:\n{lines}{}", &MINIMAL["spec:\n".len()..]);
    let problems = dir.problems(&settings("    metrics_addr: 0.0.0.0:9464\n    admin_token: \" \"\n"));
    assert_eq!(
        problems,
        [
            "6: spec.settings.metrics_addr: 0.0.0.0:9464 is not a loopback address, and the admin API listens there too: set spec.settings.admin_token_file (or admin_token, or FLOWCTL_ADMIN_TOKEN)",
            "7: spec.settings.admin_token: must not be empty",
        ]
    );
    assert!(dir.parse(&settings("    metrics_addr: \"[::1]:9464\"\n")).is_ok(), "IPv6 loopback needs no token");
}

#[test]
fn http_permission_is_checked() {
    let dir = Dir::new();
    let problems = dir.problems(&with_wasm(
        "        module: m.wasm\n        permissions:\n          http: {allowed_domains: [\"https://x.com\", ok.com], max_requests_per_minute: 0}\n",
    ));
    assert_eq!(
        problems,
        [
            "13: spec.processors[0].wasm.permissions.http.allowed_domains[0]: \"https://x.com\" is not a host name (write e.g. api.example.com, no scheme or path)",
            "13: spec.processors[0].wasm.permissions.http.max_requests_per_minute: must be at least 1",
        ]
    );
}

#[test]
fn http_networks_ports_and_body_caps_are_checked() {
    let dir = Dir::new();
    let problems = dir.problems(&with_wasm(
        "        module: m.wasm\n        permissions:\n          http:\n            allowed_domains: [ok.com]\n            allowed_networks: [10.1.2.3/16, 10.0.0.0/33, localhost, 127.0.0.0/8]\n            allowed_ports: [0, 443, 70000]\n            max_request_body: 0\n            max_response_body: 1XB\n",
    ));
    let key = "spec.processors[0].wasm.permissions.http";
    assert_eq!(
        problems,
        [
            format!("15: {key}.allowed_networks[0]: 10.1.2.3/16 has bits set past its prefix (did you mean 10.1.0.0/16?)"),
            format!("15: {key}.allowed_networks[1]: prefix /33 is longer than the address (32 bits)"),
            format!("15: {key}.allowed_networks[2]: \"localhost\" is not an IP network (write e.g. 10.1.0.0/16 or fd00::/8)"),
            format!("16: {key}.allowed_ports[0]: 0 is not a port (1 to 65535)"),
            format!("16: {key}.allowed_ports[2]: 70000 is not a port (1 to 65535)"),
            format!("17: {key}.max_request_body: must be above 0 and fit in memory"),
            format!("18: {key}.max_response_body: \"1XB\" is not a size (use e.g. 32MiB, 64KiB, 1GB or a number of bytes)"),
        ]
    );
    let problems = dir.problems(&with_wasm(
        "        module: m.wasm\n        permissions: {http: {allowed_domains: [ok.com], allowed_ports: []}}\n",
    ));
    assert_eq!(
        problems,
        [format!("12: {key}.allowed_ports: needs at least one port (leave out `http:` to deny HTTP)")]
    );
}

#[test]
fn http_defaults_are_the_documented_ones() {
    let dir = Dir::new();
    let pipeline = dir
        .parse(&with_wasm("        module: m.wasm\n        permissions: {http: {allowed_domains: [ok.com]}}\n"))
        .unwrap();
    let http = pipeline.processors[0].wasm().unwrap().permissions.http.clone().unwrap();
    assert_eq!(http.allowed_ports, [80, 443]);
    assert!(http.allowed_networks.is_empty(), "no non-public network unless listed");
    assert_eq!((http.max_request_body, http.max_response_body), (1024 * 1024, 4 * 1024 * 1024));
    assert_eq!((http.timeout, http.max_requests_per_minute), (std::time::Duration::from_secs(5), 600));
}

#[test]
fn settings_are_checked() {
    let dir = Dir::new();
    let problems = dir.problems(&format!(
        "spec:\n  settings:\n    log_level: loud\n    metrics_addr: localhost\n    dead_letter: {{type: kafka}}\n    shutdown_grace: 10\n    channel_capacity: 0\n{}",
        &MINIMAL["spec:\n".len()..]
    ));
    assert_eq!(
        problems,
        [
            "6: spec.settings.log_level: \"loud\" is not a log level (use one of error, warn, info, debug, trace)",
            "7: spec.settings.metrics_addr: \"localhost\" is not an address (use ip:port, e.g. 127.0.0.1:9464)",
            "8: spec.settings.dead_letter.type: unknown dead-letter type \"kafka\" (use file or stderr)",
            "9: spec.settings.shutdown_grace: \"10\" is not a duration (use e.g. 250us, 50ms, 5s, 1m)",
            "10: spec.settings.channel_capacity: must be at least 1",
        ]
    );
}

#[test]
fn generator_and_file_values_are_checked() {
    let dir = Dir::new();
    let problems = dir.problems(
        "spec:\n  sources:\n    - {id: g, type: generator, config: {rate: -1, event_size: big}}\n    - {id: f, type: file, config: {path: nothere.jsonl}}\n  sinks:\n    - {id: out, type: file, inputs: [g, f], config: {path: no/such/dir/out.jsonl}}\n",
    );
    assert_eq!(
        problems,
        [
            "6: spec.sources[0].config.rate: -1 is not a rate (events per second, above 0; leave out for no limit)",
            "6: spec.sources[0].config.event_size: \"big\" is not a size (use e.g. 32MiB, 64KiB, 1GB or a number of bytes)",
            "7: spec.sources[1].config.path: nothere.jsonl does not exist",
            "9: spec.sinks[0].config.path: directory of no/such/dir/out.jsonl does not exist",
        ]
    );
}

#[test]
fn unknown_keys_are_named_with_line_and_path() {
    let dir = Dir::new();
    let problems = dir.problems(&with_wasm("        module: m.wasm\n        limits:\n          memroy: 3MiB\n"));
    assert_eq!(
        problems,
        ["13: spec.processors[0].wasm.limits.memroy: unknown key `memroy`, expected one of memory, fuel, timeout, max_input, max_output, max_outputs, log_lines_per_second, max_state_key, max_state_value, max_state"]
    );
}

#[test]
fn unknown_keys_inside_a_connector_config_are_errors() {
    let dir = Dir::new();
    let typed = dir.problems(
        "spec:\n  sources:\n    - id: g\n      type: generator\n      config:\n        profile: stellar\n        colour: red\n  sinks: [{id: out, type: stdout, inputs: [g]}]\n",
    );
    assert_eq!(
        typed,
        ["10: spec.sources[0].config.colour: unknown key `colour`, expected one of profile, count, rate, event_size, seed"]
    );
    let sink = dir.problems(
        "spec:\n  sources: [{id: g, type: generator}]\n  sinks:\n    - {id: out, type: stdout, inputs: [g], config: {pretty: true, color: true}}\n",
    );
    assert_eq!(sink, ["7: spec.sinks[0].config.color: unknown key `color`, expected one of pretty"]);
}

#[test]
fn a_connector_config_before_its_type_is_still_typed() {
    let dir = Dir::new();
    let text = "spec:\n  sources:\n    - id: g\n      config: {profile: stellar, count: 3}\n      type: generator\n  sinks: [{id: out, type: stdout, inputs: [g]}]\n";
    let pipeline = dir.parse(text).unwrap();
    let SourceKind::Generator(g) = &pipeline.sources[0].kind else { panic!("generator") };
    assert_eq!((g.profile, g.count), (GeneratorProfile::Stellar, Some(3)));
    let problems = dir.problems(&text.replace("count: 3", "count: 3, colour: red"));
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert!(problems[0].starts_with("7: spec.sources[0].config.colour: unknown field `colour`"), "{problems:?}");
}

#[test]
fn wrong_api_version_and_kind_are_reported_together() {
    let text = "apiVersion: flowctl/v2\nkind: Pipe\nmetadata: {name: t}\nspec:\n  sources: [{id: src, type: generator}]\n  sinks: [{id: out, type: stdout, inputs: [src]}]\n";
    let errors = parse_str(text, Path::new("x.yaml")).unwrap_err();
    assert_eq!(
        errors.to_string(),
        "x.yaml:1: apiVersion: \"flowctl/v2\" is not supported (use flowctl/v1)\nx.yaml:2: kind: \"Pipe\" is not a known kind (use Pipeline)"
    );
}

#[test]
fn a_type_error_has_line_and_key() {
    let dir = Dir::new();
    let problems = dir.problems(&with_wasm("        module: m.wasm\n        pool_size: many\n"));
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert!(problems[0].starts_with("12: spec.processors[0].wasm.pool_size: "), "{problems:?}");
}

#[test]
fn a_missing_file_is_named() {
    let errors = load(Path::new("/nonexistent/flowctl.yaml")).unwrap_err();
    assert_eq!(errors.to_string(), "/nonexistent/flowctl.yaml: no such file");
}

#[test]
fn an_input_listed_twice_is_reported() {
    let dir = Dir::new();
    let problems = dir.problems(&with_wasm("        module: m.wasm\n").replace("inputs: [src]", "inputs: [src, src]"));
    assert_eq!(problems, ["9: spec.processors[0].inputs[1]: \"src\" is listed twice; each event would arrive twice"]);
}

#[test]
fn a_nan_rate_is_rejected() {
    let dir = Dir::new();
    let problems = dir.problems("spec:\n  sources: [{id: g, type: generator, config: {rate: .nan}}]\n  sinks: [{id: o, type: stdout, inputs: [g]}]\n");
    assert_eq!(
        problems,
        ["5: spec.sources[0].config.rate: NaN is not a rate (events per second, above 0; leave out for no limit)"]
    );
}

#[test]
fn dead_letter_destinations() {
    let dir = Dir::new();
    let with = |dead_letter: &str| {
        format!("spec:\n  settings:\n    dead_letter: {dead_letter}\n{}", &MINIMAL["spec:\n".len()..])
    };
    assert_eq!(
        dir.problems(&with("{type: file, path: dl/x.jsonl}")),
        ["6: spec.settings.dead_letter.path: directory of dl/x.jsonl does not exist"]
    );
    std::fs::create_dir(dir.dir.path().join("dl")).unwrap();
    let pipeline = dir.parse(&with("{type: file, path: dl/x.jsonl}")).unwrap();
    let expected = std::path::absolute(dir.dir.path().join("dl/x.jsonl")).unwrap();
    assert_eq!(pipeline.settings.dead_letter, DeadLetterSpec::File(expected));
    assert_eq!(
        dir.problems(&with("{type: stderr, path: x.jsonl}")),
        ["6: spec.settings.dead_letter.path: only `type: file` takes a path"]
    );
    assert_eq!(
        dir.problems(&with("{type: file, format: csv}")),
        ["6: spec.settings.dead_letter.format: unknown key `format`, expected one of type, path"]
    );
}

#[test]
fn relative_paths_resolve_against_the_file_not_the_working_directory() {
    let dir = Dir::new();
    std::fs::create_dir(dir.dir.path().join("sub")).unwrap();
    std::fs::rename(dir.dir.path().join("m.wasm"), dir.dir.path().join("sub/m.wasm")).unwrap();
    let file = dir.dir.path().join("sub/p.yaml");
    let pipeline = parse_str(&wrap(MINIMAL), &file).unwrap();
    assert_eq!(
        pipeline.processors[0].wasm().expect("wasm").versions[0].module,
        std::path::absolute(dir.dir.path().join("sub/m.wasm")).unwrap()
    );
    assert_eq!(pipeline.source_file, file);
}

#[test]
fn quotas_and_limits_are_checked() {
    let dir = Dir::new();
    let problems = dir.problems(&with_wasm(
        "        module: m.wasm\n        tenant: acme\n        quotas: {cpu_seconds_per_hour: -1, http_requests_per_minute: 0, memory_mb_hours: 5, on_breach: stop}\n        limits: {max_outputs: 0}\n",
    ));
    assert_eq!(
        problems,
        [
            "13: spec.processors[0].wasm.quotas.cpu_seconds_per_hour: must be a number above 0",
            "13: spec.processors[0].wasm.quotas.http_requests_per_minute: must be at least 1",
            "13: spec.processors[0].wasm.quotas.on_breach: \"stop\" is not a quota action (use dead_letter or pause)",
            "14: spec.processors[0].wasm.limits.max_outputs: must be at least 1",
        ]
    );
    let pipeline = dir
        .parse(&with_wasm(
            "        module: m.wasm\n        tenant: acme\n        quotas: {memory_mb_hours: 5, on_breach: pause}\n        limits: {max_outputs: 7, log_lines_per_second: 0}\n",
        ))
        .unwrap();
    let wasm = pipeline.processors[0].wasm().unwrap();
    assert_eq!(wasm.tenant.as_deref(), Some("acme"));
    assert_eq!((wasm.quotas.memory_mb_hours, wasm.quotas.on_breach), (Some(5.0), crate::runtime::QuotaAction::Pause));
    assert_eq!((wasm.limits.max_outputs, wasm.limits.log_lines_per_second), (7, 0));
    assert_eq!(pipeline.tenants()["p"], "acme");
}

#[test]
fn a_processor_granted_state_needs_route_by_for_more_than_one_worker() {
    let dir = Dir::new();
    let problems =
        dir.problems(&with_wasm("        module: m.wasm\n        pool_size: 2\n        permissions: {state: true}\n"));
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert!(
        problems[0].contains("wasm.pool_size: needs `route_by` (the field the processor keeps its state by)"),
        "{problems:?}"
    );
    let fine = dir.parse(&with_wasm("        module: m.wasm\n        permissions: {state: true}\n")).unwrap();
    assert_eq!(fine.processors[0].wasm().map(|w| w.pool_size), Some(1), "one worker by default");
    assert_eq!(fine.processors[0].wasm().map(|w| w.lanes()), Some(1));
    let keyed = dir
        .parse(&with_wasm(
            "        module: m.wasm\n        pool_size: 2\n        route_by: data.user\n        permissions: {state: true}\n",
        ))
        .unwrap();
    assert_eq!(keyed.processors[0].wasm().map(|w| (w.pool_size, w.lanes())), Some((2, 2)), "one lane per worker");
}
