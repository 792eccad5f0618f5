//! A `flowctl.v1.ConsumerService` test server that records what it got. It
//! can reject chosen events (`"<id>: reason"` in `ConsumeResponse.errors`)
//! and can ask to be killed in the middle of a stream: it then stops reading
//! and signals, and the test shuts its runtime down (connections and all),
//! as if the process died, and may start it again on the same port.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::SeqCst};
use std::sync::{mpsc, Arc, Mutex};

use flowctl::grpc::pb::{
    self, consumer_service_server::ConsumerService, consumer_service_server::ConsumerServiceServer,
};
use tokio_stream::wrappers::TcpListenerStream;
use tonic::{Request, Response, Status, Streaming};

use super::{bind, index_of, server_runtime, PATIENCE};

/// The reason given for every rejected event.
pub const REJECT_REASON: &str = "rejected by the test consumer";
/// An error line naming no event, sent along with rejections.
pub const UNNAMED_ERROR: &str = "one more failure the test consumer cannot name";

#[derive(Debug, Clone, Copy, Default)]
pub struct ConsumerPlan {
    /// Events (by index) to report failed, each named with [`REJECT_REASON`];
    /// a stream with any also reports one failure it does not name.
    pub reject: Option<fn(u64) -> bool>,
    /// Once this many events were received in all, and at least 100 on the
    /// current stream, stop reading and signal [`ConsumerServer::wait_kill_request`].
    pub kill_after: Option<u64>,
}

#[derive(Default)]
pub struct ConsumerState {
    pub plan: ConsumerPlan,
    /// Every event received, in arrival order, across restarts.
    pub received: Mutex<Vec<pb::Event>>,
    pub streams: AtomicU64,
    kill_requested: AtomicBool,
    kill_signal: Mutex<Option<mpsc::Sender<()>>>,
}

impl ConsumerState {
    pub fn count(&self) -> usize {
        self.received.lock().unwrap().len()
    }

    /// Distinct ids received.
    pub fn distinct(&self) -> usize {
        let received = self.received.lock().unwrap();
        received.iter().map(|e| e.id.as_str()).collect::<std::collections::HashSet<_>>().len()
    }
}

pub struct ConsumerServer {
    pub addr: SocketAddr,
    pub state: Arc<ConsumerState>,
    runtime: Option<tokio::runtime::Runtime>,
    kill_requests: mpsc::Receiver<()>,
}

impl ConsumerServer {
    pub fn start(plan: ConsumerPlan) -> Self {
        Self::start_on("127.0.0.1:0".parse().unwrap(), plan)
    }

    /// Serves on `addr` (e.g. a port a pipeline was told about before the consumer was up).
    pub fn start_on(addr: SocketAddr, plan: ConsumerPlan) -> Self {
        let (tx, kill_requests) = mpsc::channel();
        let state = Arc::new(ConsumerState { plan, kill_signal: Mutex::new(Some(tx)), ..Default::default() });
        let mut server = Self { addr, state, runtime: None, kill_requests };
        server.serve();
        server
    }

    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    fn serve(&mut self) {
        let runtime = server_runtime();
        let listener = bind(&runtime, self.addr);
        self.addr = listener.local_addr().unwrap();
        let service = ConsumerServiceServer::new(Service(self.state.clone()));
        runtime.spawn(
            tonic::transport::Server::builder()
                .add_service(service)
                .serve_with_incoming(TcpListenerStream::new(listener)),
        );
        self.runtime = Some(runtime);
    }

    /// Blocks until the consumer asks to be killed (see [`ConsumerPlan::kill_after`]).
    pub fn wait_kill_request(&self) {
        self.kill_requests.recv_timeout(PATIENCE).expect("the consumer never reached its kill point");
    }

    /// Kills the server: its runtime stops, every connection is dropped mid-stream.
    pub fn kill(&mut self) {
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }

    /// Serves again on the same port, keeping what was received.
    pub fn restart(&mut self) {
        self.kill();
        self.serve();
    }
}

impl Drop for ConsumerServer {
    fn drop(&mut self) {
        self.kill();
    }
}

struct Service(Arc<ConsumerState>);

#[tonic::async_trait]
impl ConsumerService for Service {
    async fn get_info(&self, _: Request<()>) -> Result<Response<pb::ComponentInfo>, Status> {
        Ok(Response::new(pb::ComponentInfo { id: "test-consumer".into(), ..Default::default() }))
    }

    async fn health_check(
        &self,
        _: Request<pb::HealthCheckRequest>,
    ) -> Result<Response<pb::HealthCheckResponse>, Status> {
        Ok(Response::new(pb::HealthCheckResponse { status: pb::HealthStatus::Healthy as i32, ..Default::default() }))
    }

    async fn consume(&self, request: Request<Streaming<pb::Event>>) -> Result<Response<pb::ConsumeResponse>, Status> {
        let state = &self.0;
        state.streams.fetch_add(1, SeqCst);
        let mut stream = request.into_inner();
        let (mut on_stream, mut errors) = (0i64, Vec::new());
        while let Some(event) = stream.message().await? {
            on_stream += 1;
            if state.plan.reject.is_some_and(|reject| reject(index_of(&event.id))) {
                errors.push(format!("{}: {REJECT_REASON}", event.id));
            }
            let total = {
                let mut received = state.received.lock().unwrap();
                received.push(event);
                received.len() as u64
            };
            let kill_point = state.plan.kill_after.is_some_and(|after| total >= after) && on_stream >= 100;
            if kill_point && !state.kill_requested.swap(true, SeqCst) {
                if let Some(signal) = state.kill_signal.lock().unwrap().take() {
                    let _ = signal.send(());
                }
                // Never answer: the test kills this server with the stream open.
                std::future::pending::<()>().await;
            }
        }
        let named = errors.len() as i64;
        let failed = match named {
            0 => 0,
            _ => {
                errors.push(UNNAMED_ERROR.to_owned());
                named + 1
            }
        };
        Ok(Response::new(pb::ConsumeResponse { events_consumed: on_stream - named, events_failed: failed, errors }))
    }
}
