//! `type: grpc_server` (subscriber fan-out) in a real `flowctl run`:
//! followed file -> passthrough.wasm -> grpc_server, with real tonic clients
//! over loopback calling `StreamEvents`, and `/metrics` scraped over HTTP.
//!
//! Every subscriber connects (the connected gauge says so) before the test
//! appends the events, so "every event from the moment it subscribed" means
//! exactly all of them. Events are appended a chunk at a time, each once the
//! readers have the previous one. Under `drop_oldest` and `disconnect` the slow
//! subscriber does not read at all until the 49 others got everything: that
//! they do is the proof that it did not stall them. Under `block` it stalls
//! until its buffer is full and the others are seen held back, then reads
//! with a sleep after every event, and everyone still gets everything.

#![allow(clippy::unwrap_used)] // tests: a failed unwrap is a failed test

mod engine_common;
mod telemetry_common;

use std::io::Write;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use engine_common::*;
use flowctl::grpc::pb;
use flowctl::grpc::pb::source_service_client::SourceServiceClient;
use telemetry_common::*;
use tokio::sync::Notify;
use tonic::transport::{Channel, Endpoint};
use tonic::{Code, Streaming};

const SUBSCRIBERS: usize = 50;
/// Events per run: with ~1 KB each, far more than a stalled subscriber's
/// buffer plus what HTTP/2 windows and socket buffers can hold for it.
const EVENTS: usize = 3000;
/// Events appended at a time: the test waits until the 49 subscribers that
/// read got a chunk before it appends the next, so only the slow one can fall
/// a buffer behind (a producer faster than every reader would make every
/// buffer overflow, which is the policy working, not this test's point).
const CHUNK: usize = 100;
/// Per subscriber; more than a chunk, so one chunk always fits.
const BUFFER: usize = 256;
const SINK: &str = "live";

fn pipeline(ws: &Workspace, listen: &str, policy: &str, buffer: usize) -> std::path::PathBuf {
    std::fs::write(ws.path("in.jsonl"), "").unwrap();
    let passthrough = guest("passthrough");
    ws.pipeline(&format!(
        r#"
  sources:
    - {{id: in, type: file, config: {{path: in.jsonl, follow: true}}}}
  processors:
    - {{id: pass, type: wasm, inputs: [in], wasm: {{module: "{passthrough}"}}}}
  sinks:
    - id: {SINK}
      type: grpc_server
      inputs: [pass]
      config: {{listen: "{listen}", buffer: {buffer}, slow_subscriber: {policy}}}
"#
    ))
}

/// Appends events `e<n>` with a ~1 KB payload.
fn append(ws: &Workspace, range: std::ops::Range<usize>) {
    let pad = "x".repeat(1000);
    let mut text = String::new();
    for n in range {
        text.push_str(&format!("{{\"id\":\"e{n}\",\"type\":\"t\",\"data\":{{\"n\":{n},\"pad\":\"{pad}\"}}}}\n"));
    }
    let mut file = std::fs::OpenOptions::new().append(true).open(ws.path("in.jsonl")).unwrap();
    file.write_all(text.as_bytes()).unwrap();
}

fn ids(range: std::ops::Range<usize>) -> Vec<String> {
    range.map(|n| format!("e{n}")).collect()
}

/// The sink's gRPC address, from its log line.
fn grpc_addr(live: &Live) -> SocketAddr {
    let mut addr = None;
    wait_until("the grpc_server's address in the log", || {
        addr = live.logs().iter().find_map(|l| {
            let f = &l["fields"];
            (f["message"] == "serving flowctl.v1.SourceService to subscribers").then_some(())?;
            f["local_addr"].as_str()?.parse().ok()
        });
        addr.is_some()
    });
    addr.unwrap()
}

