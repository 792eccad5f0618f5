//! Processors in Rust, Go and AssemblyScript, through the real binary: the
//! Go and AssemblyScript examples are built with `flowctl build` and pass the
//! Rust examples' golden fixtures (one fixture set for every language); a Go
//! module built without the SDK runs; scaffolds pass `flowctl test` as
//! generated; one pipeline mixes the three; a hot reload replaces a Rust
//! processor with its Go twin mid-run.
//!
//! Toolchains: `scripts/test.sh` installs them (Go through
//! `scripts/go-toolchain.sh`, exported as `FLOWCTL_GO`; Node and the pinned
//! AssemblyScript compiler through `scripts/assemblyscript-toolchain.sh`).

#![allow(clippy::unwrap_used)] // tests: a failed unwrap is a failed test

mod engine_common;
mod live_common;

use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::{mpsc, OnceLock};

use engine_common::copy_tree;
use live_common::*;
use serde_json::Value;

/// The examples written in more than one language: Rust's crate name, then the other builds.
const EXAMPLES: [(&str, [&str; 2]); 2] =
    [("filter", ["filter-go", "filter-as"]), ("enrich", ["enrich-go", "enrich-as"])];

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// The `go` that `scripts/go-toolchain.sh` found or installed.
fn go() -> PathBuf {
    if let Some(go) = std::env::var_os("FLOWCTL_GO") {
        return PathBuf::from(go);
    }
    let installed = root().join("target/toolchains/go/bin/go");
    assert!(installed.exists(), "no Go toolchain: run the tests through scripts/test.sh (it installs Go)");
    installed
}

fn run_flowctl(args: &[&str], dir: &Path) -> Output {
    flowctl().args(args).current_dir(dir).env("FLOWCTL_GO", go()).output().unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn must(out: Output, what: &str) -> String {
    assert!(out.status.success(), "{what} failed:\n{}{}", text(&out.stdout), text(&out.stderr));
    text(&out.stdout)
}

/// `processors/<name>.wasm`; the Go and AssemblyScript examples are built
/// with `flowctl build` once per test run.
fn module(name: &str) -> PathBuf {
    static BUILT: OnceLock<()> = OnceLock::new();
    BUILT.get_or_init(|| {
        for project in EXAMPLES.iter().flat_map(|(_, others)| others) {
            let dir = root().join("processors").join(project);
            must(run_flowctl(&["build", dir.to_str().unwrap()], root()), &format!("flowctl build {project}"));
        }
    });
    guest(name)
}

/// Every `(input, golden, config)` fixture of a Rust example.
fn fixtures(example: &str) -> Vec<(PathBuf, PathBuf, Option<String>)> {
    let dir = root().join("processors").join(example).join("tests/fixtures");
    let mut cases: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.to_string_lossy().ends_with(".jsonl") && !p.to_string_lossy().ends_with(".golden.jsonl"))
        .map(|input| {
            let golden = input.with_extension("golden.jsonl");
            let config = std::fs::read_to_string(input.with_extension("config.json")).ok();
            (input, golden, config)
        })
        .collect();
    cases.sort();
    assert!(!cases.is_empty(), "{example} has no fixtures");
    cases
}

fn flowctl_test(module: &Path, input: &Path, golden: &Path, config: Option<&str>) -> Output {
    let mut args = vec!["test", module.to_str().unwrap(), "--input", input.to_str().unwrap()];
    args.extend(["--expect", golden.to_str().unwrap()]);
    if let Some(config) = config {
        args.extend(["--config", config]);
    }
    run_flowctl(&args, root())
}

#[test]
fn every_language_passes_the_shared_golden_fixtures() {
    for (example, others) in EXAMPLES {
        for (input, golden, config) in fixtures(example) {
            for build in std::iter::once(example).chain(others) {
                let out = flowctl_test(&module(build), &input, &golden, config.as_deref());
                assert!(out.status.success(), "{build} on {}:\n{}", input.display(), text(&out.stderr));
            }
        }
    }
}

