//! Signed modules on the real binary: `flowctl keygen`, `sign`, `verify` and
//! `validate`; a pipeline with `require_signature` that refuses an unsigned
//! module at start; and hot reloads under it: unsigned, foreign-signed and
//! modified replacements are rejected while the old version keeps processing,
//! a correctly signed one is taken.

#![allow(clippy::unwrap_used)] // tests: a failed unwrap is a failed test

mod engine_common;
mod live_common;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Stdio;

use live_common::*;

/// `flowctl keygen --out NAME` in the workspace; the key id it printed.
fn keygen(ws: &Workspace, name: &str) -> String {
    let out = cli(&["keygen", "--out", ws.path(name).to_str().unwrap()]);
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    let line = out.stdout.lines().find(|l| l.starts_with("key id:")).unwrap();
    line["key id:".len()..].trim().to_string()
}

/// `flowctl sign FILE --key KEY [--out OUT]`; its stdout.
fn sign(ws: &Workspace, file: &Path, key: &str, out: Option<&Path>) -> String {
    let mut args = vec!["sign", file.to_str().unwrap(), "--key"];
    let key = ws.path(key);
    args.push(key.to_str().unwrap());
    if let Some(out) = out {
        args.extend(["--out", out.to_str().unwrap()]);
    }
    let result = cli(&args);
    assert_eq!(result.code, Some(0), "{}", result.stderr);
    result.stdout
}

fn verify(ws: &Workspace, file: &Path, keys: &[&str]) -> Cli {
    let keys: Vec<String> = keys.iter().map(|k| ws.path(k).display().to_string()).collect();
    let mut args = vec!["verify", file.to_str().unwrap()];
    for key in &keys {
        args.extend(["--pubkey", key.as_str()]);
    }
    cli(&args)
}

#[test]
fn keygen_sign_and_verify_on_the_command_line() {
    let ws = Workspace::new();
    let id = keygen(&ws, "ci");
    assert_eq!(id.len(), 16);
    assert_eq!(std::fs::metadata(ws.path("ci")).unwrap().permissions().mode() & 0o777, 0o600);
    assert!(ws.path("ci.pub").is_file());
    let again = cli(&["keygen", "--out", ws.path("ci").to_str().unwrap()]);
    assert_eq!(again.code, Some(2));
    assert!(again.stderr.contains("already exists"), "{}", again.stderr);

    let module = ws.path("m.wasm");
    std::fs::copy(guest("passthrough"), &module).unwrap();
    let unsigned = verify(&ws, &module, &["ci.pub"]);
    assert_eq!(unsigned.code, Some(1));
    assert!(unsigned.stderr.contains("the module is not signed"), "{}", unsigned.stderr);

    assert!(sign(&ws, &module, "ci", None).contains(&format!("signed with key {id}")));
    let good = verify(&ws, &module, &["ci.pub"]);
    assert_eq!(good.code, Some(0), "{}", good.stderr);
    assert!(good.stdout.contains(&format!("good signature by key {id}")), "{}", good.stdout);
    let validate = cli(&["validate", module.to_str().unwrap()]);
    assert_eq!(validate.code, Some(0), "a signed module is still a valid module: {}", validate.stderr);
    assert!(validate.stdout.contains(&format!("signature: key {id}")), "{}", validate.stdout);

    let other = keygen(&ws, "other");
    let unknown = verify(&ws, &module, &["other.pub"]);
    assert_eq!(unknown.code, Some(1));
    assert!(
        unknown.stderr.contains(&format!("signed with key {id}, which is not a trusted key")),
        "{}",
        unknown.stderr
    );

    let signed = std::fs::read(&module).unwrap();
    let appended = ws.path("appended.wasm");
    std::fs::write(&appended, variant(&module, "added after signing")).unwrap();
    let tampered = verify(&ws, &appended, &["ci.pub"]);
    assert_eq!(tampered.code, Some(1));
    assert!(tampered.stderr.contains(&format!("modified after it was signed with key {id}")), "{}", tampered.stderr);
    let forged = ws.path("forged.wasm");
    let mut bytes = signed.clone();
    *bytes.last_mut().unwrap() ^= 1; // the signature's last byte
    std::fs::write(&forged, bytes).unwrap();
    let bad = verify(&ws, &forged, &["ci.pub"]);
    assert_eq!(bad.code, Some(1));
    assert!(bad.stderr.contains(&format!("bad signature: it does not verify with trusted key {id}")), "{}", bad.stderr);

    // Key rotation: signing again with the new key replaces the signature.
    let resigned = ws.path("resigned.wasm");
    let said = sign(&ws, &module, "other", Some(&resigned));
    assert!(said.contains(&format!("signed with key {other} (replaced the signature by key {id})")), "{said}");
    assert_eq!(std::fs::read(&module).unwrap(), signed, "--out leaves the input alone");
    let both = verify(&ws, &resigned, &["ci.pub", "other.pub"]);
    assert_eq!(both.code, Some(0), "{}", both.stderr);
    assert!(both.stdout.contains(&format!("good signature by key {other}")), "{}", both.stdout);
    assert_eq!(verify(&ws, &resigned, &["ci.pub"]).code, Some(1), "the old key no longer verifies it");

    // `flowctl test` (like `bench` and `serve`) checks the signature when given trusted keys.
    let input = ws.path("in.jsonl");
    std::fs::write(&input, "{\"id\":\"a\",\"data\":{}}\n").unwrap();
    let run_test = |module: &Path, key: &str| {
        let key = ws.path(key);
        cli(&[
            "test",
            module.to_str().unwrap(),
            "--input",
            input.to_str().unwrap(),
            "--trusted-key",
            key.to_str().unwrap(),
        ])
    };
    let ok = run_test(&module, "ci.pub");
    assert_eq!(ok.code, Some(0), "{}", ok.stderr);
    assert!(ok.stdout.contains("\"id\":\"a\""), "{}", ok.stdout);
    let refused = run_test(&resigned, "ci.pub");
    assert_eq!(refused.code, Some(2));
    assert!(
        refused.stderr.contains(&format!("module signature refused: signed with key {other}")),
        "{}",
        refused.stderr
    );
    assert_eq!(refused.stderr.matches("which is not a trusted key").count(), 1, "said once: {}", refused.stderr);
}

