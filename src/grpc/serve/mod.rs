//! `flowctl serve`: one WASM module as a standalone `flowctl.v1.ProcessorService`,
//! with the standard `grpc.health.v1` health service and server reflection
//! (v1 and v1alpha), so any gRPC client, `grpcurl` included, can use it.
//!
//! # Layout
//! - [`service`]: `GetInfo`, `HealthCheck`, `Process`.
//! - [`stream`]: one `Process` call: batching, pipelining, in-order outputs.
//! - [`pool`]: the worker threads that run the module, and the failed-event marking.
//! - [`metrics`]: the engine's metric names, recorded per batch by the workers.
//! - [`register`]: registration and heartbeats with a control plane (process-driver contract).
//!
//! The module is held by a [`ProcessorControl`] with one version, like a
//! pipeline's processor, so hot reload is the engine's own ([`crate::reload`]):
//! a replaced file is loaded off the request path and swapped in for the
//! batches read after it; batches already read finish on the old version.

pub mod metrics;
pub mod pool;
pub mod register;
pub mod service;
pub mod stream;

use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio_stream::wrappers::TcpListenerStream;

use crate::admin::{NewVersion, Policy, ProcessorControl};
use crate::grpc::pb;
use crate::grpc::pb::processor_service_server::ProcessorServiceServer;
use crate::reload::{ReloadTarget, Reloader};
use crate::runtime::{ProcessorSpec, Runtime, RuntimeError};

pub use pool::{ERROR_KEY, ERROR_KIND_KEY};
pub use service::{Identity, ModuleService};
pub use stream::Batching;

use pool::{WorkerContext, WorkerPool};

