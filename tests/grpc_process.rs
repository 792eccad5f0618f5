//! A process-driven component under the real `flowctl run`: flowctl starts
//! `examples/grpc_component` as a `type: grpc` processor, the component
//! registers with flowctl's control plane, is killed with SIGKILL mid-run,
//! is restarted by flowctl on the same port and registers again, and the
//! pipeline ends with every event delivered once, in order.

#![allow(clippy::unwrap_used)] // tests: a failed unwrap is a failed test

mod engine_common;
mod grpc_stage_common;
mod telemetry_common;

use std::collections::HashSet;
use std::path::PathBuf;

use flowctl::grpc::pb;
use flowctl::grpc::pb::control_plane_service_client::ControlPlaneServiceClient;
use prometheus_parse::Scrape;

use engine_common::*;
use grpc_stage_common::*;
use telemetry_common::{line_count, value, wait_until};

/// `target/debug/examples/grpc_component`, built here if missing or older than its source.
fn example_binary() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let debug = exe.parent().and_then(|deps| deps.parent()).unwrap();
    let path = debug.join("examples").join("grpc_component");
    let source = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/grpc_component.rs");
    let modified = |p: &std::path::Path| std::fs::metadata(p).and_then(|m| m.modified()).ok();
    // `cargo test` builds examples; `cargo test --test grpc_process` does not.
    if modified(&path) < modified(&source) {
        let mut cargo = std::process::Command::new(env!("CARGO"));
        cargo.args(["build", "--example", "grpc_component"]).current_dir(env!("CARGO_MANIFEST_DIR"));
        // The variables `cargo test` set for this test would look like a changed
        // environment to build scripts (ring's), and rebuild them here and again after.
        for (key, _) in std::env::vars() {
            if (key.starts_with("CARGO_") && key != "CARGO_HOME" && key != "CARGO_TARGET_DIR") || key == "OUT_DIR" {
                cargo.env_remove(key);
            }
        }
        let status = cargo.status().unwrap();
        assert!(status.success(), "cannot build the example component");
    }
    assert!(path.exists(), "{} is missing", path.display());
    path
}

/// Whether `pid` no longer runs: no such process, or a zombie (killed, and
/// waiting for whoever adopted it to reap it).
fn gone(pid: i32) -> bool {
    // SAFETY: kill(2) with signal 0 only checks whether the pid exists.
    if unsafe { libc::kill(pid, 0) } != 0 {
        return true;
    }
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    stat.rsplit_once(')').is_some_and(|(_, rest)| rest.trim_start().starts_with('Z'))
}

