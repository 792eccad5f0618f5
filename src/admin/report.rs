//! The JSON bodies of the admin API, shared by the server ([`super::api`])
//! and the CLI ([`super::client`]) so the two cannot drift apart.

use serde::{Deserialize, Serialize};

/// `GET /admin/status`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct StatusReport {
    pub pipeline: String,
    pub processors: Vec<ProcessorStatus>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ProcessorStatus {
    pub id: String,
    /// `id` or `data.<path>`.
    pub route_by: String,
    /// Worker threads.
    pub pool_size: usize,
    /// Instances alive across the workers now.
    pub instances: i64,
    pub rollback: Option<RollbackPolicy>,
    pub circuit_breaker: Option<BreakerPolicy>,
    pub reloads: ReloadStatus,
    pub versions: Vec<VersionStatus>,
    /// Label on quota metrics and audit lines.
    #[serde(default)]
    pub tenant: String,
    /// Every quota set for the processor, with its use in the current window.
    #[serde(default)]
    pub quotas: Vec<QuotaStatus>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct QuotaStatus {
    /// `cpu_seconds_per_hour`, `http_requests_per_minute` or `memory_mb_hours`.
    pub quota: String,
    /// Use in the current window (seconds, requests or MB-hours).
    pub used: f64,
    pub limit: f64,
    /// Over the quota: events are paused or dead-lettered until the window ends.
    pub exceeded: bool,
    /// `pause` or `dead_letter`.
    pub on_breach: String,
    pub resets_in_ms: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct RollbackPolicy {
    pub max_error_rate: f64,
    pub min_events: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct BreakerPolicy {
    pub max_restarts: u32,
    pub window_ms: u64,
    pub cooldown_ms: u64,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct ReloadStatus {
    pub ok: u64,
    pub error: u64,
    /// The latest failed reload: file and reason.
    pub last_error: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct VersionStatus {
    /// What outputs carry in `metadata["flowctl.module_version"]`.
    pub name: String,
    /// First 12 hex digits of the module's SHA-256 (changes on every reload).
    pub sha256: String,
    pub file: String,
    /// Weight as set in the file, by `flowctl traffic`, or 0 after a rollback.
    pub weight: u32,
    /// Share of new events this version gets now, in percent (0 while its circuit is open).
    pub traffic_percent: f64,
    /// `active`, `idle` (weight 0) or `rolled_back` (by the canary guard).
    pub state: String,
    /// `closed`, `open` or `half_open`; `closed` when no breaker is configured.
    pub circuit: String,
    /// Events this version ran since the start (across reloads).
    pub events: u64,
    /// Of those, dead-lettered.
    pub errors: u64,
    /// Failed fraction of its most recent events (the canary window).
    pub error_rate: f64,
    /// Events in that window.
    pub window_events: u64,
    /// Instances discarded after a trap, fuel, deadline or memory error.
    pub restarts: u64,
}

/// Any 4xx/5xx answer.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ErrorBody {
    pub error: String,
}

/// `POST /admin/processors/{id}/rollback`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct RollbackRequest {
    /// Version to send all traffic to; default the first version in the file.
    #[serde(default)]
    pub to: Option<String>,
}