/// HTTP/2 flow-control windows: large enough that a streaming client is not
/// throttled by round trips on loopback or a LAN (the defaults are 64 KiB).
const STREAM_WINDOW: u32 = 4 * 1024 * 1024;
const CONNECTION_WINDOW: u32 = 8 * 1024 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("cannot load {path}: {source}")]
    Load { path: PathBuf, source: RuntimeError },
    #[error("cannot start the worker threads: {0}")]
    Workers(std::io::Error),
    #[error("cannot listen: {0}")]
    Listen(std::io::Error),
    #[error("cannot build the reflection service: {0}")]
    Reflection(#[from] tonic_reflection::server::Error),
    #[error("internal error: {0}")]
    Internal(&'static str),
    #[error("gRPC server failed: {0}")]
    Transport(#[from] tonic::transport::Error),
}

/// What `flowctl serve` was asked to do.
#[derive(Debug, Clone)]
pub struct ServeSettings {
    pub module: PathBuf,
    /// Name, config, limits and permissions (from the module flags).
    pub spec: ProcessorSpec,
    /// `GetInfo`'s id; defaults to the spec's name.
    pub component_id: Option<String>,
    /// Worker threads, each with its own instance.
    pub pool: usize,
    pub batching: Batching,
    pub hot_reload: bool,
    /// How long open streams may take to finish after the shutdown signal.
    pub grace: Duration,
    /// Register with this control plane (`ENABLE_FLOWCTL=true`).
    pub control_plane: Option<register::ControlPlane>,
}

/// A loaded module with its workers and reload watch, ready to serve.
pub struct Prepared {
    settings: ServeSettings,
    control: Arc<ProcessorControl>,
    pool: Arc<WorkerPool>,
    _reloader: Option<Reloader>,
}

impl Prepared {
    /// Loads the module (compile, ABI check, `init` with its config), starts the
    /// worker threads and the file watch. Blocking: call it off any async executor.
    pub fn load(runtime: &Runtime, settings: ServeSettings) -> Result<Prepared, ServeError> {
        let path = settings.module.clone();
        let module = runtime.load_file(&path, settings.spec.clone()).map_err(|source| {
            if let RuntimeError::Signature { version, reason } = &source {
                crate::signing::audit_refused(&settings.spec.name, version, &path, reason);
            }
            ServeError::Load { path, source }
        })?;
        if let Some(key_id) = module.signed_by() {
            crate::signing::audit_accepted(&settings.spec.name, module.version(), &settings.module, key_id);
        }
        let name = settings.spec.name.clone();
        let policy = Policy { route_by: "id".into(), pool_size: settings.pool, rollback: None, breaker: None };
        let version = NewVersion { module, file: settings.module.clone(), weight: 100 };
        let control = ProcessorControl::new(&name, policy, vec![version])
            .ok_or(ServeError::Internal("a processor control without a version"))?;
        let context = WorkerContext {
            processor: name.as_str().into(),
            source_component_id: settings.component_id.as_deref().unwrap_or(&name).into(),
        };
        let pool = Arc::new(WorkerPool::start(settings.pool, &context).map_err(ServeError::Workers)?);
        let reloader = match settings.hot_reload {
            true => {
                let target = ReloadTarget {
                    control: control.clone(),
                    index: 0,
                    file: settings.module.clone(),
                    spec: settings.spec.clone(),
                };
                Reloader::start(runtime.clone(), vec![target], crate::reload::DEBOUNCE)
                    .inspect_err(|e| tracing::warn!("hot reload is off: {e}"))
                    .ok()
            }
            false => None,
        };
        Ok(Prepared { settings, control, pool, _reloader: reloader })
    }

    /// The version new batches run on now.
    pub fn version(&self) -> String {
        pool::current_module(&self.control.shared().load()).map(|m| m.version().to_owned()).unwrap_or_default()
    }
}

/// How serving ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ending {
    /// Every open stream finished within the grace period.
    Drained,
    /// The grace period ran out with streams still open; they were cut.
    GraceExpired,
}

/// Serves on `listener` until `shutdown` resolves, then stops accepting,
/// lets open streams finish (up to the grace period) and returns. Must run
/// on a multi-threaded tokio runtime (see [`crate::grpc::io`]).
pub async fn serve(
    prepared: Prepared,
    listener: std::net::TcpListener,
    shutdown: impl Future<Output = ()>,
) -> Result<Ending, ServeError> {
    listener.set_nonblocking(true).map_err(ServeError::Listen)?;
    let endpoint = listener.local_addr().map_err(ServeError::Listen)?;
    let listener = tokio::net::TcpListener::from_std(listener).map_err(ServeError::Listen)?;
    let settings = &prepared.settings;
    let identity = Identity {
        id: settings.component_id.clone().unwrap_or_else(|| settings.spec.name.clone()),
        name: settings.spec.name.clone(),
        endpoint: endpoint.to_string(),
    };
    let service = ModuleService::new(identity, prepared.pool.clone(), prepared.control.shared(), settings.batching);
    let registration = settings.control_plane.clone().and_then(|plane| {
        let status = service.clone();
        register::Registration::start(plane, service.info(), move || status.status_metrics())
    });
    let (health, health_service) = tonic_health::server::health_reporter();
    health.set_serving::<ProcessorServiceServer<ModuleService>>().await;
    let reflection = || {
        tonic_reflection::server::Builder::configure()
            .register_encoded_file_descriptor_set(pb::FILE_DESCRIPTOR_SET)
            .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
            .with_service_name(PROCESSOR_SERVICE)
            .with_service_name(HEALTH_SERVICE)
            .with_service_name("grpc.reflection.v1.ServerReflection")
            .with_service_name("grpc.reflection.v1alpha.ServerReflection")
    };
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tonic::transport::Server::builder()
        .initial_stream_window_size(STREAM_WINDOW)
        .initial_connection_window_size(CONNECTION_WINDOW)
        .add_service(ProcessorServiceServer::new(service))
        .add_service(health_service)
        .add_service(reflection().build_v1()?)
        .add_service(reflection().build_v1alpha()?)
        .serve_with_incoming_shutdown(TcpListenerStream::new(listener), async {
            let _ = stopped.await;
        });
    tracing::info!(
        processor = %settings.spec.name,
        version = %prepared.version(),
        %endpoint,
        "serving {PROCESSOR_SERVICE}, grpc.health.v1 and reflection"
    );
    tokio::pin!(server);
    let ending = tokio::select! {
        result = &mut server => result.map(|()| Ending::Drained).map_err(ServeError::from),
        () = shutdown => {
            tracing::info!(grace = ?settings.grace, "shutting down: no new streams; open streams may finish");
            health.set_service_status("", tonic_health::ServingStatus::NotServing).await;
            health.set_not_serving::<ProcessorServiceServer<ModuleService>>().await;
            let _ = stop.send(());
            match tokio::time::timeout(settings.grace, &mut server).await {
                Ok(result) => result.map(|()| Ending::Drained).map_err(ServeError::from),
                Err(_) => {
                    tracing::warn!(grace = ?settings.grace, "grace period over with streams still open: cutting them");
                    Ok(Ending::GraceExpired)
                }
            }
        }
    };
    if let Some(registration) = registration {
        registration.stop().await;
    }
    ending
}

/// The full names clients (and `grpcurl`) use.
pub const PROCESSOR_SERVICE: &str = "flowctl.v1.ProcessorService";
pub const HEALTH_SERVICE: &str = "grpc.health.v1.Health";
