//! gRPC benches, side by side in one run on the same 300-byte JSON events:
//!
//! - `file -> passthrough.wasm -> file`: the baseline every other figure is read against;
//! - `grpc source -> passthrough.wasm -> grpc sink`: an in-process tonic
//!   `SourceService` streams the events, an in-process `ConsumerService` takes
//!   them; timed from the pipeline's start until the consumer holds them all;
//! - `generator -> passthrough.wasm -> grpc_server` with 10 subscribers, each
//!   a tonic client: events per second that reach *each* subscriber, timed from
//!   the moment all ten are subscribed and the source starts;
//! - `flowctl serve passthrough.wasm` (the release binary) with one client
//!   streaming the events through `Process` and reading them back.
//!
//! The peers run on a tokio runtime of their own (one thread), as a remote
//! component would run in its own process, but share the machine's two cores.
//! Needs `processors/passthrough.wasm` (scripts/build-processors.sh).
//!
//! ```text
//! cargo bench --bench grpc        # figures, printed (docs/performance.md)
//! ```

#![allow(clippy::unwrap_used)]

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::{Duration, Instant};

use flowctl::actors::{run_pipeline_with, EngineOptions, RunReport};
use flowctl::config::{GeneratorConfig, GeneratorProfile, Pipeline};
use flowctl::connectors::generator::Generator;
use flowctl::connectors::{ConnectorError, Source};
use flowctl::grpc::pb;
use flowctl::grpc::pb::consumer_service_server::{ConsumerService, ConsumerServiceServer};
use flowctl::grpc::pb::source_service_server::{SourceService, SourceServiceServer};
use flowctl::runtime::{Runtime, RuntimeSettings};
use flowctl::Event;
use tokio_stream::{Stream, StreamExt};
use tonic::{Request, Response, Status, Streaming};

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const EVENTS: u64 = 500_000;
/// Runs of each figure; the median is reported (two cores, many threads: single runs vary).
const RUNS: usize = 3;
const EVENT_SIZE: usize = 300;
const SUBSCRIBERS: usize = 10;

fn module() -> PathBuf {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("processors/passthrough.wasm");
    assert!(path.exists(), "{} is missing: run scripts/build-processors.sh first", path.display());
    path
}

/// The same events for every figure: the generator's `simple` profile at 300 bytes.
fn events() -> Vec<Event> {
    let config = GeneratorConfig {
        profile: GeneratorProfile::Simple,
        count: Some(EVENTS),
        rate: None,
        event_size: EVENT_SIZE,
        seed: 1,
    };
    let mut generator = Generator::new("gen", &config);
    let mut all = Vec::with_capacity(EVENTS as usize);
    while generator.poll_batch(&mut all, 4096).unwrap() {}
    all
}

fn free_addr() -> SocketAddr {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap()
}

fn pipeline(source: &str, sink: &str) -> Pipeline {
    let text = format!(
        r#"apiVersion: flowctl/v1
kind: Pipeline
metadata: {{name: bench}}
spec:
  settings: {{dead_letter: {{type: stderr}}, hot_reload: false}}
  sources: [{source}]
  processors:
    - {{id: p, type: wasm, inputs: [src], wasm: {{module: "{}", pool_size: 2, batch_size: 256, batch_timeout: 5ms}}}}
  sinks: [{sink}]
"#,
        module().display()
    );
    flowctl::config::parse_str(&text, Path::new("/tmp/bench-grpc.yaml")).unwrap()
}

fn run(pipeline: Pipeline, runtime: &Runtime, options: EngineOptions) -> RunReport {
    let system = actix::System::new();
    system.block_on(run_pipeline_with(pipeline, runtime.clone(), options, std::future::pending())).unwrap()
}

fn rate(count: u64, elapsed: Duration) -> f64 {
    count as f64 / elapsed.as_secs_f64()
}

