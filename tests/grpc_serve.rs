//! `flowctl serve` on the real binary and real loopback sockets: a tonic
//! client and a Python grpcio peer stream events through `Process`; the
//! module file is replaced mid-stream; failing events come back marked;
//! SIGTERM lets an open stream finish; a control plane sees it register.

#![allow(clippy::unwrap_used)] // tests: a failed unwrap is a failed test

mod engine_common;
mod live_common;
mod serve_common;

use std::collections::HashSet;
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use flowctl::grpc::pb;
use flowctl::grpc::pb::control_plane_service_server::{ControlPlaneService, ControlPlaneServiceServer};
use serve_common::*;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_events_come_back_intact_in_order_with_health_reflection_and_metrics() {
    let served = Served::start(&guest("passthrough"), &[]);
    let mut client = served.client().await;

    let info = client.get_info(()).await.unwrap().into_inner();
    assert_eq!((info.name.as_str(), info.r#type), ("passthrough", pb::ComponentType::Processor as i32));
    assert_eq!(info.endpoint, served.addr);
    let version = info.version.clone();
    assert_eq!(version, short_hash(&std::fs::read(guest("passthrough")).unwrap()));
    let health = client.health_check(pb::HealthCheckRequest { include_details: true }).await.unwrap();
    assert_eq!(health.get_ref().status, pb::HealthStatus::Healthy as i32);

    assert_eq!(served.grpc_health("").await, "Serving");
    assert_eq!(served.grpc_health("flowctl.v1.ProcessorService").await, "Serving");
    let services = served.reflection_v1_services().await;
    assert!(services.contains(&"flowctl.v1.ProcessorService".to_string()), "{services:?}");
    assert!(services.contains(&"grpc.health.v1.Health".to_string()), "{services:?}");

    let sent: Vec<pb::Event> = (0..10_000).map(wire_event).collect();
    let outputs = client.process(tokio_stream::iter(sent.clone())).await.unwrap().into_inner();
    let got = collect(outputs).await;
    assert_eq!(got.len(), sent.len());
    for (i, (a, b)) in sent.iter().zip(&got).enumerate() {
        assert_intact(a, b, i);
        assert_eq!(b.metadata.get("flowctl.module_version"), Some(&version), "event {i}");
    }

    let metrics = served.metrics();
    let labels = [("pipeline", "serve"), ("component", "passthrough")];
    assert_eq!(metric(&metrics, "flowctl_events_received_total", &labels), 10_000.0);
    assert_eq!(metric(&metrics, "flowctl_events_emitted_total", &labels), 10_000.0);
    assert_eq!(metric(&metrics, "flowctl_events_dead_lettered_total", &labels), 0.0);
    assert_eq!(served.stop(), Some(0), "{}", served.log());
}

#[test]
fn a_python_grpcio_peer_with_its_own_stubs_gets_every_event_back_intact() {
    // The script builds the venv and the stubs when missing: a fresh machine needs only python3 and PyPI.
    let root = env!("CARGO_MANIFEST_DIR");
    let setup = Command::new(format!("{root}/scripts/python-grpc.sh")).output().unwrap();
    assert!(setup.status.success(), "scripts/python-grpc.sh failed:\n{}", String::from_utf8_lossy(&setup.stderr));
    let python = String::from_utf8(setup.stdout).unwrap().trim().to_string();

    // Started like flowctl's process driver starts components: no --listen, PORT set.
    let port = free_addr().rsplit(':').next().unwrap().to_string();
    let served = Served::start_with(&guest("passthrough"), &[], &[("PORT", &port)]);
    assert_eq!(served.addr, format!("127.0.0.1:{port}"));
    let peer = Command::new(python)
        .arg(format!("{root}/tests/peers/process_client.py"))
        .args(["--addr", &served.addr, "--events", "10000"])
        .env("PYTHONPATH", format!("{root}/target/python-grpc/gen"))
        .output()
        .unwrap();
    assert!(
        peer.status.success(),
        "python peer failed:\n{}\n{}\nflowctl log:\n{}",
        String::from_utf8_lossy(&peer.stdout),
        String::from_utf8_lossy(&peer.stderr),
        served.log()
    );
    let metrics = served.metrics();
    assert_eq!(metric(&metrics, "flowctl_events_emitted_total", &[("component", "passthrough")]), 10_000.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replacing_the_module_mid_stream_loses_and_repeats_nothing_and_changes_the_version() {
    let dir = tempfile::tempdir().unwrap();
    let module = dir.path().join("m.wasm");
    let variants: Vec<Vec<u8>> = (0..3).map(|i| variant(&guest("passthrough"), &format!("serve-{i}"))).collect();
    let hashes: Vec<String> = variants.iter().map(|v| short_hash(v)).collect();
    std::fs::write(&module, &variants[0]).unwrap();
    let served = Served::start(&module, &["--batch", "64"]);
    let mut client = served.client().await;

    let (tx, rx) = tokio::sync::mpsc::channel::<pb::Event>(256);
    let mut outputs = client.process(ReceiverStream::new(rx)).await.unwrap().into_inner();
    let mut stream = Lockstep { tx, sent: 0, got: Vec::new() };
    stream.round(&mut outputs).await;

    // Rename over (a deploy tool), then copy over the same inode (like `cp`).
    let tmp = dir.path().join("m.wasm.tmp");
    std::fs::write(&tmp, &variants[1]).unwrap();
    std::fs::rename(&tmp, &module).unwrap();
    stream.until_version(&mut outputs, &hashes[1]).await;
    std::fs::write(&tmp, &variants[2]).unwrap();
    std::fs::copy(&tmp, &module).unwrap();
    stream.until_version(&mut outputs, &hashes[2]).await;
    // A file that does not load is counted and logged; the running version stays.
    std::fs::write(&tmp, b"not wasm").unwrap();
    std::fs::rename(&tmp, &module).unwrap();
    wait_for(LONG, "the failed reload to be counted", || {
        let failed =
            metric(&served.metrics(), "flowctl_module_reloads_total", &[("component", "m"), ("result", "error")]);
        (failed == 1.0).then_some(())
    });
    stream.round(&mut outputs).await;
    let last = stream.got.last().unwrap().metadata.get("flowctl.module_version");
    assert_eq!(last, Some(&hashes[2]), "still the last good version");
    let Lockstep { tx, sent, mut got } = stream;
    drop(tx); // half-close: the server finishes and ends the stream
    got.extend(collect(outputs).await);

    let ids: Vec<&str> = got.iter().map(|e| e.id.as_str()).collect();
    let expected: Vec<String> = (0..sent).map(|i| wire_event(i).id).collect();
    assert_eq!(ids, expected, "every event exactly once, in order");
    // Versions never go back within a stream: old, then new, then newer.
    let rank: Vec<usize> = got
        .iter()
        .map(|e| hashes.iter().position(|h| Some(h) == e.metadata.get("flowctl.module_version")).unwrap())
        .collect();
    assert!(rank.windows(2).all(|w| w[0] <= w[1]), "version went back: {rank:?}");
    assert_eq!(rank.iter().copied().collect::<HashSet<_>>().len(), 3, "all three versions served");

    let metrics = served.metrics();
    assert_eq!(metric(&metrics, "flowctl_module_reloads_total", &[("component", "m"), ("result", "ok")]), 2.0);
    assert_eq!(metric(&metrics, "flowctl_events_received_total", &[("component", "m")]), sent as f64);
    let on_last = metric(&metrics, "flowctl_events_emitted_total", &[("component", "m"), ("version", &hashes[2])]);
    assert!(on_last > 0.0, "{metrics}");
    assert!(served.log().contains("module reloaded"), "{}", served.log());
    assert!(served.log().contains("module reload failed"), "{}", served.log());
    assert_eq!(served.stop(), Some(0), "{}", served.log());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failing_events_come_back_marked_in_their_place_and_the_stream_goes_on() {
    let root = env!("CARGO_MANIFEST_DIR");
    let trap = std::path::PathBuf::from(format!("{root}/tests/guests/trap_on_odd.wat"));
    let traps = Served::start(&trap, &["--name", "odd"]);
    let guest_errors = Served::start(&guest("failing"), &["--config", r#"{"fail_every": 5}"#]);

    let sent: Vec<pb::Event> = (0..60).map(|i| pb::Event { id: format!("e{i}"), ..wire_event(i) }).collect();
    for (served, fails, kind) in [
        (&traps, (|i: usize| !i.is_multiple_of(2)) as fn(usize) -> bool, "trap"),
        (&guest_errors, |i: usize| i.is_multiple_of(5), "guest_error"),
    ] {
        let mut client = served.client().await;
        let got = collect(client.process(tokio_stream::iter(sent.clone())).await.unwrap().into_inner()).await;
        assert_eq!(got.len(), sent.len(), "one answer per event, failed or not");
        for (i, (a, b)) in sent.iter().zip(&got).enumerate() {
            assert_intact(a, b, i);
            let error_kind = b.metadata.get("flowctl.error_kind").map(String::as_str);
            assert_eq!(error_kind, fails(i).then_some(kind), "event {i}: {:?}", b.metadata);
            assert_eq!(b.metadata.contains_key("flowctl.error"), fails(i), "event {i}");
        }
        let failed = sent.len() - (0..sent.len()).filter(|i| !fails(*i)).count();
        let metrics = served.metrics();
        let labels = [("pipeline", "serve"), ("kind", kind)];
        assert_eq!(metric(&metrics, "flowctl_events_dead_lettered_total", &labels), failed as f64, "{metrics}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_lets_an_open_stream_finish_then_exits_zero() {
    let served = Served::start(&guest("passthrough"), &[]);
    let mut client = served.client().await;
    let (tx, rx) = tokio::sync::mpsc::channel::<pb::Event>(256);
    let mut outputs = client.process(ReceiverStream::new(rx)).await.unwrap().into_inner();
    let mut stream = Lockstep { tx, sent: 0, got: Vec::new() };
    stream.round(&mut outputs).await;

    served.signal(libc::SIGTERM);
    wait_for(Duration::from_secs(30), "the shutdown to begin", || served.log().contains("shutting down").then_some(()));
    // No new calls are taken, but the open stream still runs to its end.
    stream.round(&mut outputs).await;
    let Lockstep { tx, sent, mut got } = stream;
    drop(tx);
    got.extend(collect(outputs).await);
    assert_eq!(got.len(), sent);
    assert_eq!(served.wait(), Some(0), "{}", served.log());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_leaves_mid_stream_frees_its_stream_and_others_are_served() {
    let served = Served::start(&guest("passthrough"), &[]);
    let mut client = served.client().await;
    let (tx, rx) = tokio::sync::mpsc::channel::<pb::Event>(256);
    let mut outputs = client.process(ReceiverStream::new(rx)).await.unwrap().into_inner();
    let mut stream = Lockstep { tx, sent: 0, got: Vec::new() };
    stream.round(&mut outputs).await;
    // Events sent but never read, then the client goes away without half-closing.
    for i in 500..1_500 {
        let _ = stream.tx.send(wire_event(i)).await;
    }
    drop(outputs);
    drop(stream);

    let open_streams = || async {
        let details = client.clone().health_check(pb::HealthCheckRequest { include_details: true }).await.unwrap();
        details.into_inner().metrics["open_streams"].clone()
    };
    let deadline = std::time::Instant::now() + LONG;
    while open_streams().await != "0" {
        assert!(std::time::Instant::now() < deadline, "the abandoned stream is still open");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let sent: Vec<pb::Event> = (0..1_000).map(wire_event).collect();
    let got = collect(client.process(tokio_stream::iter(sent.clone())).await.unwrap().into_inner()).await;
    assert_eq!(got.len(), sent.len());
    assert_eq!(served.stop(), Some(0), "{}", served.log());
}

/// A control plane that records what components tell it, and forgets the
/// first registration (its first heartbeat gets `NOT_FOUND`).
#[derive(Clone, Default)]
struct RecordingPlane {
    calls: Arc<Mutex<Vec<String>>>,
    registered: Arc<Mutex<Vec<pb::RegisterRequest>>>,
}

#[tonic::async_trait]
impl ControlPlaneService for RecordingPlane {
    async fn register_component(
        &self,
        r: Request<pb::RegisterRequest>,
    ) -> Result<Response<pb::RegisterResponse>, Status> {
        let mut registered = self.registered.lock().unwrap();
        registered.push(r.into_inner());
        let service_id = format!("svc-{}", registered.len());
        self.calls.lock().unwrap().push(format!("register {service_id}"));
        Ok(Response::new(pb::RegisterResponse { service_id, ..Default::default() }))
    }
    async fn unregister_component(&self, r: Request<pb::UnregisterRequest>) -> Result<Response<()>, Status> {
        self.calls.lock().unwrap().push(format!("unregister {}", r.into_inner().service_id));
        Ok(Response::new(()))
    }
    async fn heartbeat(&self, r: Request<pb::HeartbeatRequest>) -> Result<Response<()>, Status> {
        let r = r.into_inner();
        self.calls.lock().unwrap().push(format!("heartbeat {} {}", r.service_id, r.status));
        match r.service_id.as_str() {
            "svc-1" => Err(Status::not_found("no such service")),
            _ => Ok(Response::new(())),
        }
    }
    async fn discover_components(
        &self,
        _: Request<pb::DiscoverRequest>,
    ) -> Result<Response<pb::ListComponentsResponse>, Status> {
        Err(Status::unimplemented("not in this test"))
    }
    async fn get_component_status(
        &self,
        _: Request<pb::ComponentStatusRequest>,
    ) -> Result<Response<pb::ComponentStatus>, Status> {
        Err(Status::unimplemented("not in this test"))
    }
    async fn list_components(
        &self,
        _: Request<pb::ListComponentsRequest>,
    ) -> Result<Response<pb::ListComponentsResponse>, Status> {
        Err(Status::unimplemented("not in this test"))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_enable_flowctl_it_registers_heartbeats_re_registers_and_unregisters() {
    let plane = RecordingPlane::default();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let plane_addr = listener.local_addr().unwrap().to_string();
    let server = tonic::transport::Server::builder()
        .add_service(ControlPlaneServiceServer::new(plane.clone()))
        .serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(listener));
    tokio::spawn(server);

    let env =
        [("ENABLE_FLOWCTL", "true"), ("FLOWCTL_ENDPOINT", plane_addr.as_str()), ("FLOWCTL_COMPONENT_ID", "legacy-7")];
    let served = Served::start_with(&guest("passthrough"), &["--heartbeat", "100ms"], &env);
    let healthy = pb::HealthStatus::Healthy as i32;
    wait_for(LONG, "two heartbeats after registering again", || {
        let calls = plane.calls.lock().unwrap();
        (calls.iter().filter(|c| **c == format!("heartbeat svc-2 {healthy}")).count() >= 2).then_some(())
    });
    let registered = plane.registered.lock().unwrap().clone();
    let component = registered[0].component.clone().unwrap();
    assert_eq!(registered[0].component_id, "legacy-7");
    assert_eq!((component.id.as_str(), component.name.as_str()), ("legacy-7", "passthrough"));
    assert_eq!(
        (component.r#type, component.endpoint.as_str()),
        (pb::ComponentType::Processor as i32, served.addr.as_str())
    );
    assert_eq!(served.client().await.get_info(()).await.unwrap().into_inner().id, "legacy-7");

    assert_eq!(served.stop(), Some(0), "{}", served.log());
    let calls = plane.calls.lock().unwrap().clone();
    assert_eq!(
        calls[..3],
        ["register svc-1".to_string(), format!("heartbeat svc-1 {healthy}"), "register svc-2".into()]
    );
    assert_eq!(calls.last().map(String::as_str), Some("unregister svc-2"), "{calls:?}");
}
