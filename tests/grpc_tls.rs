//! An authenticated endpoint: a `flowctl.v1.SourceService` behind TLS (a
//! certificate signed by a CA made for the test) that also requires an
//! `authorization` header. The grpc source reaches it with `tls: {ca}` and
//! `headers:`, and is refused without them.

#![allow(clippy::unwrap_used)] // tests: a failed unwrap is a failed test

mod engine_common;
mod grpc_common;
mod telemetry_common;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::pin::Pin;

use engine_common::*;
use flowctl::grpc::pb::{self, source_service_server::SourceService, source_service_server::SourceServiceServer};
use grpc_common::{assert_intact, event, wait_until};
use tokio_stream::Stream;
use tonic::transport::{Identity, Server, ServerTlsConfig};
use tonic::{Request, Response, Status};

const TOKEN: &str = "Bearer s3cret";
const COUNT: u64 = 500;

/// Streams events `0..COUNT`, then ends.
struct Tiny;

type Events = Pin<Box<dyn Stream<Item = Result<pb::Event, Status>> + Send>>;

#[tonic::async_trait]
impl SourceService for Tiny {
    type StreamEventsStream = Events;

    async fn get_info(&self, _: Request<()>) -> Result<Response<pb::ComponentInfo>, Status> {
        Ok(Response::new(pb::ComponentInfo::default()))
    }
    async fn health_check(
        &self,
        _: Request<pb::HealthCheckRequest>,
    ) -> Result<Response<pb::HealthCheckResponse>, Status> {
        Ok(Response::new(pb::HealthCheckResponse::default()))
    }
    async fn stream_events(&self, _: Request<pb::StreamRequest>) -> Result<Response<Events>, Status> {
        Ok(Response::new(Box::pin(tokio_stream::iter((0..COUNT).map(|i| Ok(event(i)))))))
    }
    async fn get_state(&self, _: Request<pb::StateRequest>) -> Result<Response<pb::StateResponse>, Status> {
        Ok(Response::new(pb::StateResponse::default()))
    }
    async fn save_state(&self, _: Request<pb::SaveStateRequest>) -> Result<Response<()>, Status> {
        Ok(Response::new(()))
    }
}

fn require_token(request: Request<()>) -> Result<Request<()>, Status> {
    match request.metadata().get("authorization").and_then(|v| v.to_str().ok()) {
        Some(TOKEN) => Ok(request),
        _ => Err(Status::unauthenticated("missing or wrong authorization header")),
    }
}

/// A CA, and a certificate for `localhost` it signed. Returns the CA's PEM file.
fn certificates(ws: &Workspace) -> (PathBuf, Identity) {
    let ca_key = rcgen::KeyPair::generate().unwrap();
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let issuer = rcgen::Issuer::from_params(&ca_params, &ca_key);
    let key = rcgen::KeyPair::generate().unwrap();
    let server = rcgen::CertificateParams::new(vec!["localhost".to_owned()]).unwrap().signed_by(&key, &issuer).unwrap();
    let ca_file = ws.path("ca.pem");
    std::fs::write(&ca_file, ca.pem()).unwrap();
    (ca_file, Identity::from_pem(server.pem(), key.serialize_pem()))
}

/// Serves [`Tiny`] with TLS and the token check; the runtime stops it when dropped.
fn serve(identity: Identity) -> (tokio::runtime::Runtime, SocketAddr) {
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
    let listener = runtime.block_on(tokio::net::TcpListener::bind("127.0.0.1:0")).unwrap();
    let addr = listener.local_addr().unwrap();
    let server = Server::builder()
        .tls_config(ServerTlsConfig::new().identity(identity))
        .unwrap()
        .add_service(SourceServiceServer::with_interceptor(Tiny, require_token))
        .serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(listener));
    runtime.spawn(server);
    (runtime, addr)
}

fn pipeline(ws: &Workspace, addr: SocketAddr, ca: &std::path::Path, token: &str) -> PathBuf {
    let pass = guest("passthrough");
    ws.pipeline(&format!(
        r#"
  sources:
    - id: src
      type: grpc
      config:
        endpoint: "https://localhost:{port}"
        tls: {{ca: "{ca}"}}
        headers: {{authorization: "{token}"}}
        backoff: {{initial: 20ms, max: 100ms}}
  processors:
    - {{id: pass, type: wasm, inputs: [src], wasm: {{module: "{pass}"}}}}
  sinks:
    - {{id: out, type: file, inputs: [pass], config: {{path: out.jsonl}}}}
"#,
        port = addr.port(),
        ca = ca.display(),
    ))
}

#[test]
fn a_tls_endpoint_with_a_required_header_is_reached_with_tls_and_headers() {
    let ws = Workspace::new();
    let (ca, identity) = certificates(&ws);
    let (_server, addr) = serve(identity);
    let run = ws.run(&pipeline(&ws, addr, &ca, TOKEN));
    run.assert_success();
    let out = ws.events("out.jsonl");
    assert_eq!(out.len() as u64, COUNT);
    for (i, line) in out.iter().enumerate() {
        let event: flowctl::Event = serde_json::from_value(line.clone()).unwrap();
        assert_intact(&flowctl::grpc::mapping::to_proto(&event, "x"), i as u64);
    }
}

#[test]
fn a_wrong_token_is_refused_and_retried_without_delivering_anything() {
    let ws = Workspace::new();
    let (ca, identity) = certificates(&ws);
    let (_server, addr) = serve(identity);
    let live = telemetry_common::Live::start(&ws, &pipeline(&ws, addr, &ca, "Bearer wrong"));
    wait_until("the refusal in the log", || live.log_text().contains("missing or wrong authorization header"));
    live.stop();
    assert_eq!(ws.events("out.jsonl").len(), 0);
}
