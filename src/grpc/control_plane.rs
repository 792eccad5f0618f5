//! `flowctl.v1.ControlPlaneService`, served by `flowctl run`: components
//! started with `ENABLE_FLOWCTL=true` register here (`FLOWCTL_ENDPOINT`) and
//! send heartbeats. The registry lives in memory for the run; a component
//! that registers again under the same component id (after a restart)
//! replaces its earlier registration. Registrations and status changes are
//! logged, and counted in `flowctl_control_plane_components{status}`. A
//! component whose heartbeats stop for [`STALE_AFTER`] is marked UNKNOWN
//! (and logged) until it beats again.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tonic::{Request, Response, Status};

use super::pb;
use super::pb::control_plane_service_server::{ControlPlaneService, ControlPlaneServiceServer};
use crate::telemetry::names;

/// Every status a component may report, with its metric label.
const STATUSES: [(pb::HealthStatus, &str); 6] = [
    (pb::HealthStatus::Unknown, "unknown"),
    (pb::HealthStatus::Starting, "starting"),
    (pb::HealthStatus::Healthy, "healthy"),
    (pb::HealthStatus::Degraded, "degraded"),
    (pb::HealthStatus::Unhealthy, "unhealthy"),
    (pb::HealthStatus::Stopping, "stopping"),
];

/// Silence after which a registered component is reported UNKNOWN: several
/// missed heartbeats at the usual 1-10 s intervals.
pub const STALE_AFTER: Duration = Duration::from_secs(30);
/// How often the registry looks for silent components.
const SWEEP_EVERY: Duration = Duration::from_secs(5);

/// One registration.
struct Entry {
    /// Who registered (`RegisterRequest.component_id`, else the component's own id).
    component_id: String,
    status: pb::ComponentStatus,
}

/// The components registered in this run, by service id.
#[derive(Default)]
pub struct Registry {
    entries: Mutex<BTreeMap<String, Entry>>,
    /// Numbers service ids, so a re-registration gets a new one.
    registrations: AtomicU64,
}

impl Registry {
    fn lock(&self) -> MutexGuard<'_, BTreeMap<String, Entry>> {
        // A panic while holding the lock leaves a consistent map: every change is one insert or remove.
        self.entries.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Every registration, in service-id order.
    pub fn list(&self) -> Vec<pb::ComponentStatus> {
        self.lock().values().map(|e| e.status.clone()).collect()
    }

    fn register(&self, request: pb::RegisterRequest) -> Result<pb::RegisterResponse, Status> {
        let component = request.component.unwrap_or_default();
        let component_id =
            if request.component_id.is_empty() { component.id.clone() } else { request.component_id.clone() };
        if component_id.is_empty() {
            return Err(Status::invalid_argument("needs component_id (or component.id)"));
        }
        let n = self.registrations.fetch_add(1, Relaxed) + 1;
        let service_id = format!("{component_id}-{n}");
        let now = super::mapping::from_millis(crate::event::Event::now_millis());
        let endpoint = component.endpoint.clone();
        let status = pb::ComponentStatus {
            service_id: service_id.clone(),
            component: Some(component),
            status: pb::HealthStatus::Healthy as i32,
            registered_at: Some(now),
            last_heartbeat: Some(now),
            metrics: Default::default(),
        };
        let mut entries = self.lock();
        let replaced: Vec<String> =
            entries.iter().filter(|(_, e)| e.component_id == component_id).map(|(id, _)| id.clone()).collect();
        for old in &replaced {
            entries.remove(old);
        }
        entries.insert(service_id.clone(), Entry { component_id: component_id.clone(), status });
        count(&entries);
        drop(entries);
        tracing::info!(component = %component_id, service_id, endpoint, replaced = ?replaced, registration = n, "component registered");
        Ok(pb::RegisterResponse { service_id, assigned_topics: Vec::new(), connection_info: Default::default() })
    }

    fn heartbeat(&self, request: pb::HeartbeatRequest) -> Result<(), Status> {
        let mut entries = self.lock();
        let Some(entry) = entries.get_mut(&request.service_id) else {
            // Not found tells a component that outlived a flowctl restart to register again.
            return Err(Status::not_found(format!("no component registered as {:?}", request.service_id)));
        };
        let before = entry.status.status;
        entry.status.status = request.status;
        entry.status.metrics = request.metrics;
        entry.status.last_heartbeat = Some(super::mapping::from_millis(crate::event::Event::now_millis()));
        let component = entry.component_id.clone();
        if before != request.status {
            count(&entries);
            drop(entries);
            let status = label(request.status);
            tracing::info!(component = %component, service_id = %request.service_id, status, "component status changed");
        } else {
            tracing::trace!(component = %component, service_id = %request.service_id, "heartbeat");
        }
        Ok(())
    }

