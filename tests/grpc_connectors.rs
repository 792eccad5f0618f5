//! The `type: grpc` source and sink on the real `flowctl` binary, between
//! real tonic servers on loopback sockets (`grpc_common`):
//! grpc source -> passthrough.wasm -> grpc sink.

#![allow(clippy::unwrap_used)] // tests: a failed unwrap is a failed test

mod engine_common;
mod grpc_common;
mod telemetry_common;

use std::collections::{BTreeSet, HashMap};
use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use engine_common::*;
use grpc_common::*;
use serde_json::Value;
use telemetry_common::{value, Live};

/// `pipeline.yaml`: the grpc source, passthrough.wasm, the grpc sink (with
/// `sink_keys` added to its config), dead letters in `dead.jsonl`.
fn pipeline(ws: &Workspace, source: &SourceServer, consumer: &ConsumerServer, sink_keys: &str) -> PathBuf {
    pipeline_at(ws, &source.endpoint(), &consumer.endpoint(), sink_keys)
}

fn pipeline_at(ws: &Workspace, source: &str, consumer: &str, sink_keys: &str) -> PathBuf {
    let pass = guest("passthrough");
    ws.pipeline(&format!(
        r#"
  sources:
    - id: src
      type: grpc
      config: {{endpoint: "{source}", params: {{start_ledger: "1000"}}, backoff: {{initial: 20ms, max: 200ms}}}}
  processors:
    - {{id: pass, type: wasm, inputs: [src], wasm: {{module: "{pass}", pool_size: 2}}}}
  sinks:
    - id: out
      type: grpc
      inputs: [pass]
      config: {{endpoint: "{consumer}", {sink_keys}}}
  settings:
    dead_letter: {{type: file, path: dead.jsonl}}
"#
    ))
}

/// Log lines (their `fields`) whose message starts with `prefix`.
fn log_lines<'a>(run: &'a Run, prefix: &str) -> Vec<&'a Value> {
    run.logs
        .iter()
        .map(|l| &l["fields"])
        .filter(|f| f["message"].as_str().is_some_and(|m| m.starts_with(prefix)))
        .collect()
}

fn assert_all_intact_in_order(consumer: &ConsumerServer, count: u64) {
    let received = consumer.state.received.lock().unwrap();
    assert_eq!(received.len() as u64, count, "every event exactly once");
    for (i, event) in received.iter().enumerate() {
        assert_intact(event, i as u64);
    }
}

#[test]
fn hundred_thousand_events_arrive_intact_exactly_once_in_order() {
    const N: u64 = 100_000;
    let source = SourceServer::start(SourcePlan { count: N, ..Default::default() });
    let consumer = ConsumerServer::start(ConsumerPlan::default());
    let ws = Workspace::new();
    let run = ws.run(&pipeline(&ws, &source, &consumer, "stream_events: 4096"));
    run.assert_success();
    assert_all_intact_in_order(&consumer, N);
    assert!(consumer.state.streams.load(std::sync::atomic::Ordering::SeqCst) >= N / 4096, "streams rotate");
    let requests = source.state.requests.lock().unwrap();
    assert_eq!(requests.len(), 1, "no reconnect");
    assert_eq!(requests[0].params.get("start_ledger").map(String::as_str), Some("1000"));
    assert!(!requests[0].resume);
    assert_eq!(run.source("src")["emitted"], N);
    assert_eq!(run.sink("out")["written"], N);
    assert!(ws.events("dead.jsonl").is_empty());
}