async fn client(addr: SocketAddr) -> SourceServiceClient<Channel> {
    // Small HTTP/2 windows, so a client that does not read is soon felt by the server.
    let endpoint = Endpoint::from_shared(format!("http://{addr}"))
        .unwrap()
        .initial_stream_window_size(64 * 1024)
        .initial_connection_window_size(64 * 1024);
    SourceServiceClient::new(endpoint.connect().await.unwrap())
}

/// Subscribes on a connection of its own: its slot (metrics label) and stream.
async fn subscribe(addr: SocketAddr) -> (String, Streaming<pb::Event>) {
    let response = client(addr).await.stream_events(pb::StreamRequest::default()).await.unwrap();
    let slot = response.metadata().get("x-flowctl-subscriber").unwrap().to_str().unwrap().to_owned();
    (slot, response.into_inner())
}

/// What one subscriber received, and how its stream ended (`None`: still open).
struct Received {
    ids: Vec<String>,
    /// The encoded size of each event received.
    sizes: Vec<usize>,
    end: Option<Result<(), tonic::Status>>,
    /// Kept open until the test is done with `/metrics`.
    _stream: Streaming<pb::Event>,
}

/// Reads until the last event arrived or the stream ended, sleeping `pause` between reads.
/// `progress` counts the events received, and becomes `usize::MAX` if the stream ends.
async fn read(stream: Streaming<pb::Event>, pause: Option<Duration>, progress: Arc<AtomicUsize>) -> Received {
    read_until(stream, pause, Some(format!("e{}", EVENTS - 1)), progress).await
}

async fn read_until(
    mut stream: Streaming<pb::Event>,
    pause: Option<Duration>,
    last: Option<String>,
    progress: Arc<AtomicUsize>,
) -> Received {
    let (mut ids, mut sizes) = (Vec::new(), Vec::new());
    let end = loop {
        match stream.message().await {
            Ok(Some(event)) => {
                let done = Some(&event.id) == last.as_ref();
                sizes.push(prost::Message::encoded_len(&event));
                ids.push(event.id);
                progress.store(ids.len(), Ordering::SeqCst);
                if done {
                    break None;
                }
            }
            Ok(None) => break Some(Ok(())),
            Err(status) => break Some(Err(status)),
        }
        if let Some(pause) = pause {
            tokio::time::sleep(pause).await;
        }
    };
    if end.is_some() {
        progress.store(usize::MAX, Ordering::SeqCst);
    }
    Received { ids, sizes, end, _stream: stream }
}

/// How the slow subscriber is slow.
#[derive(Clone, Copy)]
enum Slow {
    /// Reads nothing until every other subscriber has every event, then reads fast.
    Stalls,
    /// (`block`) Reads nothing until the test saw its full buffer hold the
    /// pipeline back, then sleeps this long after every event.
    StallsThenSleeps(Duration),
}

struct Outcome {
    slow_slot: String,
    slow: Received,
    fast_slots: Vec<String>,
    fast: Vec<Received>,
    live: Live,
    /// Drives the clients' connections: streams stay open while the outcome lives.
    _rt: tokio::runtime::Runtime,
    _ws: Workspace,
}