fn file_baseline(runtime: &Runtime, events: &[Event], dir: &Path) -> f64 {
    let input = dir.join("in.jsonl");
    let mut text = Vec::new();
    for e in events {
        text.extend(e.to_json());
        text.push(b'\n');
    }
    std::fs::write(&input, text).unwrap();
    let output = dir.join("out.jsonl");
    let _ = std::fs::remove_file(&output);
    let p = pipeline(
        &format!("{{id: src, type: file, config: {{path: \"{}\"}}}}", input.display()),
        &format!("{{id: out, type: file, inputs: [p], config: {{path: \"{}\"}}}}", output.display()),
    );
    let start = Instant::now();
    let report = run(p, runtime, EngineOptions { without_checkpoints: true, ..EngineOptions::default() });
    assert_eq!(report.sinks[0].written, EVENTS);
    rate(EVENTS, start.elapsed())
}

/// A `SourceService` that streams the same wire events to every caller.
struct BenchSource(Arc<Vec<pb::Event>>);

type EventStream = Pin<Box<dyn Stream<Item = Result<pb::Event, Status>> + Send>>;

#[tonic::async_trait]
impl SourceService for BenchSource {
    type StreamEventsStream = EventStream;

    async fn get_info(&self, _: Request<()>) -> Result<Response<pb::ComponentInfo>, Status> {
        Ok(Response::new(pb::ComponentInfo { id: "bench-source".into(), ..Default::default() }))
    }
    async fn health_check(
        &self,
        _: Request<pb::HealthCheckRequest>,
    ) -> Result<Response<pb::HealthCheckResponse>, Status> {
        Ok(Response::new(pb::HealthCheckResponse { status: pb::HealthStatus::Healthy as i32, ..Default::default() }))
    }
    async fn stream_events(&self, _: Request<pb::StreamRequest>) -> Result<Response<EventStream>, Status> {
        let events = self.0.clone();
        let stream = tokio_stream::iter(0..events.len()).map(move |i| Ok(events[i].clone()));
        Ok(Response::new(Box::pin(stream)))
    }
    async fn get_state(&self, _: Request<pb::StateRequest>) -> Result<Response<pb::StateResponse>, Status> {
        Ok(Response::new(pb::StateResponse::default()))
    }
    async fn save_state(&self, _: Request<pb::SaveStateRequest>) -> Result<Response<()>, Status> {
        Ok(Response::new(()))
    }
}

/// A `ConsumerService` that counts what it took.
#[derive(Clone, Default)]
struct BenchConsumer(Arc<AtomicU64>);

#[tonic::async_trait]
impl ConsumerService for BenchConsumer {
    async fn get_info(&self, _: Request<()>) -> Result<Response<pb::ComponentInfo>, Status> {
        Ok(Response::new(pb::ComponentInfo { id: "bench-consumer".into(), ..Default::default() }))
    }
    async fn health_check(
        &self,
        _: Request<pb::HealthCheckRequest>,
    ) -> Result<Response<pb::HealthCheckResponse>, Status> {
        Ok(Response::new(pb::HealthCheckResponse { status: pb::HealthStatus::Healthy as i32, ..Default::default() }))
    }
    async fn consume(&self, request: Request<Streaming<pb::Event>>) -> Result<Response<pb::ConsumeResponse>, Status> {
        let mut stream = request.into_inner();
        let mut consumed = 0;
        while let Some(event) = stream.next().await {
            event?;
            consumed += 1;
            self.0.fetch_add(1, Relaxed);
        }
        Ok(Response::new(pb::ConsumeResponse { events_consumed: consumed, ..Default::default() }))
    }
}

fn peers_runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap()
}