    fn unregister(&self, service_id: &str) -> Result<(), Status> {
        let mut entries = self.lock();
        let Some(entry) = entries.remove(service_id) else {
            return Err(Status::not_found(format!("no component registered as {service_id:?}")));
        };
        count(&entries);
        drop(entries);
        tracing::info!(component = %entry.component_id, service_id, "component unregistered");
        Ok(())
    }

    fn status(&self, service_id: &str) -> Result<pb::ComponentStatus, Status> {
        let entries = self.lock();
        let entry = entries.get(service_id).ok_or_else(|| Status::not_found(format!("no component {service_id:?}")))?;
        Ok(entry.status.clone())
    }

    /// Marks UNKNOWN every component whose last heartbeat is older than
    /// `stale_after` at `now_ms`; returns their service ids.
    fn sweep(&self, now_ms: i64, stale_after: Duration) -> Vec<String> {
        let mut entries = self.lock();
        let limit = now_ms - stale_after.as_millis() as i64;
        let mut marked = Vec::new();
        for (service_id, entry) in entries.iter_mut() {
            let last = entry.status.last_heartbeat.as_ref().map_or(0, super::mapping::to_millis);
            let quiet = entry.status.status != pb::HealthStatus::Unknown as i32;
            if quiet && last < limit {
                entry.status.status = pb::HealthStatus::Unknown as i32;
                tracing::warn!(component = %entry.component_id, service_id, silent_ms = now_ms - last,
                    "component missed its heartbeats: status unknown until it beats again");
                marked.push(service_id.clone());
            }
        }
        if !marked.is_empty() {
            count(&entries);
        }
        marked
    }

    /// Registrations of `kind` (UNSPECIFIED: any) that take or make `event_type` (empty: any).
    fn find(&self, kind: i32, event_type: &str) -> pb::ListComponentsResponse {
        let matches = |c: &pb::ComponentStatus| {
            let info = c.component.as_ref();
            let kind_ok = kind == pb::ComponentType::Unspecified as i32 || info.is_some_and(|i| i.r#type == kind);
            let type_ok = event_type.is_empty()
                || info
                    .is_some_and(|i| i.input_event_types.iter().chain(&i.output_event_types).any(|t| t == event_type));
            kind_ok && type_ok
        };
        pb::ListComponentsResponse { components: self.list().into_iter().filter(matches).collect() }
    }
}

/// The status's metric label (an unknown number counts as `unknown`).
fn label(status: i32) -> &'static str {
    STATUSES.iter().find(|(s, _)| *s as i32 == status).map_or("unknown", |(_, l)| l)
}

/// Sets `flowctl_control_plane_components` for every status (rare: on changes only).
fn count(entries: &BTreeMap<String, Entry>) {
    for (status, name) in STATUSES {
        let n = entries.values().filter(|e| e.status.status == status as i32).count();
        metrics::gauge!(names::CONTROL_PLANE_COMPONENTS, "status" => name).set(n as f64);
    }
}

/// The gRPC face of a [`Registry`].
#[derive(Clone)]
struct Service(Arc<Registry>);

#[tonic::async_trait]
impl ControlPlaneService for Service {
    async fn register_component(
        &self,
        request: Request<pb::RegisterRequest>,
    ) -> Result<Response<pb::RegisterResponse>, Status> {
        self.0.register(request.into_inner()).map(Response::new)
    }

    async fn unregister_component(&self, request: Request<pb::UnregisterRequest>) -> Result<Response<()>, Status> {
        self.0.unregister(&request.into_inner().service_id).map(Response::new)
    }

    async fn heartbeat(&self, request: Request<pb::HeartbeatRequest>) -> Result<Response<()>, Status> {
        self.0.heartbeat(request.into_inner()).map(Response::new)
    }

