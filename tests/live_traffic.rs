//! Versions and traffic on the real binary: the weighted sticky split, the
//! `flowctl traffic` / `rollback` / `status` commands against a running
//! pipeline, the automatic canary rollback, and the restart circuit breaker.
//! (The 90/10 split over 100,000 keys is checked on the routing code itself,
//! in `src/actors/versions.rs`.)

#![allow(clippy::unwrap_used)] // tests: a failed unwrap is a failed test

mod engine_common;
mod live_common;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::process::Stdio;

use live_common::*;
use serde_json::Value;

fn tag(e: &Value) -> &str {
    e["metadata"]["flowctl.module_version"].as_str().unwrap()
}

fn events(live: &Live, version: usize) -> u64 {
    live.version("p", version)["events"].as_u64().unwrap()
}

/// Every generated id (`gen-000000000000` ...) once, in outputs or dead letters.
fn assert_each_id_once(outputs: &[Value], dead: &[Value], emitted: u64) {
    let mut seen = BTreeSet::new();
    for id in outputs.iter().map(|e| &e["id"]).chain(dead.iter().map(|d| &d["event"]["id"])) {
        assert!(seen.insert(id.as_str().unwrap().to_string()), "{id} twice");
    }
    assert_eq!(seen.len() as u64, emitted, "every emitted event once in outputs or dead letters");
    assert!((0..emitted).all(|n| seen.contains(&format!("gen-{n:012}"))), "an id is missing");
}

#[test]
fn a_ninety_ten_split_by_a_data_field_is_sticky_end_to_end() {
    let ws = Workspace::new();
    let (v1, v2) = (guest("passthrough"), guest("failing"));
    let file = ws.live_pipeline(&format!(
        r#"
  sources: [{{id: gen, type: generator, config: {{count: 20000, event_size: 64}}}}]
  processors:
    - id: p
      type: wasm
      inputs: [gen]
      wasm:
        versions: [{{name: v1, module: "{}", weight: 90}}, {{name: v2, module: "{}", weight: 10}}]
        route_by: data.user
  sinks: [{{id: out, type: file, inputs: [p], config: {{path: out.jsonl}}}}]
"#,
        v1.display(),
        v2.display()
    ));
    let mut live = ws.start(&file, Stdio::null());
    let (code, log) = live.wait();
    assert_eq!(code, Some(0), "{log}");
    let out = ws.events("out.jsonl");
    assert_eq!(out.len(), 20_000);
    let mut by_user: HashMap<&str, BTreeSet<&str>> = HashMap::new();
    for e in &out {
        by_user.entry(e["data"]["user"].as_str().unwrap()).or_default().insert(tag(e));
    }
    assert!(by_user.len() > 100, "enough distinct keys to judge the split");
    assert!(by_user.values().all(|tags| tags.len() == 1), "a user's events went to two versions");
    let users_on_v1 = by_user.values().filter(|t| t.contains("v1")).count() as f64 / by_user.len() as f64;
    // Keys, not events, are split by weight; with a few thousand keys 90% +- 5 is a wide margin.
    assert!((0.85..=0.95).contains(&users_on_v1), "{users_on_v1}");
}