/// Starts the pipeline, subscribes 50 clients (the first one slow), appends
/// the events once all are connected, and collects what each received.
fn run(policy: &str, slow: Slow) -> Outcome {
    let ws = Workspace::new();
    let live = Live::start(&ws, &pipeline(&ws, "127.0.0.1:0", policy, BUFFER));
    let addr = grpc_addr(&live);
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let mut subscriptions = rt.block_on(async {
        let pending: Vec<_> = (0..SUBSCRIBERS).map(|_| tokio::spawn(subscribe(addr))).collect();
        let mut done = Vec::new();
        for subscription in pending {
            done.push(subscription.await.unwrap());
        }
        done
    });
    wait_until("every subscriber counted as connected", || {
        value(&live.scrape().1, "flowctl_subscribers_connected", &[("component", SINK)]) == Some(SUBSCRIBERS as f64)
    });
    let (slow_slot, slow_stream) = subscriptions.remove(0);
    let fast_slots: Vec<String> = subscriptions.iter().map(|(slot, _)| slot.clone()).collect();
    let release = Arc::new(Notify::new());
    let slow_task = rt.spawn({
        let release = release.clone();
        async move {
            release.notified().await;
            let pause = match slow {
                Slow::Stalls => None,
                Slow::StallsThenSleeps(pause) => Some(pause),
            };
            read(slow_stream, pause, Arc::default()).await
        }
    });
    let progress: Vec<Arc<AtomicUsize>> = fast_slots.iter().map(|_| Arc::default()).collect();
    let fast_tasks: Vec<_> = subscriptions
        .into_iter()
        .zip(&progress)
        .map(|((_, stream), progress)| rt.spawn(read(stream, None, progress.clone())))
        .collect();

    match slow {
        Slow::Stalls => {
            for start in (0..EVENTS).step_by(CHUNK) {
                append(&ws, start..start + CHUNK);
                wait_until("the reading subscribers got the chunk", || {
                    progress.iter().all(|p| p.load(Ordering::SeqCst) >= start + CHUNK)
                });
            }
        }
        Slow::StallsThenSleeps(_) => {
            // Nothing can be lost: all at once. The stalled subscriber's buffer
            // fills, and then the others cannot get everything: the sink waits.
            append(&ws, 0..EVENTS);
            let slot = [("component", SINK), ("subscriber", slow_slot.as_str())];
            wait_until("the stalled subscriber's buffer full", || {
                value(&live.scrape().1, "flowctl_subscriber_buffer_depth", &slot) == Some(BUFFER as f64)
            });
            let most = progress.iter().map(|p| p.load(Ordering::SeqCst)).max().unwrap();
            assert!(most < EVENTS, "a subscriber got every event while the slow one held the sink back");
            release.notify_one();
        }
    }
    let patience = tokio::time::Duration::from_secs(120);
    let fast = rt.block_on(async {
        let all = async {
            let mut done = Vec::new();
            for task in fast_tasks {
                done.push(task.await.unwrap());
            }
            done
        };
        tokio::time::timeout(patience, all).await.expect("the fast subscribers got stuck")
    });
    release.notify_one();
    let slow = rt.block_on(async { tokio::time::timeout(patience, slow_task).await.expect("the slow one hangs") });
    Outcome { slow_slot, slow: slow.unwrap(), fast_slots, fast, live, _rt: rt, _ws: ws }
}

impl Outcome {
    fn metric(&self, name: &str, slot: &str) -> f64 {
        let (text, scrape) = self.live.scrape();
        value(&scrape, name, &[("component", SINK), ("subscriber", slot)])
            .unwrap_or_else(|| panic!("no {name} for subscriber {slot} in:\n{text}"))
    }

    fn assert_fast_got_everything_in_order(&self) {
        let expected = ids(0..EVENTS);
        for (slot, received) in self.fast_slots.iter().zip(&self.fast) {
            assert!(received.end.is_none(), "subscriber {slot} ended early: {:?}", received.end);
            assert!(received.ids == expected, "subscriber {slot} got {} events, not all in order", received.ids.len());
            assert_eq!(self.metric("flowctl_subscriber_events_sent_total", slot), EVENTS as f64);
            assert_eq!(self.metric("flowctl_subscriber_events_dropped_total", slot), 0.0);
            assert_eq!(self.metric("flowctl_subscriber_slow_disconnects_total", slot), 0.0);
        }
    }
}

/// Whether `got` is `expected` with some events left out, in order.
fn is_ordered_subsequence(got: &[String], expected: &[String]) -> bool {
    let mut rest = expected.iter();
    got.iter().all(|id| rest.any(|e| e == id))
}

