//! `type: grpc` processors in a real `flowctl run`: a tonic
//! `flowctl.v1.ProcessorService` on loopback uppercases a field, drops some
//! events and splits others, and answers some batches late; flowctl keeps
//! the order, retries across a killed and restarted server without losing
//! or repeating anything, and dead-letters what a dead server never took.

#![allow(clippy::unwrap_used)] // tests: a failed unwrap is a failed test

mod engine_common;
mod grpc_stage_common;
mod telemetry_common;

use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::Duration;

use flowctl::grpc::pb;
use flowctl::grpc::pb::processor_service_server::{ProcessorService, ProcessorServiceServer};
use serde_json::Value;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status, Streaming};

use engine_common::*;
use grpc_stage_common::*;
use telemetry_common::wait_until;

/// Events whose generator number `n % 3 == 1` are dropped by the server.
fn dropped(n: u64) -> bool {
    n % 3 == 1
}

/// Events with `n % 5 == 0` come back twice: themselves and a copy `<id>.b`.
fn split(n: u64) -> bool {
    n.is_multiple_of(5)
}

/// The ids flowctl must write, in order, for generator events `0..count`.
fn expected_ids(count: u64) -> Vec<String> {
    let mut ids = Vec::new();
    for n in (0..count).filter(|n| !dropped(*n)) {
        ids.push(format!("gen-{n:012}"));
        if split(n) {
            ids.push(format!("gen-{n:012}.b"));
        }
    }
    ids
}

/// The test's remote processor. Counts the events it was sent.
#[derive(Clone, Default)]
struct Upper {
    seen: Arc<AtomicU64>,
    /// An event number whose stream never ends (a hung processor).
    hang_on: Option<u64>,
}

fn seq(id: &str) -> u64 {
    id.rsplit_once('-').unwrap().1.parse().unwrap()
}

#[tonic::async_trait]
impl ProcessorService for Upper {
    type ProcessStream = ReceiverStream<Result<pb::Event, Status>>;

    async fn get_info(&self, _: Request<()>) -> Result<Response<pb::ComponentInfo>, Status> {
        Ok(Response::new(pb::ComponentInfo { id: "upper".into(), ..Default::default() }))
    }

    async fn health_check(
        &self,
        _: Request<pb::HealthCheckRequest>,
    ) -> Result<Response<pb::HealthCheckResponse>, Status> {
        Ok(Response::new(pb::HealthCheckResponse { status: pb::HealthStatus::Healthy as i32, ..Default::default() }))
    }

    async fn process(&self, request: Request<Streaming<pb::Event>>) -> Result<Response<Self::ProcessStream>, Status> {
        let mut inbound = request.into_inner();
        let (tx, rx) = tokio::sync::mpsc::channel(64);
        let (seen, hang_on) = (self.seen.clone(), self.hang_on);
        tokio::spawn(async move {
            let mut first = true;
            while let Ok(Some(mut event)) = inbound.message().await {
                seen.fetch_add(1, Relaxed);
                let n = seq(&event.id);
                if hang_on == Some(n) {
                    let _keep_the_stream_open = tx;
                    return std::future::pending().await;
                }
                // Some batches answer late, so later batches finish first and
                // flowctl has to put them back in order.
                if first && n.is_multiple_of(7) {
                    tokio::time::sleep(Duration::from_millis(30)).await;
                }
                first = false;
                if dropped(n) {
                    continue;
                }
                let mut data: Value = serde_json::from_slice(&event.payload).unwrap();
                let user = data["user"].as_str().unwrap().to_uppercase();
                data["user"] = user.into();
                event.payload = serde_json::to_vec(&data).unwrap().into();
                event.metadata.insert("seen_by".into(), "upper".into());
                let copy = split(n).then(|| pb::Event { id: format!("{}.b", event.id), ..event.clone() });
                for out in std::iter::once(event).chain(copy) {
                    if tx.send(Ok(out)).await.is_err() {
                        return;
                    }
                }
            }
        });
        Ok(Response::new(ReceiverStream::new(rx)))
    }
}

