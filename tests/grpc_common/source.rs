//! A `flowctl.v1.SourceService` test server streaming generated events.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering::SeqCst};
use std::sync::{Arc, Mutex};

use flowctl::grpc::pb::{self, source_service_server::SourceService, source_service_server::SourceServiceServer};
use tokio_stream::wrappers::{ReceiverStream, TcpListenerStream};
use tonic::{Request, Response, Status};

use super::{bind, event, index_of, server_runtime};

/// What the source serves.
#[derive(Debug, Clone, Default)]
pub struct SourcePlan {
    /// Events `0..count`, then the stream ends normally.
    pub count: u64,
    /// Once, just before sending this index, end the stream with `UNAVAILABLE`.
    pub drop_at: Option<u64>,
    /// How far `GetState`'s token lags behind the saved last event (repeats to drop).
    pub resume_lag: u64,
    /// After the last event, keep the stream open (the pipeline keeps running) until the client leaves.
    pub hold_open: bool,
}

/// What the source saw, for the test to check.
#[derive(Default)]
pub struct SourceState {
    pub plan: SourcePlan,
    pub requests: Mutex<Vec<pb::StreamRequest>>,
    /// Every `SaveState`, in order (key, state).
    pub saved: Mutex<Vec<(String, HashMap<String, String>)>>,
    dropped: AtomicBool,
}

impl SourceState {
    fn token(&self, key: &str) -> Option<String> {
        let saved = self.saved.lock().unwrap();
        let (_, state) = saved.iter().rev().find(|(k, _)| k == key)?;
        let next = index_of(state.get("last_event_id")?) + 1;
        Some(next.saturating_sub(self.plan.resume_lag).to_string())
    }
}

pub struct SourceServer {
    pub addr: SocketAddr,
    pub state: Arc<SourceState>,
    runtime: Option<tokio::runtime::Runtime>,
}

impl SourceServer {
    pub fn start(plan: SourcePlan) -> Self {
        Self::start_on("127.0.0.1:0".parse().unwrap(), plan)
    }

    /// Serves on `addr` (e.g. a port a pipeline was told about before the source was up).
    pub fn start_on(addr: SocketAddr, plan: SourcePlan) -> Self {
        let runtime = server_runtime();
        let listener = bind(&runtime, addr);
        let addr = listener.local_addr().unwrap();
        let state = Arc::new(SourceState { plan, ..Default::default() });
        let service = SourceServiceServer::new(Service(state.clone()));
        runtime.spawn(
            tonic::transport::Server::builder()
                .add_service(service)
                .serve_with_incoming(TcpListenerStream::new(listener)),
        );
        Self { addr, state, runtime: Some(runtime) }
    }

    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }
}

impl Drop for SourceServer {
    fn drop(&mut self) {
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

struct Service(Arc<SourceState>);

#[tonic::async_trait]
impl SourceService for Service {
    async fn get_info(&self, _: Request<()>) -> Result<Response<pb::ComponentInfo>, Status> {
        Ok(Response::new(pb::ComponentInfo { id: "test-source".into(), ..Default::default() }))
    }

    async fn health_check(
        &self,
        _: Request<pb::HealthCheckRequest>,
    ) -> Result<Response<pb::HealthCheckResponse>, Status> {
        Ok(Response::new(pb::HealthCheckResponse { status: pb::HealthStatus::Healthy as i32, ..Default::default() }))
    }

    type StreamEventsStream = ReceiverStream<Result<pb::Event, Status>>;

    async fn stream_events(
        &self,
        request: Request<pb::StreamRequest>,
    ) -> Result<Response<Self::StreamEventsStream>, Status> {
        let request = request.into_inner();
        let start = match request.resume {
            true => request.resume_token.parse::<u64>().map_err(|_| Status::invalid_argument("bad resume_token"))?,
            false => 0,
        };
        self.0.requests.lock().unwrap().push(request);
        let (tx, rx) = tokio::sync::mpsc::channel(256);
        let state = self.0.clone();
        tokio::spawn(async move {
            for i in start..state.plan.count {
                if state.plan.drop_at == Some(i) && !state.dropped.swap(true, SeqCst) {
                    let _ = tx.send(Err(Status::unavailable("test source: stream dropped"))).await;
                    return;
                }
                if tx.send(Ok(event(i))).await.is_err() {
                    return;
                }
            }
            if state.plan.hold_open {
                tx.closed().await;
            }
        });
        Ok(Response::new(ReceiverStream::new(rx)))
    }

    async fn get_state(&self, request: Request<pb::StateRequest>) -> Result<Response<pb::StateResponse>, Status> {
        let key = request.into_inner().key;
        let state = self.0.saved.lock().unwrap().iter().rev().find(|(k, _)| *k == key).map(|(_, s)| s.clone());
        Ok(Response::new(pb::StateResponse {
            state: state.unwrap_or_default(),
            resume_token: self.0.token(&key).unwrap_or_default(),
            last_updated_unix: 0,
        }))
    }

    async fn save_state(&self, request: Request<pb::SaveStateRequest>) -> Result<Response<()>, Status> {
        let request = request.into_inner();
        self.0.saved.lock().unwrap().push((request.key, request.state));
        Ok(Response::new(()))
    }
}
