//! Which host functions a processor is granted.

use std::time::Duration;

/// Capabilities granted to one processor. Defaults: log and metrics on, no HTTP.
#[derive(Debug, Clone, PartialEq)]
pub struct Permissions {
    pub log: bool,
    pub metrics: bool,
    /// `None` = `http_request` not granted.
    pub http: Option<HttpPermission>,
}

impl Default for Permissions {
    fn default() -> Self {
        Self { log: true, metrics: true, http: None }
    }
}

/// HTTP access: only to these hosts (exact or subdomain), bounded in time and rate.
#[derive(Debug, Clone, PartialEq)]
pub struct HttpPermission {
    pub allowed_domains: Vec<String>,
    pub timeout: Duration,
    pub max_requests_per_minute: u32,
}

impl HttpPermission {
    pub fn new(allowed_domains: Vec<String>) -> Self {
        Self { allowed_domains, timeout: Duration::from_secs(5), max_requests_per_minute: 600 }
    }
}