fn serve(addr: SocketAddr, upper: &Upper) -> KillableServer {
    let router = tonic::transport::Server::builder().add_service(ProcessorServiceServer::new(upper.clone()));
    KillableServer::start(addr, router)
}

/// A pipeline `generator -> type: grpc processor at port -> file`.
fn pipeline(ws: &Workspace, generator: &str, port: u16, processor: &str) -> std::path::PathBuf {
    ws.pipeline(&format!(
        r#"
  settings:
    dead_letter: {{type: file, path: dead.jsonl}}
  sources:
    - {{id: gen, type: generator, config: {{{generator}}}}}
  processors:
    - id: p
      type: grpc
      inputs: [gen]
      config: {{endpoint: "http://127.0.0.1:{port}", {processor}}}
  sinks:
    - {{id: out, type: file, inputs: [p], config: {{path: out.jsonl}}}}
"#
    ))
}

fn ids(events: &[Value]) -> Vec<String> {
    events.iter().map(|e| e["id"].as_str().unwrap().to_owned()).collect()
}

#[test]
fn every_output_in_order_with_filter_split_and_transform() {
    let upper = Upper::default();
    let server = serve("127.0.0.1:0".parse().unwrap(), &upper);
    let ws = Workspace::new();
    let count = 3000;
    let file = pipeline(&ws, &format!("count: {count}"), server.addr.port(), "batch_size: 64, concurrency: 4");
    let run = ws.run(&file);
    run.assert_success();

    let out = ws.events("out.jsonl");
    assert_eq!(ids(&out), expected_ids(count), "every output, in order, filtered and split");
    for e in &out {
        let user = e["data"]["user"].as_str().unwrap();
        assert!(user.starts_with("USER-"), "uppercased by the server: {e}");
        assert_eq!(e["metadata"]["seen_by"], "upper");
    }
    assert!(ws.events("dead.jsonl").is_empty());
    let p = run.processor("p");
    let filtered = (0..count).filter(|n| dropped(*n)).count() as u64;
    assert_eq!(p["received"], count);
    assert_eq!(p["emitted"], out.len() as u64);
    assert_eq!(p["filtered"], filtered);
    assert_eq!(p["produced"], count - filtered);
    assert_eq!(p["dead_lettered"], 0);
    assert_eq!(upper.seen.load(Relaxed), count, "each event sent once: no retries were needed");
}

#[test]
fn a_server_killed_for_good_dead_letters_the_rest_and_readyz_names_it() {
    let upper = Upper::default();
    let mut server = serve("127.0.0.1:0".parse().unwrap(), &upper);
    let port = server.addr.port();
    let ws = Workspace::new();
    let count = 3000;
    let file = pipeline(
        &ws,
        &format!("count: {count}, rate: 1500"),
        port,
        "batch_size: 50, max_retries: 2, backoff: {initial: 10ms, max: 20ms}",
    );
    let mut flowctl = Running::start(&ws, &file);
    wait_until("the server processing events", || upper.seen.load(Relaxed) >= 500);
    server.kill();

    // Kept from the first 503: a batch still in flight at the kill may
    // succeed after another failed, and turn readiness back for a moment.
    let mut body = String::new();
    wait_until("503 from /readyz naming the processor", || {
        assert!(!flowctl.exited(), "flowctl ended before /readyz answered 503:\n{}", flowctl.log_text());
        let (status, text) = flowctl.get("/readyz");
        body = text;
        status == 503
    });
    assert!(body.contains("p: grpc processor failing"), "{body}");
    assert!(body.contains(&format!("http://127.0.0.1:{port}")), "the endpoint is named: {body}");
    let run = flowctl.finish();
    run.assert_success();

    let (out, dead) = (ws.events("out.jsonl"), ws.events("dead.jsonl"));
    assert!(!out.is_empty() && !dead.is_empty(), "some events made it, the rest were dead-lettered");
    for letter in &dead {
        assert_eq!(letter["error_kind"], "grpc_unavailable", "{letter}");
        assert_eq!(letter["processor"], "p");
        assert!(letter["message"].as_str().unwrap().contains(&format!("127.0.0.1:{port}")), "{letter}");
    }
    // Every generator event is in exactly one place: its outputs, a dead
    // letter, or nowhere because the server dropped it.
    let delivered: Vec<u64> =
        out.iter().map(|e| e["id"].as_str().unwrap()).filter(|id| !id.ends_with(".b")).map(seq).collect();
    let dead_ids: Vec<u64> = dead.iter().map(|l| seq(l["event"]["id"].as_str().unwrap())).collect();
    assert!(delivered.windows(2).all(|w| w[0] < w[1]), "outputs in order, none twice");
    assert!(dead_ids.windows(2).all(|w| w[0] < w[1]), "dead letters in order, none twice");
    let (delivered, dead_set): (HashSet<u64>, HashSet<u64>) =
        (delivered.into_iter().collect(), dead_ids.into_iter().collect());
    for n in 0..count {
        let place = (delivered.contains(&n), dead_set.contains(&n));
        let expected = if dead_set.contains(&n) { (false, true) } else { (!dropped(n), false) };
        assert_eq!(place, expected, "event {n}: (delivered, dead-lettered)");
    }
    let p = run.processor("p");
    assert_eq!(p["dead_lettered"], dead.len() as u64);
    assert_eq!(p["balanced"], true);
}

