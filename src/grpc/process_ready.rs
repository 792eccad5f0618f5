//! When a started component counts as ready: its service's `HealthCheck`
//! answers HEALTHY (or DEGRADED: it serves, if not at its best); a component
//! that does not implement `HealthCheck` is ready once `GetInfo` answers.
//! Probed every 100 ms until `ready_timeout`, or until the process exits.

use std::process::ExitStatus;
use std::time::{Duration, Instant};

use tonic::Code;

use super::pb;
use super::pb::consumer_service_client::ConsumerServiceClient;
use super::pb::processor_service_client::ProcessorServiceClient;
use super::pb::source_service_client::SourceServiceClient;
use super::remote::{Remote, RemoteChannel};

const PROBE_INTERVAL: Duration = Duration::from_millis(100);
/// Longest one probe may take (a component that accepts but never answers).
const PROBE_TIMEOUT: Duration = Duration::from_secs(2);

/// Which `flowctl.v1` service a component serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ComponentKind {
    Source,
    Processor,
    Consumer,
}

#[derive(Debug, thiserror::Error)]
pub enum NotReady {
    #[error("the process exited ({0}) before it was healthy")]
    Exited(ExitStatus),
    #[error("not healthy within {timeout:?} (last probe: {last})")]
    Timeout { timeout: Duration, last: String },
}

/// Probes until the component is ready, `timeout` passed, or `exited` reports an exit.
pub async fn wait_ready(
    kind: ComponentKind,
    remote: &Remote,
    timeout: Duration,
    exited: impl Fn() -> Option<ExitStatus>,
) -> Result<(), NotReady> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(status) = exited() {
            return Err(NotReady::Exited(status));
        }
        let last = match tokio::time::timeout(PROBE_TIMEOUT, probe(kind, remote)).await {
            Ok(Ok(())) => return Ok(()),
            Ok(Err(why)) => why,
            Err(_) => format!("no answer within {PROBE_TIMEOUT:?}"),
        };
        if Instant::now() >= deadline {
            return Err(NotReady::Timeout { timeout, last });
        }
        tokio::time::sleep(PROBE_INTERVAL).await;
    }
}

async fn probe(kind: ComponentKind, remote: &Remote) -> Result<(), String> {
    let channel = remote.connect().await.map_err(|e| format!("cannot connect to {}: {e}", remote.uri()))?;
    let answer = health_check(kind, channel.clone()).await;
    match answer {
        Ok(response) => {
            let status = pb::HealthStatus::try_from(response.status).unwrap_or(pb::HealthStatus::Unknown);
            match status {
                pb::HealthStatus::Healthy | pb::HealthStatus::Degraded => Ok(()),
                other => Err(format!("HealthCheck answered {}", other.as_str_name())),
            }
        }
        Err(status) if status.code() == Code::Unimplemented => {
            get_info(kind, channel).await.map_err(|s| format!("GetInfo answered {:?}: {}", s.code(), s.message()))
        }
        Err(status) => Err(format!("HealthCheck answered {:?}: {}", status.code(), status.message())),
    }
}

async fn health_check(kind: ComponentKind, channel: RemoteChannel) -> Result<pb::HealthCheckResponse, tonic::Status> {
    let request = pb::HealthCheckRequest { include_details: false };
    let response = match kind {
        ComponentKind::Source => SourceServiceClient::new(channel).health_check(request).await,
        ComponentKind::Processor => ProcessorServiceClient::new(channel).health_check(request).await,
        ComponentKind::Consumer => ConsumerServiceClient::new(channel).health_check(request).await,
    };
    response.map(tonic::Response::into_inner)
}

async fn get_info(kind: ComponentKind, channel: RemoteChannel) -> Result<(), tonic::Status> {
    match kind {
        ComponentKind::Source => SourceServiceClient::new(channel).get_info(()).await.map(drop),
        ComponentKind::Processor => ProcessorServiceClient::new(channel).get_info(()).await.map(drop),
        ComponentKind::Consumer => ConsumerServiceClient::new(channel).get_info(()).await.map(drop),
    }
}
