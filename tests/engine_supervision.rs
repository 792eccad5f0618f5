//! Worker supervision in a real `flowctl run`: guest calls blocked in a host
//! call (WASI `poll_oneoff` sleeping past a 100 ms `timeout`, see
//! `tests/guests/blocking_call.wat`) neither stall the pipeline nor lose an
//! event, and `/readyz` names the processor while they last.
//!
//! Such a call is stuck as long as the host does not bound `poll_oneoff` by
//! the call's deadline; once it does, the call ends at the deadline instead
//! (`deadline`). Both tests hold in either case: what they check (no stall,
//! order, every event in the output or the dead letters exactly once, the
//! processor named by `/readyz` and ready again) must hold whichever ends the
//! call. The watchdog's own behaviour (replacement within bounds, instance
//! discarded, results still delivered) is tested exactly, with a blocking
//! host call injected, in `src/workers/supervisor_tests.rs`.

#![allow(clippy::unwrap_used)] // tests: a failed unwrap is a failed test

mod engine_common;
mod telemetry_common;

use engine_common::*;
use telemetry_common::*;

fn pipeline(ws: &Workspace, follow: bool) -> std::path::PathBuf {
    let guest = format!("{}/tests/guests/blocking_call.wat", env!("CARGO_MANIFEST_DIR"));
    ws.pipeline(&format!(
        r#"
  settings:
    dead_letter: {{type: file, path: dead.jsonl}}
  sources:
    - {{id: in, type: file, config: {{path: in.jsonl, follow: {follow}}}}}
  processors:
    - id: t
      type: wasm
      inputs: [in]
      wasm: {{module: "{guest}", pool_size: 2, batch_size: 1, max_retries: 0, limits: {{timeout: 100ms}}}}
  sinks:
    - {{id: out, type: file, inputs: [t], config: {{path: out.jsonl}}}}
"#
    ))
}

fn ids(ws: &Workspace, file: &str, at: &[&str]) -> Vec<String> {
    let pointer = at.iter().map(|k| format!("/{k}")).collect::<String>();
    ws.events(file).iter().map(|e| e.pointer(&pointer).and_then(|v| v.as_str()).unwrap().to_owned()).collect()
}

#[test]
fn calls_blocked_in_the_host_make_the_processor_unready_and_every_event_is_accounted_for() {
    let ws = Workspace::new();
    let input = ws.path("in.jsonl");
    std::fs::write(&input, "").unwrap();
    let live = Live::start(&ws, &pipeline(&ws, true));
    wait_until("readiness once the pipeline runs", || live.get("/readyz").0 == 200);

    // Odd ids block for 3 s in their call: stuck past `timeout` + grace, or
    // (with the host bounding the call) three deadline failures in a row.
    append_events(&input, [1, 3, 5]);
    wait_until("503 from /readyz", || live.get("/readyz").0 == 503);
    let (_, body) = live.get("/readyz");
    assert!(body.contains("t: stuck worker") || body.contains("t: crash-looping"), "the processor is named: {body}");
    assert_eq!(live.get("/healthz").0, 200);

    // Capacity remains for events that do not block, and readiness returns
    // once the blocked calls are over (or the first event gets through).
    append_events(&input, [10, 12]);
    wait_until("the good events at the sink", || line_count(&ws, "out.jsonl") == 2);
    wait_until("200 from /readyz", || live.get("/readyz").0 == 200);
    wait_until("every blocked event dead-lettered", || line_count(&ws, "dead.jsonl") == 3);

    let run = live.stop();
    run.assert_success();
    assert_eq!(ids(&ws, "out.jsonl", &["id"]), ["e10", "e12"]);
    let mut dead = ids(&ws, "dead.jsonl", &["event", "id"]);
    dead.sort();
    assert_eq!(dead, ["e1", "e3", "e5"], "each blocked event exactly once");
    let t = run.processor("t");
    assert_eq!(
        (t["received"].as_u64(), t["dead_lettered"].as_u64(), t["balanced"].as_bool()),
        (Some(5), Some(3), Some(true))
    );
}

#[test]
fn calls_blocked_for_an_hour_do_not_stall_the_pipeline() {
    let ws = Workspace::new();
    // Ids ending in 9 block for an hour; with pool_size 2 the watchdog may add
    // two threads, so the two blocked calls leave room for the others.
    append_events(&ws.path("in.jsonl"), [2, 9, 4, 19, 6]);
    let live = Live::start(&ws, &pipeline(&ws, false));
    let run = live.finish();
    run.assert_success();
    assert_eq!(ids(&ws, "out.jsonl", &["id"]), ["e2", "e4", "e6"], "the others come out, in order");
    let dead = ws.events("dead.jsonl");
    let dead_ids: Vec<&str> = dead.iter().map(|d| d["event"]["id"].as_str().unwrap()).collect();
    assert_eq!(dead_ids, ["e9", "e19"]);
    for letter in &dead {
        // `stuck_call`: the watchdog gave the batch up; `deadline`: the host ended the call.
        let kind = letter["error_kind"].as_str().unwrap();
        assert!(kind == "stuck_call" || kind == "deadline", "{letter}");
    }
    let t = run.processor("t");
    assert_eq!((t["received"].as_u64(), t["balanced"].as_bool()), (Some(5), Some(true)));
}
