//! Hot reload on the real binary: module files replaced under a running
//! pipeline by rename-over, copy-over and a symlink swap; broken
//! replacements that must leave the running version alone.

#![allow(clippy::unwrap_used)] // tests: a failed unwrap is a failed test

mod engine_common;
mod live_common;

use std::io::{BufWriter, Write};
use std::path::Path;
use std::process::Stdio;
use std::sync::mpsc;

use live_common::*;

const EVENTS: usize = 200_000;
/// The writer holds event `k * SEGMENT` back until swap `k` took effect, so
/// the run always spans the three swaps, however slow the machine.
const SEGMENT: usize = 50_000;

fn copy_over(target: &Path, bytes: &[u8], scratch: &Path) {
    std::fs::write(scratch, bytes).unwrap();
    // Like `cp`: truncates and rewrites the same inode.
    std::fs::copy(scratch, target).unwrap();
}

fn symlink_swap(target: &Path, bytes: &[u8], release: &Path) {
    std::fs::create_dir_all(release.parent().unwrap()).unwrap();
    std::fs::write(release, bytes).unwrap();
    let link = target.with_extension("wasm.link");
    std::os::unix::fs::symlink(release, &link).unwrap();
    std::fs::rename(&link, target).unwrap();
}

fn reloads(live: &Live, result: &str) -> u64 {
    live.processor("p")["reloads"][result].as_u64().unwrap()
}

