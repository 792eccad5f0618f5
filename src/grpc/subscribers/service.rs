//! `flowctl.v1.SourceService` as a `grpc_server` sink serves it: `StreamEvents`
//! goes to the subscribers' pre-encoded streams ([`super::stream`]), the other
//! methods to [`Api`] through the generated server.

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use tonic::body::Body;
use tonic::codegen::{http, BoxFuture, Service};
use tonic::server::NamedService;
use tonic::{Request, Response, Status};

use super::hub::Hub;
use super::stream::{PreEncodedCodec, StreamEventsCall};
use crate::grpc::pb;
use crate::grpc::pb::source_service_server::{SourceService, SourceServiceServer, SERVICE_NAME};

const STREAM_EVENTS_PATH: &str = "/flowctl.v1.SourceService/StreamEvents";

/// A saved state (`SaveState`), kept in memory for the life of the sink.
struct Saved {
    state: HashMap<String, String>,
    at_unix: i64,
}

/// `GetInfo`, `HealthCheck`, `GetState` and `SaveState`.
pub struct Api {
    hub: Arc<Hub>,
    /// The address actually bound (the configured one, with port 0 resolved).
    endpoint: String,
    saved: Mutex<HashMap<String, Saved>>,
}

impl Api {
    pub fn new(hub: Arc<Hub>, endpoint: String) -> Self {
        Self { hub, endpoint, saved: Mutex::new(HashMap::new()) }
    }

    fn saved(&self) -> std::sync::MutexGuard<'_, HashMap<String, Saved>> {
        self.saved.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

#[tonic::async_trait]
impl SourceService for Api {
    async fn get_info(&self, _request: Request<()>) -> Result<Response<pb::ComponentInfo>, Status> {
        let metadata = HashMap::from([
            ("buffer".to_owned(), self.hub.capacity.to_string()),
            ("slow_subscriber".to_owned(), self.hub.policy.name().to_owned()),
        ]);
        Ok(Response::new(pb::ComponentInfo {
            id: self.hub.component.to_string(),
            name: self.hub.component.to_string(),
            description: "flowctl grpc_server sink: a pipeline's output, fanned out to subscribers".to_owned(),
            version: env!("CARGO_PKG_VERSION").to_owned(),
            r#type: pb::ComponentType::Source.into(),
            input_event_types: Vec::new(),
            output_event_types: Vec::new(),
            endpoint: self.endpoint.clone(),
            metadata,
        }))
    }

    async fn health_check(
        &self,
        request: Request<pb::HealthCheckRequest>,
    ) -> Result<Response<pb::HealthCheckResponse>, Status> {
        let receiving = self.hub.receiving();
        let (status, message) = match self.hub.is_closing() {
            true => (pb::HealthStatus::Stopping, "the pipeline's output has ended"),
            false => (pb::HealthStatus::Healthy, "serving"),
        };
        let metrics = HashMap::from([
            ("subscribers".to_owned(), receiving.len().to_string()),
            ("events_written".to_owned(), self.hub.written().to_string()),
            ("buffer".to_owned(), self.hub.capacity.to_string()),
            ("slow_subscriber".to_owned(), self.hub.policy.name().to_owned()),
        ]);
        let components = match request.get_ref().include_details {
            false => Vec::new(),
            true => receiving
                .iter()
                .map(|s| pb::ComponentHealth {
                    component_name: format!("subscriber-{}", s.slot),
                    status: pb::HealthStatus::Healthy.into(),
                    message: format!("{}/{} events buffered", s.queue.len(), s.queue.capacity()),
                })
                .collect(),
        };
        Ok(Response::new(pb::HealthCheckResponse {
            status: status.into(),
            metrics,
            components,
            message: message.to_owned(),
        }))
    }

    type StreamEventsStream = tokio_stream::Empty<Result<pb::Event, Status>>;

    /// Never reached: [`Routes`] sends `StreamEvents` to the pre-encoded
    /// streams before the generated server sees it.
    async fn stream_events(
        &self,
        _request: Request<pb::StreamRequest>,
    ) -> Result<Response<Self::StreamEventsStream>, Status> {
        Err(Status::internal("StreamEvents is served by the subscriber streams"))
    }

    async fn get_state(&self, request: Request<pb::StateRequest>) -> Result<Response<pb::StateResponse>, Status> {
        let saved = self.saved();
        let response = match saved.get(&request.get_ref().key) {
            Some(s) => pb::StateResponse {
                resume_token: s.state.get("resume_token").cloned().unwrap_or_default(),
                state: s.state.clone(),
                last_updated_unix: s.at_unix,
            },
            None => pb::StateResponse::default(),
        };
        Ok(Response::new(response))
    }

    async fn save_state(&self, request: Request<pb::SaveStateRequest>) -> Result<Response<()>, Status> {
        let pb::SaveStateRequest { state, key } = request.into_inner();
        let at_unix = crate::event::Event::now_millis() / 1000;
        self.saved().insert(key, Saved { state, at_unix });
        Ok(Response::new(()))
    }
}

/// The whole `SourceService`: `StreamEvents` to the subscribers, the rest to [`Api`].
#[derive(Clone)]
pub struct Routes {
    hub: Arc<Hub>,
    api: SourceServiceServer<Api>,
}

impl Routes {
    pub fn new(hub: Arc<Hub>, api: Api) -> Self {
        Self { hub, api: SourceServiceServer::new(api) }
    }
}

impl NamedService for Routes {
    const NAME: &'static str = SERVICE_NAME;
}

impl Service<http::Request<Body>> for Routes {
    type Response = http::Response<Body>;
    type Error = Infallible;
    type Future = BoxFuture<Self::Response, Self::Error>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: http::Request<Body>) -> Self::Future {
        if request.uri().path() != STREAM_EVENTS_PATH {
            return self.api.call(request);
        }
        let call = StreamEventsCall(self.hub.clone());
        Box::pin(async move {
            Ok(tonic::server::Grpc::new(PreEncodedCodec::default()).server_streaming(call, request).await)
        })
    }
}