fn grpc_to_grpc(runtime: &Runtime, events: &[Event]) -> f64 {
    let peers = peers_runtime();
    let wire: Vec<pb::Event> = events.iter().map(|e| flowctl::grpc::mapping::to_proto(e, "bench")).collect();
    let (source_addr, consumer_addr) = (free_addr(), free_addr());
    let consumed = BenchConsumer::default();
    peers.spawn(
        tonic::transport::Server::builder()
            .add_service(SourceServiceServer::new(BenchSource(Arc::new(wire))))
            .serve(source_addr),
    );
    peers.spawn(
        tonic::transport::Server::builder()
            .add_service(ConsumerServiceServer::new(consumed.clone()))
            .serve(consumer_addr),
    );
    std::thread::sleep(Duration::from_millis(100));
    let p = pipeline(
        &format!("{{id: src, type: grpc, config: {{endpoint: \"http://{source_addr}\"}}}}"),
        &format!("{{id: out, type: grpc, inputs: [p], config: {{endpoint: \"http://{consumer_addr}\"}}}}"),
    );
    let start = Instant::now();
    run(p, runtime, EngineOptions { without_checkpoints: true, ..EngineOptions::default() });
    let elapsed = start.elapsed();
    assert_eq!(consumed.0.load(Relaxed), EVENTS, "the consumer got every event");
    rate(EVENTS, elapsed)
}

/// The generator, held back until every subscriber is in.
struct GatedSource {
    inner: Generator,
    open: Arc<AtomicBool>,
}

impl Source for GatedSource {
    fn poll_batch(&mut self, out: &mut Vec<Event>, max: usize) -> Result<bool, ConnectorError> {
        if !self.open.load(Relaxed) {
            std::thread::sleep(Duration::from_millis(1));
            return Ok(true);
        }
        self.inner.poll_batch(out, max)
    }
}

/// Events/s reaching each subscriber, for the slowest of them.
fn fan_out(runtime: &Runtime) -> f64 {
    let peers = peers_runtime();
    let listen = free_addr();
    let open = Arc::new(AtomicBool::new(false));
    let config = GeneratorConfig {
        profile: GeneratorProfile::Simple,
        count: Some(EVENTS),
        rate: None,
        event_size: EVENT_SIZE,
        seed: 1,
    };
    let source = GatedSource { inner: Generator::new("src", &config), open: open.clone() };
    let p = pipeline(
        "{id: src, type: generator}",
        &format!("{{id: out, type: grpc_server, inputs: [p], config: {{listen: \"{listen}\", buffer: 4096}}}}"),
    );
    let options = EngineOptions {
        sources: HashMap::from([("src".to_string(), Box::new(source) as Box<dyn Source>)]),
        without_checkpoints: true,
        ..EngineOptions::default()
    };
    let started = Arc::new(std::sync::Mutex::new(None::<Instant>));
    let subscribers = {
        let (open, started) = (open.clone(), started.clone());
        peers.spawn(async move {
            let mut streams = Vec::new();
            for _ in 0..SUBSCRIBERS {
                let stream = loop {
                    let client =
                        pb::source_service_client::SourceServiceClient::connect(format!("http://{listen}")).await;
                    if let Ok(mut client) = client {
                        if let Ok(response) = client.stream_events(pb::StreamRequest::default()).await {
                            break response.into_inner();
                        }
                    }
                    tokio::time::sleep(Duration::from_millis(20)).await;
                };
                streams.push(stream);
            }
            *started.lock().unwrap() = Some(Instant::now());
            open.store(true, Relaxed);
            let mut done = Vec::new();
            for mut stream in streams {
                done.push(tokio::spawn(async move {
                    let mut n = 0u64;
                    while let Some(Ok(_)) = stream.next().await {
                        n += 1;
                        if n == EVENTS {
                            break;
                        }
                    }
                    (n, Instant::now())
                }));
            }
            let mut finished = Vec::new();
            for task in done {
                finished.push(task.await.unwrap());
            }
            finished
        })
    };
    run(p, runtime, EngineOptions { ..options });
    let finished = peers.block_on(subscribers).unwrap();
    let start = started.lock().unwrap().unwrap();
    let rates: Vec<f64> = finished
        .iter()
        .map(|(n, at)| {
            assert_eq!(*n, EVENTS, "a subscriber got every event");
            rate(*n, *at - start)
        })
        .collect();
    rates.into_iter().fold(f64::MAX, f64::min)
}

