//! Guest output in the JSON log of a real `flowctl run`: each `log` host call
//! and each line a module writes to WASI stdout is one log line under the
//! target `flowctl::guest`, carrying the `processor` and `version` fields.

#![allow(clippy::unwrap_used)] // tests: a failed unwrap is a failed test

mod engine_common;

use engine_common::*;

#[test]
fn guest_log_calls_and_wasi_stdout_carry_processor_and_version() {
    let ws = Workspace::new();
    let guests = format!("{}/tests/guests", env!("CARGO_MANIFEST_DIR"));
    let file = ws.pipeline(&format!(
        r#"
  sources:
    - {{id: gen, type: generator, config: {{count: 3}}}}
  processors:
    - {{id: logger, type: wasm, inputs: [gen], wasm: {{versions: [{{name: v7, module: "{guests}/log_and_metric.wat", weight: 1}}]}}}}
    - {{id: hello, type: wasm, inputs: [logger], wasm: {{module: "{guests}/wasi_hello.wat"}}}}
  sinks:
    - {{id: out, type: "null", inputs: [hello]}}
"#
    ));
    let run = ws.run(&file);
    run.assert_success();
    let guest_lines: Vec<&serde_json::Value> = run.logs.iter().filter(|l| l["target"] == "flowctl::guest").collect();

    let logged: Vec<_> = guest_lines.iter().filter(|l| l["fields"]["message"] == "event seen").collect();
    assert_eq!(logged.len(), 3, "one line per `log` call:\n{}", run.stderr);
    for line in logged {
        assert_eq!(line["level"], "INFO", "{line}");
        assert_eq!(
            (line["fields"]["processor"].as_str(), line["fields"]["version"].as_str()),
            (Some("logger"), Some("v7")),
            "{line}"
        );
    }

    let printed: Vec<_> = guest_lines.iter().filter(|l| l["fields"]["message"] == "hello from a wasi guest").collect();
    assert_eq!(printed.len(), 3, "one line per stdout line:\n{}", run.stderr);
    for line in printed {
        assert_eq!(line["fields"]["processor"], "hello", "{line}");
        assert_eq!(line["fields"]["stream"], "stdout", "{line}");
        let version = line["fields"]["version"].as_str().unwrap();
        assert_eq!(version.len(), 12, "the default version is a short content hash: {line}");
    }
}