#[test]
fn validate_tells_the_module_kinds_apart() {
    let kind = |name: &str| {
        let out = must(run_flowctl(&["validate", module(name).to_str().unwrap()], root()), "validate");
        out.lines().find_map(|l| l.trim_start().strip_prefix("kind: ")).unwrap_or_else(|| panic!("{out}")).to_owned()
    };
    assert!(kind("filter").starts_with("library"));
    assert!(kind("filter-go").starts_with("WASI reactor"), "{}", kind("filter-go"));
    assert!(kind("filter-as").starts_with("library"));
}

/// The issue's new Go author: `//go:wasmexport` by hand, `go build
/// -buildmode=c-shared`, no SDK. It traps unless `_initialize` runs first.
#[test]
fn a_go_module_built_without_the_sdk_runs() {
    let dir = tempfile::tempdir().unwrap();
    let project = dir.path().join("plain");
    copy_tree(&root().join("tests/guests/go-plain"), &project);
    let built = Command::new(go())
        .args(["build", "-buildmode=c-shared", "-o", "plain.wasm", "."])
        .current_dir(&project)
        .envs([("GOOS", "wasip1"), ("GOARCH", "wasm"), ("GOTOOLCHAIN", "local")])
        .output()
        .unwrap();
    must(built, "go build");
    let wasm = project.join("plain.wasm");
    let report = must(run_flowctl(&["validate", wasm.to_str().unwrap()], root()), "validate");
    assert!(report.contains("kind: WASI reactor"), "{report}");

    let fixtures = root().join("processors/passthrough/tests/fixtures");
    let out = flowctl_test(&wasm, &fixtures.join("events.jsonl"), &fixtures.join("events.golden.jsonl"), None);
    assert!(out.status.success(), "{}", text(&out.stderr));
}

#[test]
fn go_and_assemblyscript_scaffolds_pass_their_tests_as_generated() {
    let dir = tempfile::tempdir().unwrap();
    for sdk in ["sdk-go", "sdk-assemblyscript"] {
        copy_tree(&root().join("processors").join(sdk), &dir.path().join(sdk));
    }
    for (name, lang) in [("geo-go", "go"), ("geo-as", "assemblyscript")] {
        let created = run_flowctl(&["new", "processor", name, "--lang", lang, "--dir", "."], dir.path());
        must(created, &format!("flowctl new --lang {lang}"));
        let again = run_flowctl(&["new", "processor", name, "--lang", lang, "--dir", "."], dir.path());
        assert_eq!(again.status.code(), Some(2), "an existing project is not overwritten");

        must(run_flowctl(&["build", name], dir.path()), &format!("flowctl build {name}"));
        let fixtures = dir.path().join(name).join("tests/fixtures");
        let wasm = dir.path().join(format!("{name}.wasm"));
        let out = flowctl_test(&wasm, &fixtures.join("sample.jsonl"), &fixtures.join("sample.golden.jsonl"), None);
        assert!(out.status.success(), "{name}:\n{}", text(&out.stderr));
    }
}

/// Outputs without what differs between two runs of the same pipeline: the
/// module version tags and the generator's wall-clock timestamps.
fn comparable(events: Vec<Value>) -> Vec<Value> {
    events
        .into_iter()
        .map(|mut e| {
            if let Some(meta) = e["metadata"].as_object_mut() {
                meta.remove("flowctl.module_version");
            }
            if let Some(event) = e.as_object_mut() {
                event.remove("timestamp");
            }
            e
        })
        .collect()
}

