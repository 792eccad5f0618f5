//! The CLI side of the admin API (`flowctl status`, `traffic`, `rollback`):
//! a small blocking HTTP client. A refusal comes back as the server's own
//! message, so the CLI can print it as is.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;

use serde::de::DeserializeOwned;

use super::api::RollbackAnswer;
use super::report::{ErrorBody, ProcessorStatus, RollbackRequest, StatusReport};

/// How long one admin call may take (the server answers from memory).
const TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("cannot reach the admin API at {addr} (is `flowctl run` running there? see --addr): {reason}")]
    Unreachable { addr: SocketAddr, reason: String },
    /// The server said no; `message` is its explanation.
    #[error("{message}")]
    Refused { status: u16, message: String },
    #[error("unexpected answer from {addr}: {reason}")]
    BadAnswer { addr: SocketAddr, reason: String },
}

pub struct AdminClient {
    addr: SocketAddr,
    token: Option<String>,
    agent: ureq::Agent,
}

impl AdminClient {
    pub fn new(addr: SocketAddr, token: Option<String>) -> Self {
        let agent =
            ureq::Agent::config_builder().timeout_global(Some(TIMEOUT)).http_status_as_error(false).build().into();
        Self { addr, token, agent }
    }

    pub fn status(&self) -> Result<StatusReport, ClientError> {
        self.call("GET", "/admin/status", None)
    }

    pub fn set_traffic(
        &self,
        processor: &str,
        weights: &BTreeMap<String, u32>,
    ) -> Result<ProcessorStatus, ClientError> {
        let body = serde_json::to_string(weights).unwrap_or_default();
        self.call("PUT", &format!("/admin/processors/{}/traffic", path_segment(processor)), Some(body))
    }

    pub fn rollback(&self, processor: &str, to: Option<String>) -> Result<RollbackAnswer, ClientError> {
        let body = serde_json::to_string(&RollbackRequest { to }).unwrap_or_default();
        self.call("POST", &format!("/admin/processors/{}/rollback", path_segment(processor)), Some(body))
    }

    fn call<T: DeserializeOwned>(&self, method: &str, path: &str, body: Option<String>) -> Result<T, ClientError> {
        let url = format!("http://{}{path}", self.addr);
        let auth = self.token.as_ref().map(|t| format!("Bearer {t}"));
        let result = match (method, body) {
            ("GET", _) => with_auth(self.agent.get(&url), auth).call(),
            ("PUT", body) => with_auth(self.agent.put(&url), auth)
                .header("content-type", "application/json")
                .send(body.unwrap_or_default()),
            (_, body) => with_auth(self.agent.post(&url), auth)
                .header("content-type", "application/json")
                .send(body.unwrap_or_default()),
        };
        let mut response = result.map_err(|e| ClientError::Unreachable { addr: self.addr, reason: e.to_string() })?;
        let status = response.status().as_u16();
        let text = response
            .body_mut()
            .read_to_string()
            .map_err(|e| ClientError::BadAnswer { addr: self.addr, reason: e.to_string() })?;
        if status >= 400 {
            let message = match serde_json::from_str::<ErrorBody>(&text) {
                Ok(body) => body.error,
                Err(_) => format!("HTTP {status}: {}", text.trim()),
            };
            return Err(ClientError::Refused { status, message });
        }
        serde_json::from_str(&text).map_err(|e| ClientError::BadAnswer { addr: self.addr, reason: e.to_string() })
    }
}

fn with_auth<B>(request: ureq::RequestBuilder<B>, auth: Option<String>) -> ureq::RequestBuilder<B> {
    match auth {
        Some(value) => request.header("authorization", value),
        None => request,
    }
}

/// Percent-encodes what may not appear raw in a path segment (ids are
/// usually plain words, but the config does not forbid others).
fn path_segment(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_segments_are_escaped() {
        assert_eq!(path_segment("ttp-v2_x.y"), "ttp-v2_x.y");
        assert_eq!(path_segment("a/b c"), "a%2Fb%20c");
    }
}
