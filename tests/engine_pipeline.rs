//! `flowctl run` on the real binary with real guest modules (built from
//! `processors/` by `scripts/build-processors.sh`) and real files: DAG shape,
//! ordering across a pool, dead letters, crashes, versions, bad configs.
//! Signals and backpressure are in `engine_signals.rs`.

#![allow(clippy::unwrap_used)] // tests: a failed unwrap is a failed test

mod engine_common;

use std::collections::{HashMap, HashSet};

use engine_common::*;

#[test]
fn chain_with_fan_out_and_fan_in_delivers_every_event_on_both_paths() {
    let ws = Workspace::new();
    let pass = guest("passthrough");
    let file = ws.pipeline(&format!(
        r#"
  sources:
    - {{id: gen, type: generator, config: {{count: 5000}}}}
  processors:
    - {{id: a, type: wasm, inputs: [gen], wasm: {{module: "{pass}", pool_size: 2, batch_size: 64}}}}
    - {{id: b, type: wasm, inputs: [a], wasm: {{module: "{pass}"}}}}
    - {{id: c, type: wasm, inputs: [a], wasm: {{module: "{pass}", batch_size: 10}}}}
    - {{id: d, type: wasm, inputs: [b, c], wasm: {{module: "{pass}", pool_size: 3}}}}
  sinks:
    - {{id: out, type: file, inputs: [d], config: {{path: out.jsonl}}}}
"#
    ));
    let run = ws.run(&file);
    run.assert_success();
    let out = ws.events("out.jsonl");
    assert_eq!(out.len(), 10_000, "each event once through b and once through c");
    let mut copies: HashMap<String, usize> = HashMap::new();
    for e in &out {
        *copies.entry(e["id"].as_str().unwrap().to_string()).or_default() += 1;
    }
    assert_eq!(copies.len(), 5000);
    assert!(copies.values().all(|&n| n == 2), "every id exactly twice");
    for (id, received) in [("a", 5000), ("b", 5000), ("c", 5000), ("d", 10_000)] {
        let p = run.processor(id);
        assert_eq!(p["received"], received, "{id}: {p}");
        assert_eq!(p["balanced"], true, "{id}: {p}");
    }
    assert_eq!(run.sink("out")["written"], 10_000);
}

#[test]
fn a_pool_of_four_keeps_the_order_of_100k_events() {
    let ws = Workspace::new();
    let pass = guest("passthrough");
    let file = ws.pipeline(&format!(
        r#"
  sources:
    - {{id: gen, type: generator, config: {{count: 100000, event_size: 64}}}}
  processors:
    - {{id: p, type: wasm, inputs: [gen], wasm: {{module: "{pass}", pool_size: 4, batch_size: 50}}}}
  sinks:
    - {{id: out, type: file, inputs: [p], config: {{path: out.jsonl}}}}
"#
    ));
    let run = ws.run(&file);
    run.assert_success();
    let out = ws.events("out.jsonl");
    assert_eq!(out.len(), 100_000);
    for (n, e) in out.iter().enumerate() {
        assert_eq!(e["id"], format!("gen-{n:012}"), "event {n} out of order");
        assert!(e["metadata"]["flowctl.module_version"].is_string(), "version tag on {e}");
    }
    let p = run.processor("p");
    assert_eq!((p["received"].as_u64(), p["produced"].as_u64()), (Some(100_000), Some(100_000)), "{p}");
    assert_eq!(p["balanced"], true);
    assert_eq!(run.source("gen")["emitted"], 100_000);
}

#[test]
fn failing_events_go_to_dead_letters_with_reasons_and_the_rest_to_the_sink() {
    let ws = Workspace::new();
    let failing = guest("failing");
    let file = ws.pipeline(&format!(
        r#"
  settings:
    dead_letter: {{type: file, path: dead.jsonl}}
  sources:
    - {{id: gen, type: generator, config: {{count: 2000}}}}
  processors:
    - id: f
      type: wasm
      inputs: [gen]
      config: {{fail_every: 10}}
      wasm: {{module: "{failing}", pool_size: 1, batch_size: 100}}
  sinks:
    - {{id: out, type: file, inputs: [f], config: {{path: out.jsonl}}}}
"#
    ));
    let run = ws.run(&file);
    run.assert_success();
    let out = ws.events("out.jsonl");
    let dead = ws.events("dead.jsonl");
    assert_eq!(out.len(), 1800, "nine in ten reach the sink");
    assert_eq!(dead.len(), 200, "one in ten is dead-lettered");
    for letter in &dead {
        assert_eq!(letter["processor"], "f");
        assert!(!letter["version"].as_str().unwrap().is_empty(), "{letter}");
        assert!(!letter["error_kind"].as_str().unwrap().is_empty(), "{letter}");
        assert!(!letter["message"].as_str().unwrap().is_empty(), "{letter}");
    }
    let sunk: HashSet<&str> = out.iter().map(|e| e["id"].as_str().unwrap()).collect();
    let failed: HashSet<&str> = dead.iter().map(|l| l["event"]["id"].as_str().unwrap()).collect();
    assert!(sunk.is_disjoint(&failed));
    assert_eq!(sunk.len() + failed.len(), 2000, "every event is in exactly one place");
    let p = run.processor("f");
    assert_eq!((p["dead_lettered"].as_u64(), p["balanced"].as_bool()), (Some(200), Some(true)), "{p}");
}

