//! `flowctl test` and `flowctl validate` as a user runs them, on small WAT
//! modules written to a temporary directory.

#![allow(clippy::unwrap_used)] // tests: a failed unwrap is a failed test

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const ECHO: &str = r#"(module
  (memory (export "memory") 1)
  (global $bump (mut i32) (i32.const 4096))
  (func (export "allocate") (param $n i32) (result i32)
    (local $p i32)
    (if (i32.gt_u (i32.add (global.get $bump) (local.get $n)) (i32.const 60000))
      (then (global.set $bump (i32.const 4096))))
    (local.set $p (global.get $bump))
    (global.set $bump (i32.add (local.get $p) (local.get $n)))
    (local.get $p))
  (func (export "free") (param i32 i32))
  (func (export "process_event") (param $p i32) (param $n i32) (result i64)
    (i64.or (i64.shl (i64.extend_i32_u (local.get $p)) (i64.const 32)) (i64.extend_i32_u (local.get $n)))))"#;

const EVENTS: &str = "{\"id\":\"a\",\"type\":\"t.v1\",\"timestamp\":1,\"data\":{\"n\":1}}\n{\"id\":\"b\",\"type\":\"t.v1\",\"timestamp\":2,\"data\":{\"n\":2}}\n";

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

fn flowctl(args: &[&Path], extra: &[&str], cache: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_flowctl")).args(args).args(extra).env("XDG_CACHE_HOME", cache).output().unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn test_prints_outputs_and_matches_a_golden_file() {
    let dir = tempfile::tempdir().unwrap();
    let module = write(dir.path(), "echo.wat", ECHO);
    let input = write(dir.path(), "in.jsonl", EVENTS);
    // The golden file leaves out defaults and the module version.
    let golden = write(dir.path(), "golden.jsonl", "{\"id\":\"a\",\"type\":\"t.v1\",\"timestamp\":1,\"data\":{\"n\":1}}\n{\"id\":\"b\",\"type\":\"t.v1\",\"timestamp\":2,\"data\":{\"n\":2},\"metadata\":{}}\n");
    let out = flowctl(
        &[Path::new("test"), &module, Path::new("--input"), &input, Path::new("--expect"), &golden],
        &[],
        dir.path(),
    );
    assert!(out.status.success(), "stderr: {}", text(&out.stderr));
    let lines: Vec<serde_json::Value> = text(&out.stdout).lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines.len(), 2);
    assert_eq!(lines[1]["id"], "b");
    assert_eq!(lines[1]["metadata"]["flowctl.module_version"].as_str().unwrap().len(), 12);
}

#[test]
fn test_fails_on_a_golden_mismatch_and_shows_it() {
    let dir = tempfile::tempdir().unwrap();
    let module = write(dir.path(), "echo.wat", ECHO);
    let input = write(dir.path(), "in.jsonl", EVENTS);
    let golden = write(dir.path(), "golden.jsonl", "{\"id\":\"a\",\"type\":\"t.v1\",\"timestamp\":1,\"data\":{\"n\":1}}\n{\"id\":\"b\",\"type\":\"t.v1\",\"timestamp\":2,\"data\":{\"n\":99}}\n");
    let out = flowctl(
        &[Path::new("test"), &module, Path::new("--input"), &input, Path::new("--expect"), &golden],
        &[],
        dir.path(),
    );
    assert_eq!(out.status.code(), Some(1));
    let stderr = text(&out.stderr);
    assert!(stderr.contains("output 2 differs"), "{stderr}");
    assert!(stderr.contains("\"n\":99") && stderr.contains("\"n\":2"), "{stderr}");
}

#[test]
fn test_reports_malformed_input_lines_and_runs_the_rest() {
    let dir = tempfile::tempdir().unwrap();
    let module = write(dir.path(), "echo.wat", ECHO);
    let input = write(dir.path(), "in.jsonl", "{\"id\":\"a\"}\n{\"type\":\"no id\"}\n{\"id\":\"c\"}\n");
    let out = flowctl(&[Path::new("test"), &module, Path::new("--input"), &input], &[], dir.path());
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("line 2: missing field `id`"), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout).lines().count(), 2);
}

#[test]
fn test_applies_limit_flags() {
    let dir = tempfile::tempdir().unwrap();
    let spin = ECHO.replace("(i64.or (i64.shl", "(loop (br 0)) (i64.or (i64.shl");
    let module = write(dir.path(), "spin.wat", &spin);
    let input = write(dir.path(), "in.jsonl", EVENTS);
    let out = flowctl(
        &[Path::new("test"), &module, Path::new("--input"), &input],
        &["--timeout", "30ms", "--batch", "2"],
        dir.path(),
    );
    assert_eq!(out.status.code(), Some(1));
    let stderr = text(&out.stderr);
    assert!(stderr.contains("event a: deadline exceeded (30ms)"), "{stderr}");
    assert!(stderr.contains("event b: deadline exceeded (30ms)"), "{stderr}");
    let out = flowctl(&[Path::new("test"), &module, Path::new("--input"), &input], &["--fuel", "5000"], dir.path());
    assert!(text(&out.stderr).contains("event a: fuel exhausted (budget 5000)"), "{}", text(&out.stderr));
}

#[test]
fn validate_lists_exports_and_names_problems() {
    let dir = tempfile::tempdir().unwrap();
    let good = write(dir.path(), "echo.wat", ECHO);
    let out = flowctl(&[Path::new("validate"), &good], &[], dir.path());
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(stdout.contains("process_event") && stdout.contains("(i32, i32) -> i64"), "{stdout}");

    let bad = write(dir.path(), "bad.wat", &ECHO.replace("\"allocate\"", "\"alloc\""));
    let out = flowctl(&[Path::new("validate"), &bad], &[], dir.path());
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("missing export `allocate` (fn(i32) -> i32)"), "{}", text(&out.stderr));
}

#[test]
fn validate_checks_a_pipeline_and_its_modules() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "bad.wat", &ECHO.replace("\"free\"", "\"release\""));
    let pipeline = write(
        dir.path(),
        "flowctl.yaml",
        "apiVersion: flowctl/v1\nkind: Pipeline\nmetadata: {name: t}\nspec:\n  sources:\n    - {id: gen, type: generator, config: {count: 1}}\n  processors:\n    - id: p\n      type: wasm\n      inputs: [gen]\n      wasm: {module: bad.wat}\n  sinks:\n    - {id: out, type: stdout, inputs: [p]}\n",
    );
    let out = flowctl(&[Path::new("validate"), &pipeline], &[], dir.path());
    assert_eq!(out.status.code(), Some(1), "stdout: {}\nstderr: {}", text(&out.stdout), text(&out.stderr));
    assert!(text(&out.stdout).contains("pipeline `t` is valid"), "{}", text(&out.stdout));
    assert!(text(&out.stderr).contains("missing export `free`"), "{}", text(&out.stderr));

    let broken = write(dir.path(), "broken.yaml", "apiVersion: flowctl/v1\nkind: Pipeline\nspec: {}\n");
    let out = flowctl(&[Path::new("validate"), &broken], &[], dir.path());
    assert_eq!(out.status.code(), Some(1));
    assert!(!out.stderr.is_empty());
}