    async fn discover_components(
        &self,
        request: Request<pb::DiscoverRequest>,
    ) -> Result<Response<pb::ListComponentsResponse>, Status> {
        let request = request.into_inner();
        Ok(Response::new(self.0.find(request.r#type, &request.event_type)))
    }

    async fn get_component_status(
        &self,
        request: Request<pb::ComponentStatusRequest>,
    ) -> Result<Response<pb::ComponentStatus>, Status> {
        self.0.status(&request.into_inner().service_id).map(Response::new)
    }

    async fn list_components(
        &self,
        request: Request<pb::ListComponentsRequest>,
    ) -> Result<Response<pb::ListComponentsResponse>, Status> {
        Ok(Response::new(self.0.find(request.into_inner().r#type, "")))
    }
}

/// The running service; stops serving when dropped.
pub struct ControlPlane {
    pub addr: SocketAddr,
    pub registry: Arc<Registry>,
    _stop: tokio::sync::oneshot::Sender<()>,
}

impl ControlPlane {
    /// Binds `addr` now (a taken port fails here, by address) and serves on the gRPC runtime.
    pub fn start(addr: SocketAddr) -> std::io::Result<ControlPlane> {
        let listener = std::net::TcpListener::bind(addr)?;
        listener.set_nonblocking(true)?;
        let addr = listener.local_addr()?;
        let listener = {
            let _on_grpc_runtime = super::io::runtime().enter();
            tokio::net::TcpListener::from_std(listener)?
        };
        let registry = Arc::new(Registry::default());
        count(&BTreeMap::new());
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let server = tonic::transport::Server::builder()
            .add_service(ControlPlaneServiceServer::new(Service(registry.clone())))
            .serve_with_incoming_shutdown(tokio_stream::wrappers::TcpListenerStream::new(listener), async {
                let _ = stopped.await;
            });
        let sweeping = Arc::downgrade(&registry);
        super::io::handle().spawn(async move {
            let sweep = async move {
                let mut every = tokio::time::interval(SWEEP_EVERY);
                // Ends with the control plane (the registry is dropped with it).
                while let Some(registry) = {
                    every.tick().await;
                    sweeping.upgrade()
                } {
                    registry.sweep(crate::event::Event::now_millis(), STALE_AFTER);
                }
            };
            tokio::select! {
                result = server => if let Err(e) = result {
                    tracing::error!("control plane stopped: {e}");
                },
                () = sweep => {}
            }
        });
        tracing::info!(local_addr = %addr, "serving flowctl.v1.ControlPlaneService");
        Ok(ControlPlane { addr, registry, _stop: stop })
    }

    /// What components get as `FLOWCTL_ENDPOINT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn register(registry: &Registry, id: &str, kind: pb::ComponentType, types: &[&str]) -> String {
        let component = pb::ComponentInfo {
            id: id.into(),
            r#type: kind as i32,
            output_event_types: types.iter().map(|t| (*t).to_owned()).collect(),
            ..Default::default()
        };
        let request = pb::RegisterRequest { component: Some(component), component_id: id.into() };
        registry.register(request).unwrap().service_id
    }

    #[test]
    fn registers_replaces_heartbeats_finds_and_unregisters() {
        let registry = Registry::default();
        let first = register(&registry, "p", pb::ComponentType::Processor, &["a.v1"]);
        register(&registry, "s", pb::ComponentType::Source, &["b.v1"]);
        let again = register(&registry, "p", pb::ComponentType::Processor, &["a.v1"]);
        assert_ne!(first, again, "a new registration gets a new service id");
        assert_eq!(registry.list().len(), 2, "the restarted component replaced its old registration");

        let beat = |id: &str, status| pb::HeartbeatRequest {
            service_id: id.into(),
            status: status as i32,
            metrics: [("events".to_owned(), "7".to_owned())].into(),
        };
        assert_eq!(
            registry.heartbeat(beat(&first, pb::HealthStatus::Healthy)).unwrap_err().code(),
            tonic::Code::NotFound
        );
        registry.heartbeat(beat(&again, pb::HealthStatus::Degraded)).unwrap();
        let status = registry.status(&again).unwrap();
        assert_eq!(status.status, pb::HealthStatus::Degraded as i32);
        assert_eq!(status.metrics["events"], "7");

        let processors = registry.find(pb::ComponentType::Processor as i32, "");
        assert_eq!(processors.components.len(), 1);
        assert_eq!(registry.find(pb::ComponentType::Unspecified as i32, "b.v1").components.len(), 1);
        assert!(registry.find(pb::ComponentType::Consumer as i32, "").components.is_empty());

        registry.unregister(&again).unwrap();
        assert_eq!(registry.list().len(), 1);
        assert!(registry.unregister(&again).is_err());
        let empty = pb::RegisterRequest::default();
        assert_eq!(registry.register(empty).unwrap_err().code(), tonic::Code::InvalidArgument);
    }

    #[test]
    fn a_silent_component_is_unknown_until_it_beats_again() {
        let registry = Registry::default();
        let id = register(&registry, "p", pb::ComponentType::Processor, &[]);
        let now = crate::event::Event::now_millis();
        assert!(registry.sweep(now, STALE_AFTER).is_empty(), "just registered: not stale");
        let later = now + STALE_AFTER.as_millis() as i64 + 1;
        assert_eq!(registry.sweep(later, STALE_AFTER), vec![id.clone()]);
        assert_eq!(registry.status(&id).unwrap().status, pb::HealthStatus::Unknown as i32);
        assert!(registry.sweep(later, STALE_AFTER).is_empty(), "marked once");
        let beat = pb::HeartbeatRequest {
            service_id: id.clone(),
            status: pb::HealthStatus::Healthy as i32,
            ..Default::default()
        };
        registry.heartbeat(beat).unwrap();
        assert_eq!(registry.status(&id).unwrap().status, pb::HealthStatus::Healthy as i32);
    }
}
