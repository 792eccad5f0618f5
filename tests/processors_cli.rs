//! The example processors and the authoring verbs, through the real binary:
//! every example passes `flowctl test` against its checked-in fixtures, and a
//! scaffolded processor builds and passes its own.
//!
//! Fixtures: `processors/<crate>/tests/fixtures/<case>.jsonl` (input),
//! `<case>.golden.jsonl` (expected output) and optionally `<case>.config.json`
//! and `<case>.args` (more `flowctl test` flags, one per line).

#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

mod engine_common;
use engine_common::copy_tree;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn flowctl(args: &[&str], dir: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_flowctl")).args(args).current_dir(dir).output().unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Every `(crate, case input)` with a golden file next to it.
fn golden_cases() -> Vec<(String, PathBuf)> {
    let mut cases = Vec::new();
    for entry in std::fs::read_dir(root().join("processors")).unwrap().flatten() {
        let fixtures = entry.path().join("tests/fixtures");
        let Ok(files) = std::fs::read_dir(&fixtures) else { continue };
        for file in files.flatten().map(|f| f.path()) {
            let name = file.file_name().unwrap().to_string_lossy().into_owned();
            if name.ends_with(".jsonl") && !name.ends_with(".golden.jsonl") && golden_of(&file).exists() {
                cases.push((entry.file_name().to_string_lossy().into_owned(), file));
            }
        }
    }
    cases.sort();
    cases
}

fn golden_of(input: &Path) -> PathBuf {
    input.with_extension("golden.jsonl")
}

#[test]
fn every_example_processor_passes_its_golden_files() {
    let cases = golden_cases();
    let crates: Vec<&str> = cases.iter().map(|(c, _)| c.as_str()).collect();
    for expected in ["passthrough", "filter", "enrich", "ttp", "failing", "seed-compat", "count"] {
        assert!(crates.contains(&expected), "{expected} has no golden fixture; found {crates:?}");
    }
    for (name, input) in &cases {
        let module = root().join("processors").join(format!("{name}.wasm"));
        assert!(module.exists(), "{} is missing: run scripts/build-processors.sh", module.display());
        let mut args = vec![
            "test".to_string(),
            module.display().to_string(),
            "--input".into(),
            input.display().to_string(),
            "--expect".into(),
            golden_of(input).display().to_string(),
        ];
        let config = input.with_extension("config.json");
        if config.exists() {
            args.extend(["--config".into(), std::fs::read_to_string(&config).unwrap()]);
        }
        // Extra `flowctl test` flags, one per line (e.g. `--allow-state`).
        if let Ok(extra) = std::fs::read_to_string(input.with_extension("args")) {
            args.extend(extra.lines().filter(|l| !l.trim().is_empty()).map(|l| l.trim().to_owned()));
        }
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let out = flowctl(&args, root());
        assert!(out.status.success(), "{name} {}:\n{}", input.display(), text(&out.stderr));
    }
}

#[test]
fn a_golden_mismatch_fails_and_shows_the_difference() {
    let dir = tempfile::tempdir().unwrap();
    let input = root().join("processors/passthrough/tests/fixtures/events.jsonl");
    let golden = dir.path().join("wrong.golden.jsonl");
    std::fs::write(&golden, "{\"id\":\"e-1\",\"type\":\"example.v1\",\"timestamp\":1,\"data\":null}\n").unwrap();
    let module = root().join("processors/passthrough.wasm");
    let out = flowctl(
        &["test", module.to_str().unwrap(), "--input", input.to_str().unwrap(), "--expect", golden.to_str().unwrap()],
        root(),
    );
    assert_eq!(out.status.code(), Some(1));
    let stderr = text(&out.stderr);
    assert!(stderr.contains("output 1 differs") && stderr.contains("expected 1 output events"), "{stderr}");
}

/// A copy of the guest workspace (sources only) in a temp dir.
fn workspace_copy() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for name in ["Cargo.toml", "Cargo.lock"] {
        std::fs::copy(root().join("processors").join(name), dir.path().join(name)).unwrap();
    }
    copy_tree(&root().join("processors/sdk"), &dir.path().join("sdk"));
    // Only the SDK and the new crate are built; the other members need only exist.
    let manifest = std::fs::read_to_string(dir.path().join("Cargo.toml")).unwrap();
    let members = manifest.split("members = [").nth(1).unwrap().split(']').next().unwrap();
    for member in members.split(',').map(|m| m.trim().trim_matches('"')).filter(|m| !m.is_empty() && *m != "sdk") {
        let stub = dir.path().join(member);
        std::fs::create_dir_all(stub.join("src")).unwrap();
        std::fs::write(stub.join("src/lib.rs"), "").unwrap();
        std::fs::write(stub.join("Cargo.toml"), format!("[package]\nname = \"{member}\"\nversion = \"0.1.0\"\n"))
            .unwrap();
    }
    dir
}