#[test]
fn three_replacements_during_200k_events_deliver_each_event_once_and_change_the_tag() {
    let ws = Workspace::new();
    let pass = guest("passthrough");
    let variants: Vec<Vec<u8>> = (0..4).map(|i| variant(&pass, &format!("reload-{i}"))).collect();
    let module = ws.path("m.wasm");
    std::fs::write(&module, &variants[0]).unwrap();
    let file = ws.live_pipeline(
        r#"
  sources: [{id: in, type: stdin}]
  processors:
    - {id: p, type: wasm, inputs: [in], wasm: {module: m.wasm, pool_size: 2, batch_size: 64}}
  sinks: [{id: out, type: file, inputs: [p], config: {path: out.jsonl}}]
"#,
    );
    let mut live = ws.start(&file, Stdio::piped());

    let (gate, gated) = mpsc::channel::<()>();
    let stdin = live.child.stdin.take().unwrap();
    let writer = std::thread::spawn(move || {
        let mut out = BufWriter::new(stdin);
        for i in 0..EVENTS {
            if i > 0 && i % SEGMENT == 0 && i / SEGMENT <= 3 {
                out.flush().unwrap();
                gated.recv().unwrap();
            }
            writeln!(out, r#"{{"id":"e-{i:06}","type":"t","data":{{"n":{i}}}}}"#).unwrap();
        }
        out.flush().unwrap();
        // Dropping stdin ends the source; the run then drains and exits.
    });

    for (k, next) in variants.iter().enumerate().skip(1) {
        // Swap while events flow: the writer keeps going until event k * SEGMENT.
        wait_for(LONG, "events to flow", || {
            (live.version("p", 0)["events"].as_u64()? >= (k * SEGMENT - SEGMENT / 2) as u64).then_some(())
        });
        match k {
            1 => rename_over(&module, next),
            2 => copy_over(&module, next, &ws.path("scratch.wasm")),
            _ => symlink_swap(&module, next, &ws.path("releases/m-3.wasm")),
        }
        wait_for(LONG, "the reload", || (reloads(&live, "ok") == k as u64).then_some(()));
        gate.send(()).unwrap();
    }
    writer.join().unwrap();
    let (code, log) = live.wait();
    assert_eq!(code, Some(0), "{log}");

    let out = ws.events("out.jsonl");
    assert_eq!(out.len(), EVENTS, "every event once");
    for (i, e) in out.iter().enumerate() {
        assert_eq!(e["id"], format!("e-{i:06}"), "event {i}: lost, duplicated or out of order");
    }
    // Tags change only between batches, so they form one run per version, in swap order.
    let expected: Vec<String> = variants.iter().map(|v| short_hash(v)).collect();
    assert_eq!(version_runs(&out), expected, "one run of outputs per module version");
    let p = Live::report(&log, "processor finished", "p");
    assert_eq!((p["received"].as_u64(), p["dead_lettered"].as_u64()), (Some(EVENTS as u64), Some(0)), "{p}");
}

#[test]
fn broken_replacements_keep_the_old_version_and_count_failed_reloads() {
    let ws = Workspace::new();
    let good = variant(&guest("passthrough"), "broken-test");
    let module = ws.path("m.wasm");
    std::fs::write(&module, &good).unwrap();
    let file = ws.live_pipeline(
        r#"
  sources: [{id: gen, type: generator, config: {rate: 2000}}]
  processors:
    - {id: p, type: wasm, inputs: [gen], wasm: {module: m.wasm}}
  sinks: [{id: out, type: file, inputs: [p], config: {path: out.jsonl}}]
"#,
    );
    let live = ws.start(&file, Stdio::null());
    let running = short_hash(&good);
    assert_eq!(live.version("p", 0)["name"], running.as_str());

    // Not WebAssembly; WebAssembly without the ABI's exports; a module whose
    // `init` refuses the processor's config (`filter` needs `field` and `op`).
    let empty_module = wat::parse_str("(module)").unwrap();
    let broken: [(&[u8], &str); 3] = [
        (b"this is not wasm", "not valid WebAssembly"),
        (&empty_module, "ABI"),
        (&std::fs::read(guest("filter")).unwrap(), "refused to start"),
    ];
    for (n, (bytes, reason)) in broken.iter().enumerate() {
        let events_before = live.version("p", 0)["events"].as_u64().unwrap();
        rename_over(&module, bytes);
        wait_for(LONG, "the failed reload", || (reloads(&live, "error") == n as u64 + 1).then_some(()));
        let last = live.processor("p")["reloads"]["last_error"].as_str().unwrap().to_string();
        assert!(last.contains(&module.display().to_string()) && last.contains(reason), "{last}");
        // The old version still runs.
        assert_eq!(live.version("p", 0)["name"], running.as_str());
        wait_for(LONG, "events after the failed reload", || {
            (live.version("p", 0)["events"].as_u64()? > events_before + 100).then_some(())
        });
    }
    let metrics = live.metrics();
    assert!(metrics.contains(r#"flowctl_module_reloads_total{component="p",result="error"} 3"#), "{metrics}");
    let failures = live.log_lines("module reload failed");
    assert_eq!(failures.len(), 3, "{}", live.log_text());
    assert!(failures.iter().all(|l| l["level"] == "ERROR" && l["fields"]["file"] == module.display().to_string()));
    assert!(failures[0]["fields"]["reason"].as_str().unwrap().contains("not valid WebAssembly"));

    // A good module after the broken ones is taken.
    let fixed = variant(&guest("passthrough"), "fixed");
    rename_over(&module, &fixed);
    wait_for(LONG, "the good reload", || (reloads(&live, "ok") == 1).then_some(()));
    assert_eq!(live.version("p", 0)["name"], short_hash(&fixed).as_str());
    // The error window restarts with the new module: events counted there ran on it.
    wait_for(LONG, "events on the new version", || (live.version("p", 0)["window_events"].as_u64()? > 0).then_some(()));
    let (code, log) = live.stop();
    assert_eq!(code, Some(0), "{log}");

    let out = ws.events("out.jsonl");
    let emitted = Live::report(&log, "source finished", "gen")["emitted"].as_u64().unwrap();
    assert_eq!(out.len() as u64, emitted, "nothing lost across the failed reloads");
    let tags: std::collections::BTreeSet<&str> =
        out.iter().map(|e| e["metadata"]["flowctl.module_version"].as_str().unwrap()).collect();
    assert_eq!(tags, [running.as_str(), short_hash(&fixed).as_str()].into(), "only the good modules ran");
}