#[test]
fn a_dropped_source_stream_is_resumed_without_loss_or_repeats() {
    const N: u64 = 30_000;
    // Event 12,345 is the last before the drop (it has a Stellar cursor); the
    // source's token lags 25 events behind what flowctl says it received.
    let plan = SourcePlan { count: N, drop_at: Some(12_346), resume_lag: 25, ..Default::default() };
    let source = SourceServer::start(plan);
    let consumer = ConsumerServer::start(ConsumerPlan::default());
    let ws = Workspace::new();
    let run = ws.run(&pipeline(&ws, &source, &consumer, ""));
    run.assert_success();
    assert_all_intact_in_order(&consumer, N);

    let saved = source.state.saved.lock().unwrap();
    let expected: HashMap<String, String> = [
        ("last_event_id", id(12_345)),
        ("stellar.ledger_sequence", (50_000_000 + 12_345 / 16).to_string()),
        ("stellar.index_in_ledger", (12_345 % 16).to_string()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    assert_eq!(*saved, vec![("src".to_owned(), expected)], "SaveState once, before resuming, under the source id");
    let requests = source.state.requests.lock().unwrap();
    assert_eq!(requests.len(), 2);
    assert!(requests[1].resume, "{:?}", requests[1]);
    assert_eq!(requests[1].resume_token, (12_346 - 25).to_string());
    assert_eq!(requests[1].params.get("start_ledger").map(String::as_str), Some("1000"));

    assert_eq!(log_lines(&run, "grpc source: stream failed").len(), 1, "one reconnect, logged");
    let ended = log_lines(&run, "grpc source: the remote source ended");
    assert_eq!(ended.len(), 1);
    assert_eq!((ended[0]["reconnects"].as_u64(), ended[0]["duplicates_dropped"].as_u64()), (Some(1), Some(25)));
    assert_eq!(run.source("src")["emitted"], N);
}

#[test]
fn a_restarted_pipeline_resumes_its_grpc_source_where_the_last_run_finished() {
    const N: u64 = 2_000;
    let source = SourceServer::start(SourcePlan { count: N, ..Default::default() });
    let consumer = ConsumerServer::start(ConsumerPlan::default());
    let ws = Workspace::new();
    let file = pipeline(&ws, &source, &consumer, "");
    ws.run(&file).assert_success();
    assert_all_intact_in_order(&consumer, N);

    let again = ws.run(&file);
    again.assert_success();
    assert_eq!(again.source("src")["emitted"], 0, "everything was finished: nothing comes again");
    let saved = source.state.saved.lock().unwrap().clone();
    assert_eq!(saved.len(), 1, "SaveState once, by the second run: {saved:?}");
    assert_eq!(saved[0].1["last_event_id"], id(N - 1));
    let requests = source.state.requests.lock().unwrap().clone();
    assert_eq!(requests.len(), 2);
    assert!(!requests[0].resume && requests[1].resume, "{requests:?}");
    assert_eq!(requests[1].resume_token, N.to_string());
    assert_eq!(consumer.state.received.lock().unwrap().len() as u64, N, "no repeats");
}

#[test]
fn source_and_consumer_that_come_up_late_are_dialed_until_they_answer() {
    const N: u64 = 5_000;
    let (source_addr, consumer_addr) = (free_addr(), free_addr());
    let ws = Workspace::new();
    let file =
        pipeline_at(&ws, &format!("http://{source_addr}"), &format!("http://{consumer_addr}"), "max_retries: 100");
    let live = Live::start(&ws, &file);
    let logged = |prefix: &str| {
        live.logs().iter().any(|l| l["fields"]["message"].as_str().is_some_and(|m| m.starts_with(prefix)))
    };
    wait_until("the source's failed dial in the log", || logged("grpc source: stream failed"));
    let source = SourceServer::start_on(source_addr, SourcePlan { count: N, hold_open: true, ..Default::default() });
    wait_until("the sink's failed dial in the log", || logged("grpc sink: stream failed"));
    let consumer = ConsumerServer::start_on(consumer_addr, ConsumerPlan::default());
    wait_until("every event at the consumer", || consumer.state.count() as u64 >= N);
    let (_, scrape) = live.scrape();
    for component in ["src", "out"] {
        let reconnects = value(&scrape, "flowctl_grpc_reconnects_total", &[("component", component)]);
        assert!(reconnects.unwrap_or(0.0) >= 1.0, "{component}: {reconnects:?}");
    }
    let run = live.stop();
    run.assert_success();
    // Nothing reached the consumer before it was up: the first stream is sent whole, once.
    assert_all_intact_in_order(&consumer, N);
    assert_eq!(source.state.requests.lock().unwrap().len(), 1, "nothing received before: no resume");
}

/// Runs the pipeline to its end in the background while `during` acts on the consumer.
fn run_while(ws: &Workspace, file: &std::path::Path, during: impl FnOnce()) -> Run {
    let child = ws.spawn(file, Stdio::null());
    let waiter = std::thread::spawn(move || Run::from_output(child.wait_with_output().unwrap()));
    during();
    waiter.join().unwrap()
}

#[test]
fn a_consumer_killed_and_restarted_mid_run_gets_every_event_at_least_once() {
    const N: u64 = 40_000;
    // The source stays open after its last event, so the run is alive to be scraped.
    let source = SourceServer::start(SourcePlan { count: N, hold_open: true, ..Default::default() });
    let mut consumer = ConsumerServer::start(ConsumerPlan { kill_after: Some(10_000), ..Default::default() });
    let ws = Workspace::new();
    let file = pipeline(&ws, &source, &consumer, "max_retries: 1000, backoff: {initial: 20ms, max: 100ms}");
    let live = Live::start(&ws, &file);
    consumer.wait_kill_request();
    consumer.kill();
    // Down for a while: the sink's reconnects fail until it is back.
    std::thread::sleep(Duration::from_millis(500));
    consumer.restart();
    wait_until("every event at the restarted consumer", || consumer.state.distinct() as u64 == N);
    let (_, scrape) = live.scrape();
    let resent = value(&scrape, "flowctl_grpc_resent_total", &[("component", "out")]).unwrap_or(0.0);
    assert!(resent >= 100.0, "the killed stream's unconfirmed events were sent again and counted: {resent}");
    let reconnects = value(&scrape, "flowctl_grpc_reconnects_total", &[("component", "out")]).unwrap_or(0.0);
    assert!(reconnects >= 1.0, "{reconnects}");
    let run = live.stop();
    run.assert_success();

    let received = consumer.state.received.lock().unwrap();
    let mut seen = BTreeSet::new();
    for event in received.iter() {
        let i = index_of(&event.id);
        assert_intact(event, i);
        seen.insert(i);
    }
    assert_eq!(seen.len() as u64, N, "every event arrived");
    assert!(received.len() as f64 >= N as f64 + resent.min(100.0), "the re-sent events arrived again");
    let retries = log_lines(&run, "grpc sink: stream failed");
    assert!(!retries.is_empty(), "reconnects are logged");
    let first = retries[0]["unconfirmed"].as_u64().unwrap();
    assert!(first >= 100, "the killed stream held its events unconfirmed: {}", retries[0]);
    assert!(ws.events("dead.jsonl").is_empty(), "nothing given up");
    assert_eq!(run.sink("out")["written"], N);
}

#[test]
fn a_consumer_that_never_comes_back_leaves_its_events_in_dead_letters() {
    const N: u64 = 20_000;
    let source = SourceServer::start(SourcePlan { count: N, ..Default::default() });
    let mut consumer = ConsumerServer::start(ConsumerPlan { kill_after: Some(4_000), ..Default::default() });
    let ws = Workspace::new();
    let file = pipeline(&ws, &source, &consumer, "max_retries: 2, backoff: {initial: 10ms, max: 20ms}");
    let run = run_while(&ws, &file, || {
        consumer.wait_kill_request();
        consumer.kill();
    });
    run.assert_success();

    let mut accounted: BTreeSet<u64> =
        consumer.state.received.lock().unwrap().iter().map(|e| index_of(&e.id)).collect();
    let letters = ws.events("dead.jsonl");
    assert!(letters.len() as u64 >= N - accounted.len() as u64, "{} dead letters", letters.len());
    for letter in &letters {
        assert_eq!(letter["error_kind"], "grpc_unavailable", "{letter}");
        assert_eq!(letter["processor"], "out");
        let message = letter["message"].as_str().unwrap();
        assert!(message.contains(&consumer.endpoint()) && message.contains("gave up after 2"), "{message}");
        accounted.insert(index_of(letter["event"]["id"].as_str().unwrap()));
    }
    assert_eq!(accounted.len() as u64, N, "every event was delivered or dead-lettered");
}

fn rejected(i: u64) -> bool {
    i % 101 == 7
}

#[test]
fn events_the_consumer_reports_failed_become_dead_letters_with_its_reason() {
    const N: u64 = 20_000;
    let source = SourceServer::start(SourcePlan { count: N, ..Default::default() });
    let consumer = ConsumerServer::start(ConsumerPlan { reject: Some(rejected), ..Default::default() });
    let ws = Workspace::new();
    let run = ws.run(&pipeline(&ws, &source, &consumer, ""));
    run.assert_success();
    assert_all_intact_in_order(&consumer, N);

    let letters = ws.events("dead.jsonl");
    let ids: Vec<u64> = letters.iter().map(|l| index_of(l["event"]["id"].as_str().unwrap())).collect();
    let expected: Vec<u64> = (0..N).filter(|&i| rejected(i)).collect();
    assert_eq!(ids, expected, "exactly the rejected events, once each, in order");
    for letter in &letters {
        assert_eq!(letter["error_kind"], "consumer_rejected", "{letter}");
        assert_eq!(letter["message"], REJECT_REASON);
        assert_eq!(letter["processor"], "out");
    }
    let warnings = log_lines(&run, "grpc sink: the consumer reported failed events without naming them");
    assert!(!warnings.is_empty(), "the unnamed failure is logged, not guessed");
    assert_eq!(warnings[0]["unnamed"].as_u64(), Some(1), "{}", warnings[0]);
}