/// The registrations flowctl's control plane lists for component `id`: (service id, pid).
fn registrations(runtime: &tokio::runtime::Runtime, url: &str, id: &str) -> Vec<(String, String)> {
    runtime.block_on(async {
        let Ok(mut client) = ControlPlaneServiceClient::connect(url.to_owned()).await else { return Vec::new() };
        let request = pb::ListComponentsRequest { r#type: pb::ComponentType::Processor as i32 };
        let list = client.list_components(request).await.unwrap().into_inner();
        list.components
            .into_iter()
            .filter(|c| c.service_id.starts_with(&format!("{id}-")))
            .map(|c| (c.service_id, c.component.unwrap().metadata["pid"].clone()))
            .collect()
    })
}

#[test]
fn a_killed_component_is_restarted_registers_again_and_nothing_is_lost() {
    let component = example_binary();
    let ws = Workspace::new();
    let plane_port = free_port();
    let count = 20_000;
    let file = ws.pipeline(&format!(
        r#"
  settings:
    dead_letter: {{type: file, path: dead.jsonl}}
    control_plane_addr: "127.0.0.1:{plane_port}"
  sources:
    - {{id: gen, type: generator, config: {{count: {count}, rate: 5000}}}}
  processors:
    - id: p
      type: grpc
      inputs: [gen]
      config:
        command: ["{}"]
        batch_size: 100
        max_retries: 50
        backoff: {{initial: 50ms, max: 200ms}}
  sinks:
    - {{id: out, type: file, inputs: [p], config: {{path: out.jsonl}}}}
"#,
        component.display()
    ));
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let url = format!("http://127.0.0.1:{plane_port}");
    let flowctl = Running::start(&ws, &file);

    let mut first = Vec::new();
    wait_until("the component's registration", || {
        first = registrations(&runtime, &url, "p");
        !first.is_empty()
    });
    let (first_service, first_pid) = first[0].clone();
    wait_until("events through the component", || line_count(&ws, "out.jsonl") >= 2000);
    // SAFETY: kill(2) with a pid the component reported and a valid signal number.
    assert_eq!(unsafe { libc::kill(first_pid.parse().unwrap(), libc::SIGKILL) }, 0);

    let mut again = Vec::new();
    wait_until("a registration of the restarted component", || {
        again = registrations(&runtime, &url, "p");
        again.iter().any(|(_, pid)| *pid != first_pid)
    });
    assert_eq!(again.len(), 1, "the new registration replaced the old one: {again:?}");
    let (second_service, second_pid) = again[0].clone();
    assert_ne!(second_service, first_service);
    let (_, body) = flowctl.get("/metrics");
    let scrape = Scrape::parse(body.lines().map(|l| Ok(l.to_owned()))).unwrap();
    assert_eq!(value(&scrape, "flowctl_process_restarts_total", &[("component", "p")]), Some(1.0));
    assert_eq!(value(&scrape, "flowctl_control_plane_components", &[("status", "healthy")]), Some(1.0));

    let run = flowctl.finish();
    run.assert_success();
    let out = ws.events("out.jsonl");
    let ids: Vec<&str> = out.iter().map(|e| e["id"].as_str().unwrap()).collect();
    let expected: Vec<String> = (0..count).map(|n| format!("gen-{n:012}")).collect();
    assert!(ids == expected, "every event once, in order ({} of {count})", ids.len());
    assert!(ws.events("dead.jsonl").is_empty());
    let pids: HashSet<&str> = out.iter().map(|e| e["metadata"]["example.pid"].as_str().unwrap()).collect();
    assert_eq!(pids, HashSet::from([first_pid.as_str(), second_pid.as_str()]), "both processes served events");

    let logged =
        |text: &str| run.logs.iter().any(|l| l["fields"]["message"].as_str().is_some_and(|m| m.starts_with(text)));
    assert!(logged("component registered"), "{}", run.stderr);
    assert!(logged("component process exited: restarting it"), "{}", run.stderr);
    assert!(logged("component process restarted"), "{}", run.stderr);
    assert!(logged("component process stopped"), "stopped on shutdown:\n{}", run.stderr);
    assert!(logged("component unregistered"), "it said goodbye on SIGTERM:\n{}", run.stderr);
    assert!(gone(second_pid.parse().unwrap()), "no component process outlives flowctl");
}

#[test]
fn a_component_that_dies_at_start_fails_the_run_by_name_with_its_output() {
    let ws = Workspace::new();
    let file = ws.pipeline(
        r#"
  sources:
    - {id: gen, type: generator, config: {count: 10}}
  processors:
    - id: broken
      type: grpc
      inputs: [gen]
      config: {command: ["/bin/sh", "-c", "echo cannot open the ledger database >&2; exit 3"]}
  sinks:
    - {id: out, type: file, inputs: [broken], config: {path: out.jsonl}}
"#,
    );
    let run = ws.run(&file);
    assert_eq!(run.code, Some(2), "{}", run.stderr);
    let error = run.logs.iter().find(|l| l["level"] == "ERROR").unwrap_or_else(|| panic!("{}", run.stderr));
    let message = error["fields"]["message"].as_str().unwrap();
    assert!(message.contains("broken: the process exited (exit status: 3)"), "{message}");
    assert!(message.contains("cannot open the ledger database"), "its stderr is quoted: {message}");
}

#[test]
fn a_wrapper_that_ignores_sigterm_is_killed_with_everything_it_started() {
    let component = example_binary();
    let ws = Workspace::new();
    // The shell ignores SIGTERM and never exits; the component it started is
    // a grandchild of flowctl, which must not outlive it.
    let script = r#"trap '' TERM; "$0" & echo "component pid $!"; while :; do sleep 1; done"#;
    let file = ws.pipeline(&format!(
        r#"
  sources:
    - {{id: gen, type: generator, config: {{count: 500}}}}
  processors:
    - id: wrapped
      type: grpc
      inputs: [gen]
      config: {{command: ["/bin/sh", "-c", {script:?}, "{}"], stop_grace: 300ms}}
  sinks:
    - {{id: out, type: file, inputs: [wrapped], config: {{path: out.jsonl}}}}
"#,
        component.display()
    ));
    let run = ws.run(&file);
    run.assert_success();
    assert_eq!(line_count(&ws, "out.jsonl"), 500);
    let messages: Vec<&str> = run.logs.iter().filter_map(|l| l["fields"]["message"].as_str()).collect();
    let pid: i32 = messages
        .iter()
        .find_map(|m| m.strip_prefix("component pid "))
        .unwrap_or_else(|| panic!("the wrapper's output is in the log:\n{}", run.stderr))
        .parse()
        .unwrap();
    assert!(messages.contains(&"component process ignored SIGTERM: killing it"), "{}", run.stderr);
    wait_until("the component the wrapper started gone too", || gone(pid));
}

#[test]
fn a_component_does_not_outlive_a_flowctl_killed_with_sigkill() {
    let component = example_binary();
    let ws = Workspace::new();
    let plane_port = free_port();
    let file = ws.pipeline(&format!(
        r#"
  settings:
    control_plane_addr: "127.0.0.1:{plane_port}"
  sources:
    - {{id: gen, type: generator, config: {{rate: 100}}}}
  processors:
    - {{id: p, type: grpc, inputs: [gen], config: {{command: ["{}"]}}}}
  sinks:
    - {{id: out, type: null, inputs: [p]}}
"#,
        component.display()
    ));
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let url = format!("http://127.0.0.1:{plane_port}");
    let mut flowctl = Running::start(&ws, &file);
    let mut registered = Vec::new();
    wait_until("the component's registration", || {
        registered = registrations(&runtime, &url, "p");
        !registered.is_empty()
    });
    let pid: i32 = registered[0].1.parse().unwrap();
    // SAFETY: kill(2) with the pid of the flowctl this test started.
    assert_eq!(unsafe { libc::kill(flowctl.pid() as libc::pid_t, libc::SIGKILL) }, 0);
    wait_until("flowctl to die", || flowctl.exited());
    wait_until("the component to stop with its parent", || gone(pid));
}
