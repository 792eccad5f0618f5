//! The admin HTTP API, merged into the `/metrics` listener:
//!
//! | method and path | body | answer |
//! |---|---|---|
//! | `GET /admin/status` | | [`StatusReport`] |
//! | `PUT /admin/processors/{id}/traffic` | `{"v1": 90, "v2": 10}` | the processor's [`ProcessorStatus`] |
//! | `POST /admin/processors/{id}/rollback` | `{"to": "v1"}` or nothing | [`RollbackAnswer`] |
//!
//! Refusals are 4xx with `{"error": "..."}`. Every `/admin` request passes
//! [`Access::check`] first: the Host must name this listener, a browser's
//! request must come from this origin, the token (if configured) must match,
//! and a change must be sent as `application/json`. Off loopback a token is
//! mandatory ([`Access::new`]).

use std::collections::BTreeMap;

use axum::body::Bytes;
use axum::extract::{Path, Request, State};
use axum::http::{header, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};

use super::access::{Access, AccessRefusal};
use super::control::{Control, ControlError};
use super::report::{ErrorBody, ProcessorStatus, RollbackRequest, StatusReport};

/// `POST .../rollback` answer.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct RollbackAnswer {
    /// The version that now gets all traffic.
    pub to: String,
    pub processor: ProcessorStatus,
}

/// The `/admin` routes, ready to merge into the metrics server's router.
/// `access` must know the address the listener is bound to ([`Access::listening_on`]).
pub fn router(control: Control, access: Access) -> Router {
    Router::new()
        .route("/admin/status", get(status))
        .route("/admin/processors/{id}/traffic", put(traffic))
        .route("/admin/processors/{id}/rollback", post(rollback))
        .route("/admin/{*rest}", get(not_found).put(not_found).post(not_found))
        .route_layer(middleware::from_fn_with_state(access, guard))
        .with_state(control)
}

/// Runs [`Access::check`] before any handler.
async fn guard(State(access): State<Access>, request: Request, next: Next) -> Response {
    match access.check(request.method(), request.uri(), request.headers()) {
        Ok(()) => next.run(request).await,
        Err(refusal) => Refusal::from(refusal).into_response(),
    }
}

type Answer<T> = Result<Json<T>, Refusal>;

/// A 4xx with a JSON message.
struct Refusal(StatusCode, String);

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        let mut response = (self.0, Json(ErrorBody { error: self.1 })).into_response();
        if self.0 == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(header::WWW_AUTHENTICATE, header::HeaderValue::from_static("Bearer"));
        }
        response
    }
}

impl From<AccessRefusal> for Refusal {
    fn from(refusal: AccessRefusal) -> Self {
        Refusal(refusal.status(), refusal.to_string())
    }
}

impl From<ControlError> for Refusal {
    fn from(err: ControlError) -> Self {
        let status = match err {
            ControlError::UnknownProcessor { .. } => StatusCode::NOT_FOUND,
            ControlError::SingleVersion(_) => StatusCode::CONFLICT,
            ControlError::UnknownVersion { .. } | ControlError::NoWeights | ControlError::AllZero(_) => {
                StatusCode::BAD_REQUEST
            }
        };
        Refusal(status, err.to_string())
    }
}

async fn status(State(control): State<Control>) -> Answer<StatusReport> {
    Ok(Json(control.status()))
}

async fn traffic(State(control): State<Control>, Path(id): Path<String>, body: Bytes) -> Answer<ProcessorStatus> {
    let weights: BTreeMap<String, u32> = serde_json::from_slice(&body).map_err(|e| {
        let message =
            format!("the body must map version names to weights (0 or more), e.g. {{\"v1\":90,\"v2\":10}}: {e}");
        Refusal(StatusCode::BAD_REQUEST, message)
    })?;
    let processor = control.processor(&id)?;
    processor.set_traffic(&weights)?;
    Ok(Json(processor.status()))
}

async fn rollback(State(control): State<Control>, Path(id): Path<String>, body: Bytes) -> Answer<RollbackAnswer> {
    let request: RollbackRequest = if body.iter().all(u8::is_ascii_whitespace) {
        RollbackRequest::default()
    } else {
        serde_json::from_slice(&body).map_err(|e| {
            Refusal(StatusCode::BAD_REQUEST, format!("the body must be {{\"to\": \"<version>\"}} or empty: {e}"))
        })?
    };
    let processor = control.processor(&id)?;
    let to = processor.rollback(request.to.as_deref())?;
    Ok(Json(RollbackAnswer { to, processor: processor.status() }))
}

async fn not_found() -> Refusal {
    Refusal(
        StatusCode::NOT_FOUND,
        "no such admin route (GET /admin/status, PUT /admin/processors/{id}/traffic, POST /admin/processors/{id}/rollback)"
            .into(),
    )
}
