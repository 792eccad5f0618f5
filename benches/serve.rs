//! `flowctl serve` bench: one streaming client sends 300-byte JSON events
//! through `ProcessorService.Process` over loopback to passthrough.wasm and
//! reads every output back; reported next to the runtime's own batched
//! throughput of the same module on one thread, so the cost of gRPC and the
//! event mapping shows.
//!
//! The server is the library's (`grpc::serve`, as `flowctl serve` runs it:
//! pool 2, batches up to 256, the shared gRPC runtime); the client runs on a
//! tokio runtime of its own with one thread, sending from a pre-built Vec.
//! Both share this machine's cores, as a co-located client would.
//!
//! `cargo bench --bench serve` prints the figures for 1,000,000 events;
//! `cargo test --benches` runs 5,000 as a check that it works.

#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use flowctl::grpc::mapping::from_millis;
use flowctl::grpc::pb;
use flowctl::grpc::pb::processor_service_client::ProcessorServiceClient;
use flowctl::grpc::serve::{self, Batching, Prepared, ServeSettings};
use flowctl::runtime::{InstanceSlot, ProcessorSpec, Runtime, RuntimeSettings};

/// The allocator `flowctl` itself runs with (src/main.rs), so figures match the binary.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn module() -> PathBuf {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("processors/passthrough.wasm");
    assert!(path.exists(), "{} is missing: run scripts/build-processors.sh first", path.display());
    path
}

/// A JSON event of about 300 bytes on the wire.
fn event(i: u64) -> pb::Event {
    let payload = format!(
        r#"{{"seq":{i},"from":"GA{a}","to":"GC{b}","amount":"{amount}.2500000","asset":"USDC","memo":"bench event {i:012}"}}"#,
        a = "B".repeat(54),
        b = "D".repeat(54),
        amount = i % 10_000,
    );
    pb::Event {
        id: format!("bench-{i:012}"),
        r#type: "bench.payment.v1".into(),
        payload: payload.into_bytes().into(),
        metadata: [("network".to_owned(), "testnet".to_owned())].into(),
        timestamp: Some(from_millis(1_700_000_000_000 + i as i64)),
        source_component_id: "bench".into(),
        content_type: "application/json".into(),
        stellar_cursor: None,
    }
}

/// Events per second through `Process`, all outputs read back.
fn through_serve(runtime: &Runtime, events: u64) -> f64 {
    let settings = ServeSettings {
        module: module(),
        spec: ProcessorSpec::named("passthrough"),
        component_id: None,
        pool: 2,
        batching: Batching { max_batch: 256, in_flight: 4 },
        hot_reload: false,
        grace: Duration::from_secs(5),
        control_plane: None,
    };
    let prepared = Prepared::load(runtime, settings).unwrap();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = flowctl::grpc::io::handle().spawn(serve::serve(prepared, listener, async {
        let _ = stopped.await;
    }));

    let sent: Vec<pb::Event> = (0..events).map(event).collect();
    let client_runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let (received, seconds) = client_runtime.block_on(async move {
        let mut client = ProcessorServiceClient::connect(format!("http://{addr}")).await.unwrap();
        let started = Instant::now();
        let mut outputs = client.process(tokio_stream::iter(sent)).await.unwrap().into_inner();
        let mut received = 0u64;
        while let Some(event) = outputs.message().await.unwrap() {
            assert!(!event.metadata.contains_key(serve::ERROR_KEY), "{event:?}");
            received += 1;
        }
        (received, started.elapsed().as_secs_f64())
    });
    assert_eq!(received, events, "every event back");
    let _ = stop.send(());
    let _ = flowctl::grpc::io::runtime().block_on(server);
    events as f64 / seconds
}

/// The runtime alone: batches of 256 on one instance, one thread.
fn runtime_only(runtime: &Runtime, events: u64) -> f64 {
    let module = runtime.load_file(&module(), ProcessorSpec::named("passthrough")).unwrap();
    let batch: Vec<flowctl::Event> = (0..256).map(|i| flowctl::grpc::mapping::from_proto(event(i))).collect();
    let mut slot = InstanceSlot::new(module);
    let started = Instant::now();
    let mut done = 0;
    while done < events {
        assert!(slot.process(&batch).iter().all(Result::is_ok));
        done += batch.len() as u64;
    }
    done as f64 / started.elapsed().as_secs_f64()
}

fn main() {
    // `cargo bench` passes --bench; `cargo test --benches` does not: then a short check run.
    let figures = std::env::args().any(|a| a == "--bench");
    let events = if figures { 1_000_000 } else { 5_000 };
    let runtime = Runtime::new(RuntimeSettings::default()).unwrap();
    let serve = through_serve(&runtime, events);
    let alone = runtime_only(&runtime, events);
    println!("flowctl serve, 1 streaming client, {events} x ~300 B JSON events: {serve:.0} events/s");
    println!("runtime alone, same module, batches of 256, 1 thread:          {alone:.0} events/s");
    println!("serve / runtime alone: {:.0}%", 100.0 * serve / alone);
}