#[test]
fn block_every_subscriber_even_the_slow_one_gets_every_event_in_order() {
    let o = run("block", Slow::StallsThenSleeps(Duration::from_millis(1)));
    o.assert_fast_got_everything_in_order();
    assert!(o.slow.ids == ids(0..EVENTS), "the slow subscriber got {} events, not all in order", o.slow.ids.len());
    assert_eq!(o.metric("flowctl_subscriber_events_sent_total", &o.slow_slot), EVENTS as f64);
    assert_eq!(o.metric("flowctl_subscriber_events_dropped_total", &o.slow_slot), 0.0);
    let (_, scrape) = o.live.scrape();
    let connected = value(&scrape, "flowctl_subscribers_connected", &[("component", SINK)]);
    assert_eq!(connected, Some(SUBSCRIBERS as f64), "nobody was disconnected");
    // Each event is encoded once, however many subscribers get it.
    let encoded: usize = o.fast[0].sizes.iter().sum();
    let bytes_out = value(&scrape, "flowctl_bytes_out_total", &[("component", SINK)]);
    assert_eq!(bytes_out, Some(encoded as f64));
}

#[test]
fn drop_oldest_the_stalled_subscriber_loses_its_oldest_events_counted_the_others_nothing() {
    let o = run("drop_oldest", Slow::Stalls);
    o.assert_fast_got_everything_in_order();
    let got = &o.slow.ids;
    assert!(got.len() < EVENTS, "the stalled subscriber got all {EVENTS} events: nothing was dropped");
    assert!(is_ordered_subsequence(got, &ids(0..EVENTS)), "what it got is in order, without repeats");
    assert_eq!(got.last(), Some(&format!("e{}", EVENTS - 1)), "the newest event is never the one dropped");
    let sent = o.metric("flowctl_subscriber_events_sent_total", &o.slow_slot);
    let dropped = o.metric("flowctl_subscriber_events_dropped_total", &o.slow_slot);
    assert_eq!(sent, got.len() as f64, "sent counts exactly what it received");
    assert_eq!(sent + dropped, EVENTS as f64, "every event was either sent or counted as dropped");
    assert!(dropped > 0.0);
}

#[test]
fn disconnect_ends_the_stalled_subscriber_with_resource_exhausted_and_counts_it() {
    let o = run("disconnect", Slow::Stalls);
    o.assert_fast_got_everything_in_order();
    let status = match &o.slow.end {
        Some(Err(status)) => status,
        other => panic!("the stalled subscriber's stream did not fail: {other:?} after {} events", o.slow.ids.len()),
    };
    assert_eq!(status.code(), Code::ResourceExhausted, "{status:?}");
    let got = &o.slow.ids;
    assert!(got.len() < EVENTS && *got == ids(0..got.len()), "it got a prefix of the events, nothing skipped");
    assert_eq!(o.metric("flowctl_subscriber_slow_disconnects_total", &o.slow_slot), 1.0);
    assert_eq!(o.metric("flowctl_subscriber_events_sent_total", &o.slow_slot), got.len() as f64);
    assert_eq!(o.metric("flowctl_subscriber_events_dropped_total", &o.slow_slot), 0.0);
    let (_, scrape) = o.live.scrape();
    let connected = value(&scrape, "flowctl_subscribers_connected", &[("component", SINK)]);
    assert_eq!(connected, Some(SUBSCRIBERS as f64 - 1.0), "the slow one no longer counts as connected");
}