/// Rust ttp -> Go filter -> AssemblyScript enrich gives what the all-Rust pipeline gives.
#[test]
fn one_pipeline_mixes_the_three_languages() {
    let run = |filter: &str, enrich: &str| {
        let ws = engine_common::Workspace::new();
        let file = ws.pipeline(&format!(
            r#"
  settings: {{dead_letter: {{type: file, path: dead.jsonl}}}}
  sources: [{{id: ledger, type: generator, config: {{profile: stellar, count: 2000, seed: 7}}}}]
  processors:
    - {{id: ttp, type: wasm, inputs: [ledger], wasm: {{module: {ttp}, pool_size: 2}}}}
    - id: transfers
      type: wasm
      inputs: [ttp]
      config: {{field: data.transfer, op: exists}}
      wasm: {{module: {filter}}}
    - id: tag
      type: wasm
      inputs: [transfers]
      config: {{set: {{metadata.checked_by: flowctl, data.network: testnet}}}}
      wasm: {{module: {enrich}}}
  sinks: [{{id: out, type: file, inputs: [tag], config: {{path: out.jsonl}}}}]
"#,
            ttp = module("ttp").display(),
            filter = module(filter).display(),
            enrich = module(enrich).display(),
        ));
        let run = ws.run(&file);
        assert_eq!(run.code, Some(0), "{}", run.stderr);
        assert!(ws.events("dead.jsonl").is_empty(), "dead letters: {:?}", ws.events("dead.jsonl"));
        comparable(ws.events("out.jsonl"))
    };
    let rust = run("filter", "enrich");
    let mixed = run("filter-go", "enrich-as");
    assert!(rust.len() > 100, "the stellar profile yields transfers: {}", rust.len());
    assert!(rust.iter().all(|e| e["data"]["network"] == "testnet" && e["data"]["transfer"].is_object()));
    let by_id = |events: Vec<Value>| {
        let mut events = events;
        events.sort_by(|a, b| a["id"].as_str().cmp(&b["id"].as_str()));
        events
    };
    let (mixed, rust) = (by_id(mixed), by_id(rust));
    assert_eq!(mixed.len(), rust.len(), "as many events out");
    for (m, r) in mixed.iter().zip(&rust) {
        assert_eq!(m, r, "the mixed pipeline's output differs from the all-Rust one:\n  mixed {m}\n  rust  {r}");
    }
}

/// The Rust filter replaced by the Go filter's file mid-stream: every kept
/// event once, in order, the first run tagged with the Rust build's hash and
/// the rest with the Go build's.
#[test]
fn hot_reload_replaces_a_rust_processor_with_its_go_version() {
    const EVENTS: usize = 40_000;
    let ws = Workspace::new();
    let (rust, go) = (std::fs::read(module("filter")).unwrap(), std::fs::read(module("filter-go")).unwrap());
    let target = ws.path("filter.wasm");
    std::fs::write(&target, &rust).unwrap();
    let file = ws.live_pipeline(
        r#"
  sources: [{id: in, type: stdin}]
  processors:
    - {id: p, type: wasm, inputs: [in], config: {field: data.keep, op: eq, value: true},
       wasm: {module: filter.wasm, pool_size: 2, batch_size: 64}}
  sinks: [{id: out, type: file, inputs: [p], config: {path: out.jsonl}}]
"#,
    );
    let mut live = ws.start(&file, Stdio::piped());
    let (gate, gated) = mpsc::channel::<()>();
    let stdin = live.child.stdin.take().unwrap();
    let writer = std::thread::spawn(move || {
        let mut out = BufWriter::new(stdin);
        for i in 0..EVENTS {
            if i == EVENTS / 2 {
                out.flush().unwrap();
                gated.recv().unwrap();
            }
            writeln!(out, r#"{{"id":"e-{i:06}","type":"t","data":{{"n":{i},"keep":{}}}}}"#, i % 3 != 0).unwrap();
        }
    });
    wait_for(LONG, "events to flow", || {
        (live.version("p", 0)["events"].as_u64()? >= (EVENTS / 4) as u64).then_some(())
    });
    rename_over(&target, &go);
    // Compiling the 4.5 MB Go module takes a debug build of wasmtime about
    // 25 s of both cores, and it runs below the workers' priority while other
    // tests of this file build Go and npm projects: allow for it.
    let compile = std::time::Duration::from_secs(300);
    wait_for(compile, "the reload", || (live.processor("p")["reloads"]["ok"].as_u64()? == 1).then_some(()));
    gate.send(()).unwrap();
    writer.join().unwrap();
    let (code, log) = live.wait();
    assert_eq!(code, Some(0), "{log}");

    let out = ws.events("out.jsonl");
    let kept: Vec<String> = (0..EVENTS).filter(|i| i % 3 != 0).map(|i| format!("e-{i:06}")).collect();
    let ids: Vec<&str> = out.iter().map(|e| e["id"].as_str().unwrap()).collect();
    assert_eq!(ids, kept, "kept events lost, duplicated or out of order");
    assert_eq!(version_runs(&out), [short_hash(&rust), short_hash(&go)], "one run per version, Rust then Go");
}
