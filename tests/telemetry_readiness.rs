//! `/readyz` and `/healthz` of a real `flowctl run` over HTTP: a processor
//! whose instances crash on every event turns readiness to 503 with the
//! reason, and it turns 200 again once events get through.

#![allow(clippy::unwrap_used)] // tests: a failed unwrap is a failed test

mod engine_common;
mod telemetry_common;

use engine_common::*;
use telemetry_common::*;

#[test]
fn readyz_turns_503_while_a_processor_crash_loops_and_200_after_it_recovers() {
    let ws = Workspace::new();
    let input = ws.path("in.jsonl");
    std::fs::write(&input, "").unwrap();
    let trap = format!("{}/tests/guests/trap_on_odd.wat", env!("CARGO_MANIFEST_DIR"));
    let file = ws.pipeline(&format!(
        r#"
  settings:
    dead_letter: {{type: file, path: dead.jsonl}}
  sources:
    - {{id: in, type: file, config: {{path: in.jsonl, follow: true}}}}
  processors:
    - {{id: t, type: wasm, inputs: [in], wasm: {{module: "{trap}", pool_size: 1, batch_size: 1, max_retries: 0}}}}
  sinks:
    - {{id: out, type: file, inputs: [t], config: {{path: out.jsonl}}}}
"#
    ));
    let live = Live::start(&ws, &file);
    wait_until("readiness once the pipeline runs", || live.get("/readyz").0 == 200);
    assert_eq!(live.get("/healthz").0, 200);

    // Odd ids trap: every batch (of one event) fails and restarts the instance.
    append_events(&input, (1..10).step_by(2));
    wait_until("503 from /readyz", || live.get("/readyz").0 == 503);
    let (_, body) = live.get("/readyz");
    assert!(body.contains("t: crash-looping"), "the processor and the reason are named: {body}");
    assert_eq!(live.get("/healthz").0, 200, "alive, even if not ready");
    let (_, scrape) = live.scrape();
    assert_eq!(value(&scrape, "flowctl_component_ready", &[("component", "t")]), Some(0.0));
    assert_eq!(value(&scrape, "flowctl_component_ready", &[("component", "out")]), Some(1.0));

    // Even ids pass: the first one through makes the processor ready again.
    append_events(&input, [10, 12]);
    wait_until("200 from /readyz after recovery", || live.get("/readyz").0 == 200);
    wait_until("the good events at the sink", || line_count(&ws, "out.jsonl") == 2);
    assert_eq!(line_count(&ws, "dead.jsonl"), 5);
    let (_, scrape) = live.scrape();
    assert_eq!(value(&scrape, "flowctl_component_ready", &[("component", "t")]), Some(1.0));
    assert_eq!(value(&scrape, "flowctl_instance_restarts_total", &[("component", "t"), ("reason", "trap")]), Some(5.0));

    let run = live.stop();
    run.assert_success();
    let down =
        run.logs.iter().any(|l| l["fields"]["message"].as_str().is_some_and(|m| m.starts_with("processor down")));
    assert!(down, "the state change is logged:\n{}", run.stderr);
}
