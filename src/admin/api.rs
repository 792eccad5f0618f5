//! The admin HTTP API, merged into the `/metrics` listener:
//!
//! | method and path | body | answer |
//! |---|---|---|
//! | `GET /admin/status` | | [`StatusReport`] |
//! | `PUT /admin/processors/{id}/traffic` | `{"v1": 90, "v2": 10}` | the processor's [`ProcessorStatus`] |
//! | `POST /admin/processors/{id}/rollback` | `{"to": "v1"}` or nothing | [`RollbackAnswer`] |
//!
//! Refusals are 4xx with `{"error": "..."}`. With a token configured, every
//! `/admin` route requires `Authorization: Bearer <token>`; off loopback a
//! token is mandatory ([`Access::new`]).

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};

use super::control::{Control, ControlError};
use super::report::{ErrorBody, ProcessorStatus, RollbackRequest, StatusReport};

/// Who may call the admin API.
#[derive(Clone, Debug)]
pub struct Access {
    token: Option<Arc<str>>,
}

#[derive(Debug, thiserror::Error)]
pub enum AccessError {
    #[error("{0} is not a loopback address, and the admin API listens there too: set spec.settings.admin_token")]
    TokenRequired(SocketAddr),
}

impl Access {
    /// The API on `addr`, guarded by `token` if given. Refuses a
    /// non-loopback address without a token (the config check catches the
    /// file's value; this catches `--metrics-addr`).
    pub fn new(addr: SocketAddr, token: Option<String>) -> Result<Access, AccessError> {
        if token.is_none() && !addr.ip().is_loopback() {
            return Err(AccessError::TokenRequired(addr));
        }
        Ok(Access { token: token.map(Arc::from) })
    }

    fn allows(&self, headers: &HeaderMap) -> bool {
        let Some(token) = &self.token else { return true };
        let given = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .unwrap_or("");
        constant_time_eq(given.as_bytes(), token.as_bytes())
    }
}

/// Compares without an early exit, so timing does not reveal a prefix of the token.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// `POST .../rollback` answer.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct RollbackAnswer {
    /// The version that now gets all traffic.
    pub to: String,
    pub processor: ProcessorStatus,
}

#[derive(Clone)]
struct ApiState {
    control: Control,
    access: Access,
}

/// The `/admin` routes, ready to merge into the metrics server's router.
pub fn router(control: Control, access: Access) -> Router {
    Router::new()
        .route("/admin/status", get(status))
        .route("/admin/processors/{id}/traffic", put(traffic))
        .route("/admin/processors/{id}/rollback", post(rollback))
        .route("/admin/{*rest}", get(not_found).put(not_found).post(not_found))
        .with_state(ApiState { control, access })
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

fn authorize(state: &ApiState, headers: &HeaderMap) -> Result<(), Refusal> {
    if state.access.allows(headers) {
        Ok(())
    } else {
        Err(Refusal(
            StatusCode::UNAUTHORIZED,
            "missing or wrong admin token (send Authorization: Bearer <token>)".into(),
        ))
    }
}

async fn status(State(state): State<ApiState>, headers: HeaderMap) -> Answer<StatusReport> {
    authorize(&state, &headers)?;
    Ok(Json(state.control.status()))
}

async fn traffic(
    State(state): State<ApiState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Answer<ProcessorStatus> {
    authorize(&state, &headers)?;
    let weights: BTreeMap<String, u32> = serde_json::from_slice(&body).map_err(|e| {
        let message =
            format!("the body must map version names to weights (0 or more), e.g. {{\"v1\":90,\"v2\":10}}: {e}");
        Refusal(StatusCode::BAD_REQUEST, message)
    })?;
    let processor = state.control.processor(&id)?;
    processor.set_traffic(&weights)?;
    Ok(Json(processor.status()))
}

async fn rollback(
    State(state): State<ApiState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Answer<RollbackAnswer> {
    authorize(&state, &headers)?;
    let request: RollbackRequest = if body.iter().all(u8::is_ascii_whitespace) {
        RollbackRequest::default()
    } else {
        serde_json::from_slice(&body).map_err(|e| {
            Refusal(StatusCode::BAD_REQUEST, format!("the body must be {{\"to\": \"<version>\"}} or empty: {e}"))
        })?
    };
    let processor = state.control.processor(&id)?;
    let to = processor.rollback(request.to.as_deref())?;
    Ok(Json(RollbackAnswer { to, processor: processor.status() }))
}

async fn not_found(State(state): State<ApiState>, headers: HeaderMap) -> Refusal {
    if let Err(refusal) = authorize(&state, &headers) {
        return refusal;
    }
    Refusal(
        StatusCode::NOT_FOUND,
        "no such admin route (GET /admin/status, PUT /admin/processors/{id}/traffic, POST /admin/processors/{id}/rollback)"
            .into(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn off_loopback_needs_a_token() {
        let public: SocketAddr = "0.0.0.0:9464".parse().expect("addr");
        let local: SocketAddr = "127.0.0.1:9464".parse().expect("addr");
        assert!(Access::new(public, None).is_err());
        assert!(Access::new(public, Some("t".into())).is_ok());
        assert!(Access::new(local, None).is_ok());
    }

    #[test]
    fn token_is_checked_exactly() {
        let access = Access::new("0.0.0.0:1".parse().expect("addr"), Some("s3cret".into())).expect("access");
        let with = |value: &str| {
            let mut h = HeaderMap::new();
            h.insert(header::AUTHORIZATION, value.parse().expect("header"));
            h
        };
        assert!(access.allows(&with("Bearer s3cret")));
        assert!(!access.allows(&with("Bearer s3cre")));
        assert!(!access.allows(&with("Bearer s3cret2")));
        assert!(!access.allows(&with("s3cret")));
        assert!(!access.allows(&HeaderMap::new()));
    }
}
