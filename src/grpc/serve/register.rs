//! Registration with a flowctl control plane, for a `flowctl serve` that
//! flowctl's process driver started (`ENABLE_FLOWCTL=true`,
//! `FLOWCTL_ENDPOINT`, `FLOWCTL_COMPONENT_ID`): `RegisterComponent`, then a
//! `Heartbeat` every interval, `UnregisterComponent` on shutdown. Best effort
//! throughout: an unreachable control plane is retried every interval and
//! never stops the serving; one that forgot the component (`NOT_FOUND`) gets
//! it registered again.

use std::collections::HashMap;
use std::time::Duration;

use tokio::sync::oneshot;
use tonic::transport::Channel;
use tonic::Code;

use crate::grpc::pb;
use crate::grpc::pb::control_plane_service_client::ControlPlaneServiceClient;

/// Default time between heartbeats.
pub const HEARTBEAT_EVERY: Duration = Duration::from_secs(5);
/// Longest wait for one control-plane call, so shutdown is never held up.
const CALL_TIMEOUT: Duration = Duration::from_secs(2);

/// Where to register and how often to say so.
#[derive(Debug, Clone)]
pub struct ControlPlane {
    /// `FLOWCTL_ENDPOINT`: `host:port` or a URI.
    pub endpoint: String,
    /// `FLOWCTL_COMPONENT_ID`: the id the driver knows the component by.
    pub component_id: String,
    pub heartbeat: Duration,
}

/// The running registration; [`Registration::stop`] unregisters.
pub struct Registration {
    stop: oneshot::Sender<()>,
    task: tokio::task::JoinHandle<()>,
}

impl Registration {
    /// Starts registering on the current tokio runtime. `status` is called
    /// before each heartbeat for the metrics it carries. `None` (logged) when
    /// the endpoint is not a URI: serving goes on unregistered.
    pub fn start(
        plane: ControlPlane,
        info: pb::ComponentInfo,
        status: impl Fn() -> HashMap<String, String> + Send + 'static,
    ) -> Option<Registration> {
        let uri = match plane.endpoint.contains("://") {
            true => plane.endpoint.clone(),
            false => format!("http://{}", plane.endpoint),
        };
        let endpoint = Channel::from_shared(uri)
            .inspect_err(|e| tracing::warn!(endpoint = %plane.endpoint, "FLOWCTL_ENDPOINT is not a gRPC endpoint, not registering: {e}"))
            .ok()?;
        let channel = endpoint.connect_timeout(CALL_TIMEOUT).timeout(CALL_TIMEOUT).connect_lazy();
        let (stop, stopped) = oneshot::channel();
        let client = ControlPlaneServiceClient::new(channel);
        let task = tokio::spawn(keep_registered(client, plane, info, status, stopped));
        Some(Registration { stop, task })
    }

    /// Stops the heartbeats and unregisters (waits at most a few seconds).
    pub async fn stop(self) {
        let _ = self.stop.send(());
        let _ = tokio::time::timeout(CALL_TIMEOUT * 2, self.task).await;
    }
}

async fn keep_registered(
    mut client: ControlPlaneServiceClient<Channel>,
    plane: ControlPlane,
    info: pb::ComponentInfo,
    status: impl Fn() -> HashMap<String, String>,
    mut stopped: oneshot::Receiver<()>,
) {
    let mut service_id: Option<String> = None;
    // Logged once per outage, not once per attempt.
    let mut failing = false;
    loop {
        let result = match &service_id {
            None => {
                let request =
                    pb::RegisterRequest { component: Some(info.clone()), component_id: plane.component_id.clone() };
                client.register_component(request).await.map(|r| {
                    let id = r.into_inner().service_id;
                    tracing::info!(endpoint = %plane.endpoint, service_id = %id, "registered with the control plane");
                    service_id = Some(id);
                })
            }
            Some(id) => {
                let request = pb::HeartbeatRequest {
                    service_id: id.clone(),
                    status: pb::HealthStatus::Healthy as i32,
                    metrics: status(),
                };
                client.heartbeat(request).await.map(|_| ())
            }
        };
        match result {
            Ok(()) => failing = false,
            Err(status) if status.code() == Code::NotFound => {
                tracing::info!(endpoint = %plane.endpoint, "the control plane forgot this component: registering again");
                service_id = None;
                continue;
            }
            Err(status) => {
                if !failing {
                    tracing::warn!(endpoint = %plane.endpoint, code = ?status.code(), "control plane unreachable, still serving; retrying every {:?}: {}", plane.heartbeat, status.message());
                }
                failing = true;
            }
        }
        tokio::select! {
            _ = &mut stopped => break,
            () = tokio::time::sleep(plane.heartbeat) => {}
        }
    }
    if let Some(service_id) = service_id {
        let request = pb::UnregisterRequest { service_id };
        if let Err(status) = client.unregister_component(request).await {
            tracing::debug!(endpoint = %plane.endpoint, "could not unregister: {}", status.message());
        }
    }
}