/// Kills the served process when the bench is done with it.
struct Served(Child);

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn serve(events: &[Event]) -> Option<f64> {
    let binary = Path::new(env!("CARGO_BIN_EXE_flowctl"));
    let listen = free_addr();
    let child = Command::new(binary)
        .args(["serve", &module().display().to_string(), "--listen", &listen.to_string()])
        .args(["--metrics-addr", "127.0.0.1:0"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .ok()?;
    let _served = Served(child);
    let wire: Vec<pb::Event> = events.iter().map(|e| flowctl::grpc::mapping::to_proto(e, "bench")).collect();
    let peers = peers_runtime();
    peers.block_on(async move {
        let mut client = loop {
            match pb::processor_service_client::ProcessorServiceClient::connect(format!("http://{listen}")).await {
                Ok(client) => break client,
                Err(_) => tokio::time::sleep(Duration::from_millis(20)).await,
            }
        };
        let start = Instant::now();
        let outbound = tokio_stream::iter(wire);
        let mut back = client.process(outbound).await.ok()?.into_inner();
        let mut n = 0u64;
        while let Some(Ok(_)) = back.next().await {
            n += 1;
        }
        assert_eq!(n, EVENTS, "every event came back");
        Some(rate(n, start.elapsed()))
    })
}

/// The median of `RUNS` runs, and every run, as text.
fn median(mut runs: Vec<f64>) -> (f64, String) {
    let text = runs.iter().map(|r| format!("{r:.0}")).collect::<Vec<_>>().join(", ");
    runs.sort_by(f64::total_cmp);
    (runs[runs.len() / 2], text)
}

fn main() {
    // `cargo test --benches` runs benches without --bench: nothing to check here then.
    let args: Vec<String> = std::env::args().skip(1).collect();
    if !args.iter().any(|a| a == "--bench") {
        return;
    }
    // `cargo bench --bench grpc -- grpc serve` runs only the figures named (file, grpc, fanout, serve).
    let named: Vec<&str> = args.iter().filter(|a| !a.starts_with("--")).map(String::as_str).collect();
    let wanted = |figure: &str| named.is_empty() || named.contains(&figure);
    let runtime = Runtime::new(RuntimeSettings::default()).unwrap();
    let events = events();
    let dir = tempfile::tempdir().unwrap();
    println!("{EVENTS} events of {EVENT_SIZE} bytes, median of {RUNS} runs (each run in brackets)");
    let file =
        wanted("file").then(|| median((0..RUNS).map(|_| file_baseline(&runtime, &events, dir.path())).collect()));
    let versus = |figure: f64| {
        file.as_ref().map(|(file, _)| format!(" = {:.0}% of file", 100.0 * figure / file)).unwrap_or_default()
    };
    if let Some((file, runs)) = &file {
        println!("file -> passthrough -> file: {file:.0} events/s [{runs}]");
    }
    if wanted("grpc") {
        let (grpc, runs) = median((0..RUNS).map(|_| grpc_to_grpc(&runtime, &events)).collect());
        println!("grpc source -> passthrough -> grpc sink: {grpc:.0} events/s [{runs}]{}", versus(grpc));
    }
    if wanted("fanout") {
        let (slowest, runs) = median((0..RUNS).map(|_| fan_out(&runtime)).collect());
        println!(
            "generator -> passthrough -> grpc_server, {SUBSCRIBERS} subscribers: {slowest:.0} events/s to each (the slowest subscriber) [{runs}]{}",
            versus(slowest)
        );
    }
    if wanted("serve") {
        let served: Vec<f64> = (0..RUNS).filter_map(|_| serve(&events)).collect();
        if served.len() == RUNS {
            let (served, runs) = median(served);
            println!(
                "flowctl serve passthrough.wasm, one streaming client: {served:.0} events/s [{runs}]{}",
                versus(served)
            );
        } else {
            println!("flowctl serve: could not start the binary");
        }
    }
}