#[test]
fn a_pipeline_requiring_signatures_refuses_an_unsigned_module_at_start() {
    let ws = Workspace::new();
    let id = keygen(&ws, "ci");
    let module = ws.path("m.wasm");
    std::fs::copy(guest("passthrough"), &module).unwrap();
    let file = ws.live_pipeline_with(
        "{dead_letter: {type: file, path: dead.jsonl}, trusted_keys: [ci.pub]}",
        r#"
  sources: [{id: gen, type: generator, config: {count: 20}}]
  processors:
    - {id: p, type: wasm, inputs: [gen], wasm: {module: m.wasm, require_signature: true}}
  sinks: [{id: out, type: file, inputs: [p], config: {path: out.jsonl}}]
"#,
    );
    let validate = cli(&["validate", file.to_str().unwrap()]);
    assert_eq!(validate.code, Some(1));
    assert!(validate.stderr.contains("signature required: the module is not signed"), "{}", validate.stderr);

    let refused = ws.run(&file);
    assert_eq!(refused.code, Some(2), "{}", refused.stderr);
    let expected =
        format!("processor p: cannot load {}: module signature refused: the module is not signed", module.display());
    assert!(refused.stderr.contains(&expected), "{}", refused.stderr);
    let audit = refused.logs.iter().find(|l| l["target"] == "flowctl::audit").expect("an audit line");
    let fields = &audit["fields"];
    assert_eq!((fields["processor"].as_str(), fields["action"].as_str()), (Some("p"), Some("load_module")), "{audit}");
    assert_eq!(fields["target"].as_str(), Some(module.to_str().unwrap()), "{audit}");
    assert_eq!(fields["allowed"], false, "{audit}");
    assert_eq!(fields["version"].as_str(), Some(short_hash(&std::fs::read(&module).unwrap()).as_str()), "{audit}");
    assert!(!ws.path("out.jsonl").exists() || ws.events("out.jsonl").is_empty(), "nothing ran");

    sign(&ws, &module, "ci", None);
    assert_eq!(cli(&["validate", file.to_str().unwrap()]).code, Some(0));
    let run = ws.run(&file);
    run.assert_success();
    assert_eq!(ws.events("out.jsonl").len(), 20);
    let accepted = run.logs.iter().find(|l| l["target"] == "flowctl::audit").expect("an audit line");
    assert_eq!(
        (accepted["fields"]["allowed"].as_bool(), accepted["fields"]["key_id"].as_str()),
        (Some(true), Some(id.as_str()))
    );
}