#[test]
fn a_trapping_instance_is_replaced_and_the_run_goes_on() {
    let ws = Workspace::new();
    let trap = format!("{}/tests/guests/trap_on_odd.wat", env!("CARGO_MANIFEST_DIR"));
    let file = ws.pipeline(&format!(
        r#"
  settings:
    dead_letter: {{type: file, path: dead.jsonl}}
  sources:
    - {{id: gen, type: generator, config: {{count: 300}}}}
  processors:
    - {{id: t, type: wasm, inputs: [gen], wasm: {{module: "{trap}", pool_size: 2, batch_size: 16, max_retries: 1}}}}
  sinks:
    - {{id: out, type: file, inputs: [t], config: {{path: out.jsonl}}}}
"#
    ));
    let run = ws.run(&file);
    run.assert_success();
    let out = ws.events("out.jsonl");
    let dead = ws.events("dead.jsonl");
    let even: Vec<String> = (0..300).step_by(2).map(|n| format!("gen-{n:012}")).collect();
    let got: Vec<&str> = out.iter().map(|e| e["id"].as_str().unwrap()).collect();
    assert_eq!(got, even, "even ids pass, in order");
    assert_eq!(dead.len(), 150);
    assert!(dead.iter().all(|l| l["error_kind"] == "trap"), "{:?}", dead.first());
    assert!(run.processor("t")["restarts"].as_u64().unwrap() >= 150);
}

#[test]
fn weighted_versions_split_traffic_and_keep_each_key_on_one_version() {
    let ws = Workspace::new();
    let pass = guest("passthrough");
    let file = ws.pipeline(&format!(
        r#"
  sources:
    - {{id: gen, type: generator, config: {{count: 20000, event_size: 64}}}}
  processors:
    - id: p
      type: wasm
      inputs: [gen]
      wasm:
        route_by: data.user
        pool_size: 2
        versions:
          - {{name: v1, module: "{pass}", weight: 90}}
          - {{name: v2, module: "{pass}", weight: 10}}
  sinks:
    - {{id: out, type: file, inputs: [p], config: {{path: out.jsonl}}}}
"#
    ));
    let run = ws.run(&file);
    run.assert_success();
    let out = ws.events("out.jsonl");
    assert_eq!(out.len(), 20_000);
    let mut by_user: HashMap<String, HashSet<String>> = HashMap::new();
    let mut v2 = 0;
    for (n, e) in out.iter().enumerate() {
        assert_eq!(e["id"], format!("gen-{n:012}"), "merging versions keeps input order");
        let version = e["metadata"]["flowctl.module_version"].as_str().unwrap().to_string();
        v2 += usize::from(version == "v2");
        by_user.entry(e["data"]["user"].as_str().unwrap().to_string()).or_default().insert(version);
    }
    assert!(by_user.values().all(|v| v.len() == 1), "a user switched versions");
    let share = v2 as f64 / out.len() as f64;
    assert!((0.08..=0.12).contains(&share), "v2 share {share}");
}

#[test]
fn a_pipeline_that_cannot_start_says_why() {
    let ws = Workspace::new();
    std::fs::write(ws.path("broken.wasm"), b"not wasm at all").unwrap();
    let file = ws.pipeline(
        r#"
  sources:
    - {id: gen, type: generator, config: {count: 10}}
  processors:
    - {id: bad, type: wasm, inputs: [gen], wasm: {module: broken.wasm}}
  sinks:
    - {id: out, type: null, inputs: [bad]}
"#,
    );
    let run = ws.run(&file);
    assert_eq!(run.code, Some(2), "{}", run.stderr);
    assert!(run.stderr.contains("processor bad") && run.stderr.contains("broken.wasm"), "{}", run.stderr);

    let file = ws.pipeline(
        r#"
  sources:
    - {id: gen, type: generator, config: {count: 10}}
  sinks:
    - {id: out, type: null, inputs: [nowhere]}
"#,
    );
    let run = ws.run(&file);
    assert_eq!(run.code, Some(2), "{}", run.stderr);
    assert!(run.stderr.contains("pipeline.yaml:") && run.stderr.contains("nowhere"), "{}", run.stderr);
}
