//! A flowctl component written in Rust: a `flowctl.v1.ProcessorService`
//! that passes every event through and adds the metadata `example.pid`.
//!
//! Run it by hand (`PORT=50053 cargo run --example grpc_component`) and point
//! a `type: grpc` processor at `http://127.0.0.1:50053`, or let `flowctl run`
//! start it:
//!
//! ```yaml
//! processors:
//!   - id: enrich
//!     type: grpc
//!     inputs: [gen]
//!     config: {command: [target/debug/examples/grpc_component]}
//! ```
//!
//! The contract with `flowctl run` (see `docs/grpc.md`): listen on `PORT`;
//! when `ENABLE_FLOWCTL=true`, register with the control plane at
//! `FLOWCTL_ENDPOINT` as `FLOWCTL_COMPONENT_ID` and heartbeat; answer
//! `HealthCheck`; on SIGTERM finish the open streams, unregister and exit.
//!
//! A component in another crate generates the same stubs from
//! `proto/flowctl/v1/*.proto` (with tonic-prost-build, protox, or any gRPC
//! toolchain); this example borrows flowctl's generated module `flowctl::grpc::pb`.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use flowctl::grpc::pb;
use flowctl::grpc::pb::control_plane_service_client::ControlPlaneServiceClient;
use flowctl::grpc::pb::processor_service_server::{ProcessorService, ProcessorServiceServer};
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::transport::{Channel, Endpoint};
use tonic::{Request, Response, Status, Streaming};

const HEARTBEAT: Duration = Duration::from_secs(1);

struct PassThrough {
    pid: String,
    port: u16,
}

#[tonic::async_trait]
impl ProcessorService for PassThrough {
    type ProcessStream = ReceiverStream<Result<pb::Event, Status>>;

    async fn get_info(&self, _: Request<()>) -> Result<Response<pb::ComponentInfo>, Status> {
        Ok(Response::new(info(&self.pid, self.port)))
    }

    async fn health_check(
        &self,
        _: Request<pb::HealthCheckRequest>,
    ) -> Result<Response<pb::HealthCheckResponse>, Status> {
        let status = pb::HealthStatus::Healthy as i32;
        Ok(Response::new(pb::HealthCheckResponse { status, ..Default::default() }))
    }

    /// One stream per batch: outputs in input order, the stream ends after the client's.
    async fn process(&self, request: Request<Streaming<pb::Event>>) -> Result<Response<Self::ProcessStream>, Status> {
        let mut inbound = request.into_inner();
        let (tx, rx) = mpsc::channel(256);
        let pid = self.pid.clone();
        tokio::spawn(async move {
            loop {
                let next = match inbound.message().await {
                    Ok(Some(mut event)) => {
                        event.metadata.insert("example.pid".into(), pid.clone());
                        Ok(event)
                    }
                    Ok(None) => return,
                    Err(status) => Err(status),
                };
                if tx.send(next).await.is_err() {
                    return;
                }
            }
        });
        Ok(Response::new(ReceiverStream::new(rx)))
    }
}

fn info(pid: &str, port: u16) -> pb::ComponentInfo {
    pb::ComponentInfo {
        id: "grpc-component-example".into(),
        name: "pass-through example".into(),
        description: "passes events through and adds example.pid".into(),
        version: env!("CARGO_PKG_VERSION").into(),
        r#type: pb::ComponentType::Processor as i32,
        endpoint: format!("http://127.0.0.1:{port}"),
        metadata: HashMap::from([("pid".to_owned(), pid.to_owned())]),
        ..Default::default()
    }
}

/// This component's registration: the client and the service id the control plane gave it.
#[derive(Clone)]
struct Membership {
    client: ControlPlaneServiceClient<Channel>,
    service_id: Arc<Mutex<Option<String>>>,
}

impl Membership {
    fn service_id(&self) -> Option<String> {
        self.service_id.lock().unwrap_or_else(PoisonError::into_inner).clone()
    }

    fn set_service_id(&self, id: Option<String>) {
        *self.service_id.lock().unwrap_or_else(PoisonError::into_inner) = id;
    }

    /// Registers, then heartbeats every second until the process ends;
    /// registers again if the control plane forgot it (e.g. flowctl restarted).
    async fn keep(mut self, component_id: String, pid: String, port: u16) {
        let mut ticks = tokio::time::interval(HEARTBEAT);
        loop {
            ticks.tick().await;
            match self.service_id() {
                None => {
                    let request =
                        pb::RegisterRequest { component: Some(info(&pid, port)), component_id: component_id.clone() };
                    match self.client.register_component(request).await {
                        Ok(response) => {
                            let id = response.into_inner().service_id;
                            eprintln!("registered as {id}");
                            self.set_service_id(Some(id));
                        }
                        Err(status) => eprintln!("cannot register ({status}); retrying"),
                    }
                }
                Some(id) => {
                    let request = pb::HeartbeatRequest {
                        service_id: id,
                        status: pb::HealthStatus::Healthy as i32,
                        metrics: HashMap::from([("pid".to_owned(), pid.clone())]),
                    };
                    match self.client.heartbeat(request).await {
                        Err(status) if status.code() == tonic::Code::NotFound => {
                            eprintln!("the control plane forgot this component; registering again");
                            self.set_service_id(None);
                        }
                        Err(status) => eprintln!("heartbeat failed: {status}"),
                        Ok(_) => {}
                    }
                }
            }
        }
    }

    /// Says goodbye on a clean shutdown.
    async fn leave(mut self) {
        if let Some(service_id) = self.service_id() {
            let _ = self.client.unregister_component(pb::UnregisterRequest { service_id }).await;
        }
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let port: u16 = std::env::var("PORT").ok().and_then(|p| p.parse().ok()).unwrap_or(50053);
    let pid = std::process::id().to_string();
    let mut membership = None;
    if std::env::var("ENABLE_FLOWCTL").is_ok_and(|v| v == "true") {
        let endpoint = std::env::var("FLOWCTL_ENDPOINT").unwrap_or_else(|_| "http://127.0.0.1:8080".into());
        let component_id = std::env::var("FLOWCTL_COMPONENT_ID").unwrap_or_else(|_| "grpc-component-example".into());
        // Connects on first use and reconnects by itself.
        let channel = Endpoint::from_shared(endpoint)?.connect_lazy();
        let member = Membership { client: ControlPlaneServiceClient::new(channel), service_id: Arc::default() };
        tokio::spawn(member.clone().keep(component_id, pid.clone(), port));
        membership = Some(member);
    }
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    eprintln!("serving flowctl.v1.ProcessorService on {addr} (pid {pid})");
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    tonic::transport::Server::builder()
        .add_service(ProcessorServiceServer::new(PassThrough { pid, port }))
        .serve_with_shutdown(addr, async move {
            tokio::select! {
                _ = term.recv() => {}
                _ = tokio::signal::ctrl_c() => {}
            }
        })
        .await?;
    if let Some(member) = membership {
        member.leave().await;
    }
    eprintln!("stopped");
    Ok(())
}