#[test]
fn traffic_and_rollback_commands_reroute_a_running_pipeline() {
    let ws = Workspace::new();
    let (v1, v2) = (guest("passthrough"), guest("failing"));
    let file = ws.live_pipeline(&format!(
        r#"
  sources: [{{id: gen, type: generator, config: {{rate: 4000, event_size: 64}}}}]
  processors:
    - id: p
      type: wasm
      inputs: [gen]
      wasm: {{versions: [{{name: v1, module: "{}", weight: 90}}, {{name: v2, module: "{}", weight: 10}}]}}
  sinks: [{{id: out, type: file, inputs: [p], config: {{path: out.jsonl}}}}]
"#,
        v1.display(),
        v2.display()
    ));
    let live = ws.start(&file, Stdio::null());
    wait_for(LONG, "traffic on both versions", || (events(&live, 0) > 500 && events(&live, 1) > 20).then_some(()));

    let status = live.cli(&["status"]);
    assert_eq!(status.code, Some(0), "{}", status.stderr);
    assert!(status.stdout.contains("processor p") && status.stdout.contains("v2"), "{}", status.stdout);
    assert!(
        status.stdout.lines().any(|l| l.trim_start().starts_with("v1") && l.contains("90.0%")),
        "{}",
        status.stdout
    );

    // All to v2: once v2 ran 2,000 more events, batches dispatched before the change are done...
    let traffic = live.cli(&["traffic", "p", "v1=0", "v2=100"]);
    assert_eq!(traffic.code, Some(0), "{}", traffic.stderr);
    assert!(traffic.stdout.contains("v2=100 (100.0%)"), "{}", traffic.stdout);
    let mark = events(&live, 1);
    wait_for(LONG, "v2 taking the traffic", || (events(&live, 1) > mark + 2000).then_some(()));
    // ...so v1 gets nothing more.
    let v1_after = events(&live, 0);
    let mark = events(&live, 1);
    wait_for(LONG, "more traffic on v2", || (events(&live, 1) > mark + 2000).then_some(()));
    assert_eq!(events(&live, 0), v1_after, "v1 still got events after `traffic p v1=0 v2=100`");

    let rollback = live.cli(&["rollback", "p", "--to", "v1"]);
    assert_eq!(rollback.code, Some(0), "{}", rollback.stderr);
    assert!(rollback.stdout.contains("all traffic now goes to v1"), "{}", rollback.stdout);
    let mark = events(&live, 0);
    wait_for(LONG, "v1 taking the traffic back", || (events(&live, 0) > mark + 2000).then_some(()));
    let v2_after = events(&live, 1);
    let mark = events(&live, 0);
    wait_for(LONG, "more traffic on v1", || (events(&live, 0) > mark + 2000).then_some(()));
    assert_eq!(events(&live, 1), v2_after, "v2 still got events after `rollback p --to v1`");

    // Refusals: plain message, exit 1, routing unchanged.
    for (args, message) in [
        (vec!["traffic", "p", "v9=1"], r#"processor p has no version "v9" (versions: v1, v2)"#),
        (vec!["traffic", "nope", "v1=1"], r#"no processor "nope" in this pipeline (processors: p)"#),
        (vec!["traffic", "p", "v1=0"], "every version of p would have weight 0"),
        (vec!["rollback", "p", "--to", "v3"], r#"has no version "v3""#),
    ] {
        let refused = live.cli(&args);
        assert_eq!(refused.code, Some(1), "{args:?}: {}", refused.stderr);
        assert!(refused.stderr.contains(message), "{args:?}: {}", refused.stderr);
    }
    let weights: Vec<u64> = (0..2).map(|v| live.version("p", v)["weight"].as_u64().unwrap()).collect();
    assert_eq!(weights, [100, 0]);

    let (code, log) = live.stop();
    assert_eq!(code, Some(0), "{log}");
    let emitted = Live::report(&log, "source finished", "gen")["emitted"].as_u64().unwrap();
    let out = ws.events("out.jsonl");
    assert_each_id_once(&out, &[], emitted);
    assert!(out.iter().all(|e| ["v1", "v2"].contains(&tag(e))));
}

#[test]
fn a_canary_failing_a_fifth_of_its_events_is_rolled_back_without_losing_any() {
    let ws = Workspace::new();
    let (v1, v2) = (guest("passthrough"), guest("failing"));
    let file = ws.live_pipeline(&format!(
        r#"
  sources: [{{id: gen, type: generator, config: {{rate: 10000, event_size: 64}}}}]
  processors:
    - id: p
      type: wasm
      inputs: [gen]
      config: {{fail_every: 5}}
      wasm:
        versions: [{{name: v1, module: "{}", weight: 90}}, {{name: v2, module: "{}", weight: 10}}]
        rollback: {{max_error_rate: 0.05, min_events: 500}}
  sinks: [{{id: out, type: file, inputs: [p], config: {{path: out.jsonl}}}}]
"#,
        v1.display(),
        v2.display()
    ));
    let live = ws.start(&file, Stdio::null());
    wait_for(LONG, "the rollback", || (live.version("p", 1)["state"] == "rolled_back").then_some(()));
    let v2 = live.version("p", 1);
    assert_eq!((v2["weight"].as_u64(), v2["traffic_percent"].as_f64()), (Some(0), Some(0.0)), "{v2}");
    assert!(v2["error_rate"].as_f64().unwrap() > 0.05, "{v2}");
    assert!(live.metrics().contains(r#"flowctl_rollbacks_total{component="p",version="v2"} 1"#));
    let logged = live.log_lines("canary rolled back");
    assert_eq!(logged.len(), 1, "{}", live.log_text());
    assert_eq!(logged[0]["fields"]["version"], "v2");
    // Traffic moved: v1 keeps going, v2 gets nothing new.
    // Batches dispatched before the rollback still finish on v2; once v1 ran
    // 2,000 more events they are done, and v2 gets nothing new.
    let mark = events(&live, 0);
    wait_for(LONG, "traffic after the rollback", || (events(&live, 0) > mark + 2000).then_some(()));
    let v2_final = events(&live, 1);
    let mark = events(&live, 0);
    wait_for(LONG, "more traffic after the rollback", || (events(&live, 0) > mark + 2000).then_some(()));
    assert_eq!(events(&live, 1), v2_final, "v2 got events after its rollback");

    let (code, log) = live.stop();
    assert_eq!(code, Some(0), "{log}");
    let emitted = Live::report(&log, "source finished", "gen")["emitted"].as_u64().unwrap();
    let (out, dead) = (ws.events("out.jsonl"), ws.events("dead.jsonl"));
    assert_each_id_once(&out, &dead, emitted);
    assert!(dead.iter().all(|d| d["version"] == "v2" && d["error_kind"] == "guest_error"), "{:?}", dead.first());
    // The window saw 500 events before deciding; at most a few in-flight batches more ran on v2.
    assert!((500..1500).contains(&v2_final), "v2 ran {v2_final} events");
}

#[test]
fn a_version_that_keeps_crashing_trips_its_circuit_breaker() {
    let ws = Workspace::new();
    let (pass, trap) = (guest("passthrough"), test_guest("trap.wat"));
    let file = ws.live_pipeline(&format!(
        r#"
  sources: [{{id: gen, type: generator, config: {{rate: 2000, event_size: 64}}}}]
  processors:
    - id: p
      type: wasm
      inputs: [gen]
      wasm:
        versions: [{{name: v1, module: "{}", weight: 50}}, {{name: v2, module: "{}", weight: 50}}]
        max_retries: 1
        batch_size: 16
        circuit_breaker: {{max_restarts: 20, window: 10s, cooldown: 10m}}
  sinks: [{{id: out, type: file, inputs: [p], config: {{path: out.jsonl}}}}]
"#,
        pass.display(),
        trap.display()
    ));
    let live = ws.start(&file, Stdio::null());
    wait_for(LONG, "the breaker to open", || (live.version("p", 1)["circuit"] == "open").then_some(()));
    let v2 = live.version("p", 1);
    assert!(v2["restarts"].as_u64().unwrap() >= 20, "{v2}");
    assert_eq!(v2["traffic_percent"].as_f64(), Some(0.0), "{v2}");
    let status = live.cli(&["status"]);
    assert!(status.stdout.lines().any(|l| l.trim_start().starts_with("v2") && l.contains("open")), "{}", status.stdout);
    let metrics = live.metrics();
    assert!(
        metrics.contains(r#"flowctl_circuit_breaker_state{component="p",version="v2",state="open"} 1"#),
        "{metrics}"
    );
    // Batches dispatched before it opened still finish on v2; once v1 ran
    // 1,000 more events they are done, and v2 gets nothing new.
    let mark = events(&live, 0);
    wait_for(LONG, "traffic on v1", || (events(&live, 0) > mark + 1000).then_some(()));
    let v2_final = events(&live, 1);
    let mark = events(&live, 0);
    wait_for(LONG, "more traffic on v1", || (events(&live, 0) > mark + 1000).then_some(()));
    assert_eq!(events(&live, 1), v2_final, "v2 got events with its circuit open");

    let (code, log) = live.stop();
    assert_eq!(code, Some(0), "{log}");
    let emitted = Live::report(&log, "source finished", "gen")["emitted"].as_u64().unwrap();
    let (out, dead) = (ws.events("out.jsonl"), ws.events("dead.jsonl"));
    assert_each_id_once(&out, &dead, emitted);
    let kinds: BTreeMap<&str, usize> = dead.iter().fold(BTreeMap::new(), |mut m, d| {
        *m.entry(d["error_kind"].as_str().unwrap()).or_default() += 1;
        m
    });
    assert_eq!(kinds.keys().copied().collect::<Vec<_>>(), ["trap"], "{kinds:?}");
}

#[test]
fn a_lone_version_with_an_open_circuit_dead_letters_instead_of_running() {
    let ws = Workspace::new();
    let trap = test_guest("trap.wat");
    let file = ws.live_pipeline(&format!(
        r#"
  sources: [{{id: gen, type: generator, config: {{count: 3000, event_size: 64}}}}]
  processors:
    - id: p
      type: wasm
      inputs: [gen]
      wasm: {{module: "{}", max_retries: 0, batch_size: 16, circuit_breaker: {{max_restarts: 10, window: 1m, cooldown: 10m}}}}
  sinks: [{{id: out, type: file, inputs: [p], config: {{path: out.jsonl}}}}]
"#,
        trap.display()
    ));
    let mut live = ws.start(&file, Stdio::null());
    let (code, log) = live.wait();
    assert_eq!(code, Some(0), "{log}");
    let dead = ws.events("dead.jsonl");
    assert_each_id_once(&[], &dead, 3000);
    let open = dead.iter().filter(|d| d["error_kind"] == "circuit_open").count();
    let trapped = dead.iter().filter(|d| d["error_kind"] == "trap").count();
    assert_eq!(open + trapped, 3000);
    assert!(open > 2000, "most events never reached an instance: {open} circuit_open, {trapped} trap");
    let p = Live::report(&log, "processor finished", "p");
    assert!(p["restarts"].as_u64().unwrap() < 500, "{p}");
}

#[test]
fn the_admin_api_off_loopback_requires_a_token() {
    let ws = Workspace::new();
    let spec = format!(
        r#"
  sources: [{{id: gen, type: generator, config: {{rate: 100}}}}]
  processors: [{{id: p, type: wasm, inputs: [gen], wasm: {{module: "{}"}}}}]
  sinks: [{{id: out, type: 'null', inputs: [p]}}]
"#,
        guest("passthrough").display()
    );
    // In the file: a config error with file:line.
    let open = ws.live_pipeline_with("\n    metrics_addr: 0.0.0.0:9999", &spec);
    let checked = cli(&["validate", open.to_str().unwrap()]);
    assert_eq!(checked.code, Some(1), "{}", checked.stderr);
    assert!(checked.stderr.contains("pipeline.yaml:6: spec.settings.metrics_addr"), "{}", checked.stderr);
    assert!(checked.stderr.contains("admin_token"), "{}", checked.stderr);

    // From the flag: refused at start.
    let plain = ws.live_pipeline(&spec);
    let refused = flowctl().arg("run").arg(&plain).args(["--metrics-addr", "0.0.0.0:0"]).output().unwrap();
    assert_eq!(refused.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&refused.stderr).contains("admin_token"));

    // With a token: /admin needs it, /metrics does not.
    let guarded = ws.live_pipeline_with("{admin_token: s3cret}", &spec);
    let live = ws.start_as(&guarded, Stdio::null(), Some("s3cret"));
    let denied = live.cli(&["status"]);
    assert_eq!(denied.code, Some(1));
    assert!(denied.stderr.contains("missing or wrong admin token"), "{}", denied.stderr);
    assert_eq!(live.cli(&["status", "--token", "guess"]).code, Some(1));
    let allowed = live.cli(&["status", "--token", "s3cret"]);
    assert_eq!(allowed.code, Some(0), "{}", allowed.stderr);
    assert!(allowed.stdout.contains("processor p"));
    assert!(live.metrics().contains("flowctl_build_info"));
    let (code, log) = live.stop();
    assert_eq!(code, Some(0), "{log}");
}