/// GetInfo, HealthCheck, SaveState/GetState answer; at the end of the
/// pipeline every subscriber receives what waited for it, then a clean end.
#[test]
fn info_health_and_state_answer_and_the_end_of_the_pipeline_ends_streams_cleanly() {
    let ws = Workspace::new();
    let live = Live::start(&ws, &pipeline(&ws, "127.0.0.1:0", "block", 1024));
    let addr = grpc_addr(&live);
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let mut api = rt.block_on(client(addr));

    let info = rt.block_on(api.get_info(())).unwrap().into_inner();
    assert_eq!((info.id.as_str(), info.endpoint.as_str()), (SINK, addr.to_string().as_str()));
    assert_eq!(info.r#type(), pb::ComponentType::Source);
    assert_eq!(info.metadata.get("slow_subscriber").map(String::as_str), Some("block"));

    let streams: Vec<_> = (0..2).map(|_| rt.block_on(subscribe(addr)).1).collect();
    let health = rt.block_on(api.health_check(pb::HealthCheckRequest { include_details: true })).unwrap();
    let health = health.into_inner();
    assert_eq!(health.status(), pb::HealthStatus::Healthy);
    assert_eq!(health.metrics.get("subscribers").map(String::as_str), Some("2"));
    assert_eq!(health.components.len(), 2, "{health:?}");

    let state = std::collections::HashMap::from([("resume_token".to_owned(), "t1".to_owned())]);
    rt.block_on(api.save_state(pb::SaveStateRequest { state: state.clone(), key: "k".into() })).unwrap();
    let saved = rt.block_on(api.get_state(pb::StateRequest { key: "k".into() })).unwrap().into_inner();
    assert_eq!((saved.state, saved.resume_token.as_str()), (state, "t1"));
    assert!(saved.last_updated_unix > 0);
    let unknown = rt.block_on(api.get_state(pb::StateRequest { key: "other".into() })).unwrap().into_inner();
    assert!(unknown.state.is_empty());

    // Every event written, then the pipeline ends (SIGTERM): each subscriber
    // still gets all of them, then the end of its stream with status OK.
    append(&ws, 0..100);
    wait_until("the sink wrote 100 events", || {
        let health = rt.block_on(api.health_check(pb::HealthCheckRequest::default())).unwrap().into_inner();
        health.metrics.get("events_written").map(String::as_str) == Some("100")
    });
    let readers: Vec<_> = streams.into_iter().map(|s| rt.spawn(read_until(s, None, None, Arc::default()))).collect();
    live.stop().assert_success();
    for reader in readers {
        let received = rt.block_on(reader).unwrap();
        assert!(received.ids == ids(0..100), "got {} events", received.ids.len());
        assert!(matches!(received.end, Some(Ok(()))), "the stream ends cleanly: {:?}", received.end);
    }
}

#[test]
fn a_taken_listen_address_fails_the_run_naming_it() {
    let ws = Workspace::new();
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let run = ws.run(&pipeline(&ws, &addr, "block", 16));
    assert_ne!(run.code, Some(0), "{}", run.stderr);
    assert!(run.stderr.contains(&addr), "the error names {addr}:\n{}", run.stderr);
}

/// Under `block`, a subscriber that stays connected and never reads holds the
/// pipeline, but not the shutdown: SIGTERM still ends the run once the
/// shutdown grace has passed.
#[test]
fn a_subscriber_that_never_reads_does_not_hold_the_shutdown_forever() {
    let ws = Workspace::new();
    let file = pipeline(&ws, "127.0.0.1:0", "block", 16);
    let text = std::fs::read_to_string(&file).unwrap().replace("spec:", "spec:\n  settings: {shutdown_grace: 1s}");
    std::fs::write(&file, text).unwrap();
    let live = Live::start(&ws, &file);
    let addr = grpc_addr(&live);
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let (slot, _stream) = rt.block_on(subscribe(addr));
    append(&ws, 0..EVENTS);
    let depth = [("component", SINK), ("subscriber", slot.as_str())];
    wait_until("the idle subscriber's buffer full", || {
        value(&live.scrape().1, "flowctl_subscriber_buffer_depth", &depth) == Some(16.0)
    });
    let (done_tx, done) = std::sync::mpsc::channel();
    std::thread::spawn(move || done_tx.send(live.stop()).unwrap());
    let run = done.recv_timeout(PATIENCE).expect("flowctl run did not exit after SIGTERM");
    assert!(run.stderr.contains("grace period expired"), "{}", run.stderr);
}
