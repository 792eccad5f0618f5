//! Quotas and the audit log against the real binary: a processor over its CPU
//! quota has its events dead-lettered as `quota_exceeded` (visible in
//! `/admin/status` and the metrics), and every denied capability, breached
//! limit and quota decision lands in `settings.audit_log` with its tenant.

#![allow(clippy::unwrap_used)] // tests: a failed unwrap is a failed test

mod engine_common;
mod telemetry_common;

use engine_common::{wat_guest, Workspace};
use serde_json::Value;
use telemetry_common::{append_events, line_count, value, wait_until, Live};

#[test]
fn quota_breaches_limits_and_denials_are_enforced_and_audited() {
    let ws = Workspace::new();
    let file = ws.pipeline(&format!(
        r#"
  settings: {{audit_log: audit.jsonl, dead_letter: {{type: file, path: dead.jsonl}}}}
  sources:
    - {{id: in, type: file, config: {{path: in.jsonl, follow: true}}}}
  processors:
    - id: busy
      type: wasm
      inputs: [in]
      wasm:
        module: "{busy}"
        batch_size: 1
        tenant: acme
        quotas: {{cpu_seconds_per_hour: 0.02, on_breach: dead_letter}}
    - id: looping
      type: wasm
      inputs: [in]
      wasm: {{module: "{looping}", tenant: beta, max_retries: 0, limits: {{timeout: 20ms}}}}
    - id: denied
      type: wasm
      inputs: [in]
      wasm: {{module: "{denied}", max_retries: 0}}
  sinks:
    - {{id: out, type: file, inputs: [busy, looping, denied], config: {{path: out.jsonl}}}}
"#,
        busy = wat_guest("busy"),
        looping = wat_guest("infinite_loop"),
        denied = wat_guest("ungranted_import"),
    ));
    std::fs::write(ws.path("in.jsonl"), "").unwrap();
    let live = Live::start(&ws, &file);
    append_events(&ws.path("in.jsonl"), 0..40);
    // Every event is accounted for: 40 through each of the three processors.
    wait_until("120 outcomes", || line_count(&ws, "out.jsonl") + line_count(&ws, "dead.jsonl") == 120);

    let dead = ws.events("dead.jsonl");
    let kinds = |processor: &str| -> Vec<String> {
        dead.iter().filter(|d| d["processor"] == processor).map(|d| d["error_kind"].as_str().unwrap().into()).collect()
    };
    let busy_dead = kinds("busy");
    assert!(!busy_dead.is_empty() && busy_dead.iter().all(|k| k == "quota_exceeded"), "{busy_dead:?}");
    assert!(busy_dead.len() < 40, "the first events ran before the quota was used up");
    assert!(kinds("looping").iter().all(|k| k == "deadline") && kinds("looping").len() == 40);
    assert!(kinds("denied").iter().all(|k| k == "capability_denied") && kinds("denied").len() == 40);

    let (_, status) = live.get("/admin/status");
    let status: Value = serde_json::from_str(&status).unwrap();
    let busy = status["processors"].as_array().unwrap().iter().find(|p| p["id"] == "busy").unwrap();
    assert_eq!(busy["tenant"], "acme");
    assert_eq!(busy["quotas"][0]["quota"], "cpu_seconds_per_hour");
    assert_eq!(busy["quotas"][0]["exceeded"], true, "{busy}");
    let (_, scrape) = live.scrape();
    let labels = [("processor", "busy"), ("tenant", "acme"), ("quota", "cpu_seconds_per_hour")];
    assert_eq!(value(&scrape, "flowctl_quota_breaches_total", &labels), Some(1.0));
    assert_eq!(value(&scrape, "flowctl_quota_limit", &labels), Some(0.02));
    live.stop().assert_success();

    let audit: Vec<Value> = std::fs::read_to_string(ws.path("audit.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let find = |action: &str, processor: &str| {
        audit
            .iter()
            .find(|a| a["action"] == action && a["processor"] == processor)
            .unwrap_or_else(|| panic!("no {action} audit line for {processor} in {audit:?}"))
    };
    let quota = find("quota", "busy");
    assert_eq!((quota["tenant"].as_str(), quota["target"].as_str()), (Some("acme"), Some("cpu_seconds_per_hour")));
    assert_eq!(quota["allowed"], false);
    let limit = find("limit", "looping");
    assert_eq!((limit["tenant"].as_str(), limit["target"].as_str()), (Some("beta"), Some("limits.timeout")));
    assert!(limit["reason"].as_str().unwrap().contains("deadline exceeded"), "{limit}");
    let denial = find("http_request", "denied");
    assert_eq!((denial["tenant"].as_str(), denial["allowed"].as_bool()), (Some("default"), Some(false)));
    assert!(!denial["version"].as_str().unwrap().is_empty());
}
