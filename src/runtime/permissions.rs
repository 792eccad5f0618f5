//! Which host functions a processor is granted.

use std::time::Duration;

use super::http::IpNetwork;
use crate::config::defaults;

/// Capabilities granted to one processor. Defaults: log and metrics on, no HTTP.
#[derive(Debug, Clone, PartialEq)]
pub struct Permissions {
    pub log: bool,
    pub metrics: bool,
    /// `None` = `http_request` not granted.
    pub http: Option<HttpPermission>,
    /// `state_get`, `state_set`, `state_delete` (caps in `Limits::state`).
    pub state: bool,
}

impl Default for Permissions {
    fn default() -> Self {
        Self { log: true, metrics: true, http: None, state: false }
    }
}

/// HTTP access: only to these hosts (exact or subdomain) on these ports, only
/// to public addresses unless a network is listed, bounded in time, rate and size.
#[derive(Debug, Clone, PartialEq)]
pub struct HttpPermission {
    pub allowed_domains: Vec<String>,
    /// Non-public networks (loopback, private, ...) the hosts may resolve to.
    pub allowed_networks: Vec<IpNetwork>,
    /// Ports a URL may name (explicitly, or by its scheme's default).
    pub allowed_ports: Vec<u16>,
    pub timeout: Duration,
    /// Shared by every version of the processor, across hot reloads.
    pub max_requests_per_minute: u32,
    pub max_request_body: usize,
    pub max_response_body: usize,
}

impl HttpPermission {
    /// Access to `allowed_domains` with every other rule at its default.
    pub fn new(allowed_domains: Vec<String>) -> Self {
        Self {
            allowed_domains,
            allowed_networks: Vec::new(),
            allowed_ports: defaults::HTTP_ALLOWED_PORTS.to_vec(),
            timeout: defaults::HTTP_TIMEOUT,
            max_requests_per_minute: defaults::HTTP_MAX_REQUESTS_PER_MINUTE,
            max_request_body: defaults::HTTP_MAX_REQUEST_BODY,
            max_response_body: defaults::HTTP_MAX_RESPONSE_BODY,
        }
    }
}