#[test]
fn a_server_killed_and_restarted_mid_run_loses_and_repeats_nothing() {
    let upper = Upper::default();
    let mut server = serve("127.0.0.1:0".parse().unwrap(), &upper);
    let addr = server.addr;
    let ws = Workspace::new();
    let count = 6000;
    let file = pipeline(
        &ws,
        &format!("count: {count}, rate: 3000"),
        addr.port(),
        "batch_size: 50, concurrency: 4, max_retries: 100, backoff: {initial: 10ms, max: 50ms}",
    );
    let flowctl = Running::start(&ws, &file);
    wait_until("the server processing events", || upper.seen.load(Relaxed) >= 1000);
    server.kill();
    std::thread::sleep(Duration::from_millis(400));
    let _server = serve(addr, &upper);
    let run = flowctl.finish();
    run.assert_success();

    assert_eq!(ids(&ws.events("out.jsonl")), expected_ids(count), "nothing lost, nothing twice, in order");
    assert!(ws.events("dead.jsonl").is_empty());
    assert!(upper.seen.load(Relaxed) >= count);
    let down =
        run.logs.iter().any(|l| l["fields"]["message"].as_str().is_some_and(|m| m.starts_with("processor down")));
    let up =
        run.logs.iter().any(|l| l["fields"]["message"].as_str().is_some_and(|m| m.starts_with("processor recovered")));
    assert!(down && up, "the outage and the recovery are logged:\n{}", run.stderr);
}

#[test]
fn a_batch_the_server_never_answers_times_out_and_only_it_is_dead_lettered() {
    let upper = Upper { hang_on: Some(123), ..Upper::default() };
    let server = serve("127.0.0.1:0".parse().unwrap(), &upper);
    let ws = Workspace::new();
    let count = 500;
    let processor =
        "batch_size: 10, batch_timeout: 1s, timeout: 300ms, max_retries: 1, backoff: {initial: 10ms, max: 10ms}";
    let file = pipeline(&ws, &format!("count: {count}"), server.addr.port(), processor);
    let run = ws.run(&file);
    run.assert_success();

    // Events 120..130 share the hung batch; everything else goes through, in order.
    let dead = ws.events("dead.jsonl");
    let dead_ids: Vec<u64> = dead.iter().map(|l| seq(l["event"]["id"].as_str().unwrap())).collect();
    assert_eq!(dead_ids, (120..130).collect::<Vec<_>>());
    for letter in &dead {
        assert_eq!(letter["error_kind"], "grpc_timeout", "{letter}");
        assert!(letter["message"].as_str().unwrap().contains("did not finish the batch within 300ms"), "{letter}");
    }
    let expected: Vec<String> =
        expected_ids(count).into_iter().filter(|id| !(120..130).contains(&seq(id.trim_end_matches(".b")))).collect();
    assert_eq!(ids(&ws.events("out.jsonl")), expected);
}