#[test]
fn a_new_processor_builds_and_passes_its_own_test() {
    let ws = workspace_copy();
    let dir = ws.path();
    let out = flowctl(&["new", "processor", "geo-tag", "--dir", "."], dir);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(std::fs::read_to_string(dir.join("Cargo.toml")).unwrap().contains("\"geo-tag\""));

    let again = flowctl(&["new", "processor", "geo-tag", "--dir", "."], dir);
    assert_eq!(again.status.code(), Some(2), "an existing crate is not overwritten");

    // Share the repo's guest target dir: dependencies are already built there.
    let build = Command::new(env!("CARGO_BIN_EXE_flowctl"))
        .args(["build", ".", "--package", "geo-tag"])
        .env("CARGO_TARGET_DIR", root().join("processors/target"))
        .current_dir(dir)
        .output()
        .unwrap();
    assert!(build.status.success(), "{}", text(&build.stderr));
    assert!(dir.join("geo-tag.wasm").exists());

    let fixtures = dir.join("geo-tag/tests/fixtures");
    let test = flowctl(
        &[
            "test",
            "geo-tag.wasm",
            "--input",
            fixtures.join("sample.jsonl").to_str().unwrap(),
            "--expect",
            fixtures.join("sample.golden.jsonl").to_str().unwrap(),
        ],
        dir,
    );
    assert!(test.status.success(), "{}", text(&test.stderr));
    let validate = flowctl(&["validate", "geo-tag.wasm"], dir);
    assert!(validate.status.success(), "{}", text(&validate.stdout));
}

#[test]
fn bad_processor_names_and_missing_workspaces_are_explained() {
    let dir = tempfile::tempdir().unwrap();
    let out = flowctl(&["new", "processor", "Geo_Tag", "--dir", "."], dir.path());
    assert!(text(&out.stderr).contains("is not a usable processor name"), "{}", text(&out.stderr));
    let out = flowctl(&["new", "processor", "geo"], dir.path());
    assert!(text(&out.stderr).contains("no guest workspace at processors/Cargo.toml"), "{}", text(&out.stderr));
    let out = flowctl(&["build", "nowhere"], dir.path());
    assert!(text(&out.stderr).contains("nowhere not found"), "{}", text(&out.stderr));
    let out = flowctl(&["build", "."], dir.path());
    assert!(text(&out.stderr).contains("has no Cargo.toml, go.mod or package.json"), "{}", text(&out.stderr));
    let out = flowctl(&["new", "processor", "geo", "--lang", "go"], dir.path());
    assert!(text(&out.stderr).contains("no Go SDK at processors/sdk-go/go.mod"), "{}", text(&out.stderr));
}

/// A one-route HTTP server on loopback answering every request with `body`;
/// returns its port. It serves until the test process ends.
fn serve_json(body: &'static str) -> u16 {
    use std::io::{BufRead, BufReader, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let mut reader = BufReader::new(&stream);
            let mut line = String::new();
            // Read the request head up to the blank line.
            while reader.read_line(&mut line).is_ok_and(|n| n > 2) {
                line.clear();
            }
            let mut stream = &stream;
            let _ = write!(
                stream,
                "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    port
}

#[test]
fn enrich_calls_http_when_granted_and_is_denied_otherwise() {
    let port = serve_json(r#"{"balance":"42.0000000"}"#);
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in.jsonl");
    std::fs::write(&input, "{\"id\":\"e1\",\"type\":\"t\",\"timestamp\":1,\"data\":{\"from\":\"GA\"}}\n").unwrap();
    let config =
        format!(r#"{{"lookup":{{"url":"http://127.0.0.1:{port}/accounts/{{data.from}}","into":"data.account"}}}}"#);
    let module = root().join("processors/enrich.wasm");
    let args = ["test", module.to_str().unwrap(), "--input", input.to_str().unwrap(), "--config", &config];

    // 127.0.0.1 is loopback: reachable only when its network and port are granted too.
    let loopback = flowctl(&[&args[..], &["--allow-http", "127.0.0.1"]].concat(), root());
    assert_eq!(loopback.status.code(), Some(1), "{}", text(&loopback.stderr));
    assert!(
        text(&loopback.stderr).contains(&format!("port {port} is not in allowed_ports")),
        "{}",
        text(&loopback.stderr)
    );
    let port_arg = port.to_string();
    let granted = flowctl(
        &[&args[..], &["--allow-http", "127.0.0.1", "--allow-network", "127.0.0.0/8", "--allow-port", &port_arg]]
            .concat(),
        root(),
    );
    assert!(granted.status.success(), "{}", text(&granted.stderr));
    let out: serde_json::Value = serde_json::from_slice(&granted.stdout).unwrap();
    assert_eq!(out["data"]["account"]["balance"], "42.0000000", "{out}");

    let denied = flowctl(&args, root());
    assert_eq!(denied.status.code(), Some(1));
    assert!(text(&denied.stderr).contains("event e1: capability denied: http_request"), "{}", text(&denied.stderr));
}
