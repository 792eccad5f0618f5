//! `flowctl validate <pipeline.yaml>` on the real binary: every bad-config case prints
//! its `file:line: key: message` and exits 1; a good pipeline exits 0.

#![allow(clippy::unwrap_used)] // tests: a failed unwrap is a failed test

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// A passthrough guest satisfying ABI v1 (echoes each event), so a pipeline pointing at it
/// passes any module check `validate` may run, not only the file-exists check.
const PASSTHROUGH_WAT: &str = r#"
(module
  (memory (export "memory") 2)
  (global $next (mut i32) (i32.const 1024))
  (func (export "allocate") (param $size i32) (result i32)
    (local $ptr i32)
    (local.set $ptr (global.get $next))
    (global.set $next (i32.add (global.get $next) (local.get $size)))
    (local.get $ptr))
  (func (export "free") (param i32 i32))
  (func (export "process_event") (param $ptr i32) (param $len i32) (result i64)
    (i64.or
      (i64.shl (i64.extend_i32_u (local.get $ptr)) (i64.const 32))
      (i64.extend_i32_u (local.get $len)))))
"#;

/// A temp directory with `processors/ok.wasm` (a real module) and a pipeline file to validate.
struct Workspace {
    dir: tempfile::TempDir,
}

impl Workspace {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("processors")).unwrap();
        let wasm = wat::parse_str(PASSTHROUGH_WAT).unwrap();
        std::fs::write(dir.path().join("processors/ok.wasm"), wasm).unwrap();
        Self { dir }
    }

    fn write(&self, name: &str, text: &str) -> PathBuf {
        let path = self.dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        path
    }

    fn module(&self, name: &str) {
        std::fs::copy(self.dir.path().join("processors/ok.wasm"), self.dir.path().join("processors").join(name))
            .unwrap();
    }
}

fn validate(file: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_flowctl")).arg("validate").arg(file).output().unwrap()
}

fn combined(output: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr))
}

/// Validates `text` and asserts exit code 1 and that each `line: key: message` is printed for this file.
fn assert_rejected(text: &str, expected: &[&str]) {
    let workspace = Workspace::new();
    let file = workspace.write("pipeline.yaml", text);
    let output = validate(&file);
    let printed = combined(&output);
    assert_eq!(output.status.code(), Some(1), "output:\n{printed}");
    for line in expected {
        let wanted = format!("{}:{line}", file.display());
        assert!(printed.lines().any(|printed| printed.trim_end() == wanted), "missing {wanted:?} in:\n{printed}");
    }
}

const HEAD: &str = "apiVersion: flowctl/v1\nkind: Pipeline\nmetadata: {name: t}\n";

fn pipeline(body: &str) -> String {
    format!("{HEAD}{body}")
}

#[test]
fn a_cycle_is_named() {
    assert_rejected(
        &pipeline(
            "spec:
  sources: [{id: src, type: generator}]
  processors:
    - {id: a, type: wasm, inputs: [src, b], wasm: {module: processors/ok.wasm}}
    - {id: b, type: wasm, inputs: [a], wasm: {module: processors/ok.wasm}}
  sinks: [{id: out, type: stdout, inputs: [b]}]
",
        ),
        &["7: spec.processors[0].inputs: cycle: a -> b -> a"],
    );
}

#[test]
fn unknown_and_duplicate_ids_and_missing_inputs() {
    assert_rejected(
        &pipeline(
            "spec:
  sources: [{id: src, type: generator, inputs: [x]}]
  processors:
    - {id: p, type: wasm, inputs: [srcc], wasm: {module: processors/ok.wasm}}
    - {id: q, type: wasm, wasm: {module: processors/ok.wasm}}
  sinks:
    - {id: p, type: stdout, inputs: [src, q]}
",
        ),
        &[
            "5: spec.sources[0].inputs: a source has no inputs; remove `inputs:`",
            "7: spec.processors[0].inputs[0]: unknown id \"srcc\" (known sources and processors: src, p, q)",
            "8: spec.processors[1].inputs: a processor needs at least one input (e.g. inputs: [<source id>])",
            "10: spec.sinks[0].id: duplicate id \"p\" (already used by the processor spec.processors[0] at line 7)",
        ],
    );
}

#[test]
fn unknown_types() {
    assert_rejected(
        &pipeline(
            "spec:
  sources: [{id: src, type: kafka}]
  processors: [{id: p, type: lambda, inputs: [src]}]
  sinks: [{id: out, type: s3, inputs: [p]}]
",
        ),
        &[
            "5: spec.sources[0].type: unknown source type \"kafka\" (use generator, file, stdin, grpc or nats)",
            "6: spec.processors[0].type: unknown processor type \"lambda\" (use wasm or grpc)",
            "7: spec.sinks[0].type: unknown sink type \"s3\" (use stdout, file, null, grpc, grpc_server or nats)",
        ],
    );
}

#[test]
fn an_unknown_key_is_named_with_its_line() {
    assert_rejected(
        &pipeline(
            "spec:
  sources: [{id: src, type: generator}]
  processors:
    - id: p
      type: wasm
      inputs: [src]
      wasm:
        module: processors/ok.wasm
        poolsize: 4
  sinks: [{id: out, type: stdout, inputs: [p]}]
",
        ),
        &["12: spec.processors[0].wasm.poolsize: unknown key `poolsize`, expected one of module, versions, route_by, rollback, circuit_breaker, pool_size, batch_size, batch_timeout, max_retries, limits, permissions, tenant, quotas, require_signature"],
    );
}