#[test]
fn hot_reload_takes_only_modules_signed_by_a_trusted_key_and_loses_no_event() {
    let ws = Workspace::new();
    keygen(&ws, "ci");
    keygen(&ws, "rogue");
    let pass = guest("passthrough");
    let module = ws.path("m.wasm");
    std::fs::write(&module, variant(&pass, "signed-0")).unwrap();
    sign(&ws, &module, "ci", None);
    let running = short_hash(&std::fs::read(&module).unwrap());
    let file = ws.live_pipeline_with(
        "{dead_letter: {type: file, path: dead.jsonl}, trusted_keys: [ci.pub]}",
        r#"
  sources: [{id: gen, type: generator, config: {rate: 2000}}]
  processors:
    - {id: p, type: wasm, inputs: [gen], wasm: {module: m.wasm, require_signature: true}}
  sinks: [{id: out, type: file, inputs: [p], config: {path: out.jsonl}}]
"#,
    );
    let live = ws.start(&file, Stdio::null());
    assert_eq!(live.version("p", 0)["name"], running.as_str());

    let scratch = ws.path("scratch.wasm");
    let by_rogue = {
        std::fs::write(&scratch, variant(&pass, "rogue")).unwrap();
        sign(&ws, &scratch, "rogue", None);
        std::fs::read(&scratch).unwrap()
    };
    let modified = {
        std::fs::write(&scratch, variant(&pass, "to-modify")).unwrap();
        sign(&ws, &scratch, "ci", None);
        variant(&scratch, "added after signing")
    };
    let replacements: [(Vec<u8>, &str); 3] = [
        (variant(&pass, "unsigned"), "the module is not signed"),
        (by_rogue, "which is not a trusted key"),
        (modified, "modified after it was signed"),
    ];
    for (n, (bytes, reason)) in replacements.iter().enumerate() {
        let events_before = live.version("p", 0)["events"].as_u64().unwrap();
        rename_over(&module, bytes);
        wait_for(LONG, "the rejected reload", || {
            (live.processor("p")["reloads"]["error"].as_u64()? == n as u64 + 1).then_some(())
        });
        let last = live.processor("p")["reloads"]["last_error"].as_str().unwrap().to_string();
        assert!(last.contains("module signature refused") && last.contains(reason), "{last}");
        assert_eq!(live.version("p", 0)["name"], running.as_str(), "the old version still runs");
        wait_for(LONG, "events after the rejected reload", || {
            (live.version("p", 0)["events"].as_u64()? > events_before + 100).then_some(())
        });
    }
    let metrics = live.metrics();
    assert!(metrics.contains(r#"flowctl_module_reloads_total{component="p",result="rejected"} 3"#), "{metrics}");
    assert!(!metrics.contains(r#"flowctl_module_reloads_total{component="p",result="error"}"#), "{metrics}");
    let rejected = live.log_lines("module reload rejected");
    assert_eq!(rejected.len(), 3, "{}", live.log_text());
    assert!(rejected.iter().all(|l| l["level"] == "ERROR" && l["fields"]["file"] == module.display().to_string()));
    let refusals = live.log_lines("module refused");
    assert_eq!(refusals.len(), 3, "{}", live.log_text());
    assert!(refusals.iter().all(|l| l["target"] == "flowctl::audit" && l["fields"]["allowed"] == false));

    // Signed with the trusted key, written over the module in one rename by `sign --out`.
    std::fs::write(&scratch, variant(&pass, "signed-1")).unwrap();
    sign(&ws, &scratch, "ci", Some(&module));
    let next = short_hash(&std::fs::read(&module).unwrap());
    wait_for(LONG, "the signed reload", || (live.processor("p")["reloads"]["ok"].as_u64()? == 1).then_some(()));
    assert_eq!(live.version("p", 0)["name"], next.as_str());
    wait_for(LONG, "events on the new version", || (live.version("p", 0)["window_events"].as_u64()? > 0).then_some(()));
    let (code, log) = live.stop();
    assert_eq!(code, Some(0), "{log}");

    let out = ws.events("out.jsonl");
    let emitted = Live::report(&log, "source finished", "gen")["emitted"].as_u64().unwrap();
    assert_eq!(out.len() as u64, emitted, "nothing lost across the rejected reloads");
    let tags: std::collections::BTreeSet<&str> =
        out.iter().map(|e| e["metadata"]["flowctl.module_version"].as_str().unwrap()).collect();
    assert_eq!(tags, [running.as_str(), next.as_str()].into(), "only trusted modules ran");
    assert!(ws.events("dead.jsonl").is_empty());
}
