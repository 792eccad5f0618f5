//! `flowctl.v1.ProcessorService` for one served module: `Process` runs the
//! module (see [`super::stream`]), `GetInfo` and `HealthCheck` describe it.

use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, Ordering::Relaxed};
use std::sync::Arc;

use tonic::{Request, Response, Status, Streaming};

use super::pool::{current_module, WorkerPool};
use super::stream::{self, Batching, Outputs};
use crate::actors::SharedVersions;
use crate::grpc::pb;

/// What `GetInfo` reports besides the running version.
#[derive(Debug, Clone)]
pub struct Identity {
    /// Component id (`FLOWCTL_COMPONENT_ID` when a process driver set one, else the name).
    pub id: String,
    /// The module file's stem (or `--name`).
    pub name: String,
    /// The address the service listens on.
    pub endpoint: String,
}

/// The service; cheap to clone.
#[derive(Clone)]
pub struct ModuleService {
    inner: Arc<Inner>,
}

struct Inner {
    identity: Identity,
    pool: Arc<WorkerPool>,
    versions: SharedVersions,
    batching: Batching,
    /// `Process` calls open now (reported by `HealthCheck`).
    open_streams: Arc<AtomicI64>,
}

impl ModuleService {
    pub fn new(identity: Identity, pool: Arc<WorkerPool>, versions: SharedVersions, batching: Batching) -> Self {
        let inner = Inner { identity, pool, versions, batching, open_streams: Arc::default() };
        Self { inner: Arc::new(inner) }
    }

    /// The version batches read from now on run.
    fn version(&self) -> String {
        current_module(&self.inner.versions.load()).map(|m| m.version().to_owned()).unwrap_or_default()
    }

    /// What `GetInfo` answers (and what registration with a control plane sends).
    pub fn info(&self) -> pb::ComponentInfo {
        let identity = &self.inner.identity;
        let mut metadata = HashMap::new();
        if let Some(module) = current_module(&self.inner.versions.load()) {
            metadata.insert("sha256".to_owned(), module.sha256().to_owned());
        }
        metadata.insert("runtime".to_owned(), format!("flowctl {}", env!("CARGO_PKG_VERSION")));
        pb::ComponentInfo {
            id: identity.id.clone(),
            name: identity.name.clone(),
            description: format!("WASM module {} served by flowctl", identity.name),
            version: self.version(),
            r#type: pb::ComponentType::Processor as i32,
            input_event_types: Vec::new(),
            output_event_types: Vec::new(),
            endpoint: identity.endpoint.clone(),
            metadata,
        }
    }

    /// Open streams and the running version (`HealthCheck` details, heartbeats).
    pub fn status_metrics(&self) -> HashMap<String, String> {
        HashMap::from([
            ("open_streams".to_owned(), self.inner.open_streams.load(Relaxed).to_string()),
            ("module_version".to_owned(), self.version()),
        ])
    }
}

#[tonic::async_trait]
impl pb::processor_service_server::ProcessorService for ModuleService {
    async fn get_info(&self, _: Request<()>) -> Result<Response<pb::ComponentInfo>, Status> {
        Ok(Response::new(self.info()))
    }

    async fn health_check(
        &self,
        request: Request<pb::HealthCheckRequest>,
    ) -> Result<Response<pb::HealthCheckResponse>, Status> {
        // Serving at all means the module loaded and passed `init`: a module
        // that cannot load stops `flowctl serve` before it listens.
        let version = self.version();
        let mut metrics = HashMap::new();
        let mut components = Vec::new();
        if request.get_ref().include_details {
            metrics = self.status_metrics();
            components.push(pb::ComponentHealth {
                component_name: self.inner.identity.name.clone(),
                status: pb::HealthStatus::Healthy as i32,
                message: format!("module version {version} loaded"),
            });
        }
        Ok(Response::new(pb::HealthCheckResponse {
            status: pb::HealthStatus::Healthy as i32,
            metrics,
            components,
            message: format!("serving {} version {version}", self.inner.identity.name),
        }))
    }

    type ProcessStream = Counted;

    async fn process(&self, request: Request<Streaming<pb::Event>>) -> Result<Response<Self::ProcessStream>, Status> {
        let inner = &self.inner;
        let outputs = stream::start(request.into_inner(), inner.pool.clone(), inner.versions.clone(), inner.batching);
        inner.open_streams.fetch_add(1, Relaxed);
        Ok(Response::new(Counted { outputs, open: inner.open_streams.clone() }))
    }
}

/// [`Outputs`] that counts itself among the open streams while it lives.
pub struct Counted {
    outputs: Outputs,
    open: Arc<AtomicI64>,
}

impl tokio_stream::Stream for Counted {
    type Item = <Outputs as tokio_stream::Stream>::Item;

    fn poll_next(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Self::Item>> {
        std::pin::Pin::new(&mut self.get_mut().outputs).poll_next(cx)
    }
}

impl Drop for Counted {
    fn drop(&mut self) {
        self.open.fetch_sub(1, Relaxed);
    }
}