#[test]
fn an_unknown_key_in_a_connector_config_is_named_with_its_line() {
    assert_rejected(
        &pipeline(
            "spec:
  sources:
    - id: src
      type: generator
      config:
        profile: stellar
        speed: 10
  sinks: [{id: out, type: stdout, inputs: [src]}]
",
        ),
        &["10: spec.sources[0].config.speed: unknown key `speed`, expected one of profile, count, rate, event_size, seed"],
    );
}

#[test]
fn bad_values_are_all_reported_at_once() {
    assert_rejected(
        &pipeline(
            "spec:
  sources: [{id: src, type: generator, config: {rate: -5}}]
  processors:
    - id: p
      type: wasm
      inputs: [src]
      wasm:
        versions:
          - {name: v1, module: processors/ok.wasm, weight: 0}
          - {name: v2, module: processors/ok.wasm, weight: 0}
        route_by: customer
        pool_size: 0
        batch_size: 0
        limits: {memory: 32XB, timeout: 50}
  sinks: [{id: out, type: stdout, inputs: [p]}]
",
        ),
        &[
            "5: spec.sources[0].config.rate: -5 is not a rate (events per second, above 0; leave out for no limit)",
            "12: spec.processors[0].wasm.versions: all weights are 0: no version would get any traffic",
            "14: spec.processors[0].wasm.route_by: \"customer\" is not a routing key (use id, or data.<field path> such as data.account)",
            "15: spec.processors[0].wasm.pool_size: must be at least 1",
            "16: spec.processors[0].wasm.batch_size: must be at least 1",
            "17: spec.processors[0].wasm.limits.memory: \"32XB\" is not a size (use e.g. 32MiB, 64KiB, 1GB or a number of bytes)",
            "17: spec.processors[0].wasm.limits.timeout: \"50\" is not a duration (use e.g. 250us, 50ms, 5s, 1m)",
        ],
    );
}

#[test]
fn a_missing_module_says_how_to_build_it() {
    assert_rejected(
        &pipeline(
            "spec:
  sources: [{id: src, type: generator}]
  processors:
    - {id: a, type: wasm, inputs: [src], wasm: {module: processors/ok.wasm}}
    - {id: b, type: wasm, inputs: [a], wasm: {module: processors/x.wasm}}
  sinks: [{id: out, type: stdout, inputs: [b]}]
",
        ),
        &["8: spec.processors[1].wasm.module: processors/x.wasm does not exist (run scripts/build-processors.sh?)"],
    );
}

#[test]
fn wrong_api_version_and_kind() {
    assert_rejected(
        "apiVersion: flowctl/v9\nkind: Deployment\nmetadata: {name: t}\nspec:\n  sources: [{id: s, type: generator}]\n  sinks: [{id: o, type: stdout, inputs: [s]}]\n",
        &[
            "1: apiVersion: \"flowctl/v9\" is not supported (use flowctl/v1)",
            "2: kind: \"Deployment\" is not a known kind (use Pipeline)",
        ],
    );
}

#[test]
fn a_yaml_syntax_error_has_its_line() {
    let workspace = Workspace::new();
    let file = workspace.write("pipeline.yaml", &pipeline("spec:\n  sources: [{id: s, type: generator}\n"));
    let output = validate(&file);
    let printed = combined(&output);
    assert_eq!(output.status.code(), Some(1), "output:\n{printed}");
    let prefix = format!("{}:5: spec.sources", file.display());
    assert!(printed.lines().any(|line| line.starts_with(&prefix)), "missing {prefix:?} in:\n{printed}");
}

#[test]
fn a_missing_file_is_named() {
    let workspace = Workspace::new();
    let file = workspace.dir.path().join("nope.yaml");
    let output = validate(&file);
    let printed = combined(&output);
    assert_eq!(output.status.code(), Some(1), "output:\n{printed}");
    assert!(printed.contains(&format!("{}: no such file", file.display())), "{printed}");
}

/// The repo's own `flowctl.yaml`, copied next to real modules named as it expects.
#[test]
fn the_default_pipeline_validates() {
    let workspace = Workspace::new();
    workspace.module("ttp.wasm");
    workspace.module("filter.wasm");
    let text = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("flowctl.yaml")).unwrap();
    let file = workspace.write("flowctl.yaml", &text);
    let output = validate(&file);
    assert_eq!(output.status.code(), Some(0), "output:\n{}", combined(&output));
}

/// Every example under `config/examples/`, in a copy of the repo layout
/// (`config/examples/` next to `processors/`) holding real modules of the names they use.
#[test]
fn the_examples_validate() {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut checked = 0;
    for entry in std::fs::read_dir(repo.join("config/examples")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|ext| ext != "yaml") {
            continue;
        }
        let workspace = Workspace::new();
        for module in [
            "ttp.wasm",
            "ttp-v1.wasm",
            "ttp-v2.wasm",
            "filter.wasm",
            "passthrough.wasm",
            "count.wasm",
            "filter-go.wasm",
            "enrich-as.wasm",
        ] {
            workspace.module(module);
        }
        let examples = workspace.dir.path().join("config/examples");
        std::fs::create_dir_all(&examples).unwrap();
        std::fs::copy(repo.join("config/examples/events.jsonl"), examples.join("events.jsonl")).unwrap();
        let file = examples.join(path.file_name().unwrap());
        std::fs::copy(&path, &file).unwrap();
        let output = validate(&file);
        assert_eq!(output.status.code(), Some(0), "{}:\n{}", path.display(), combined(&output));
        checked += 1;
    }
    assert!(checked >= 4, "expected the examples, found {checked}");
}
