//! The file exactly as written: serde structs that mirror `flowctl.yaml`.
//! Units stay text and paths stay relative here; [`super::resolve`] turns this
//! into the validated [`super::model`]. `Spanned` marks values a later check
//! must point at by line.

use serde::de::{self, Deserializer, Visitor};
use serde::Deserialize;
use serde_saphyr::Spanned;

pub use super::raw_connectors::{RawSink, RawSinkConfig, RawSource, RawSourceConfig};

/// The whole file: Kubernetes-style envelope around the pipeline.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawFile {
    #[serde(rename = "apiVersion")]
    pub api_version: Spanned<String>,
    pub kind: Spanned<String>,
    pub metadata: RawMetadata,
    pub spec: Spanned<RawSpec>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawMetadata {
    pub name: Spanned<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSpec {
    #[serde(default)]
    pub settings: Option<RawSettings>,
    #[serde(default)]
    pub sources: Vec<RawSource>,
    #[serde(default)]
    pub processors: Vec<RawProcessor>,
    #[serde(default)]
    pub sinks: Vec<RawSink>,
}

/// `spec.settings`: every key optional, defaults in [`super::defaults`].
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSettings {
    pub log_level: Option<Spanned<String>>,
    pub metrics_addr: Option<Spanned<String>>,
    pub dead_letter: Option<RawDeadLetter>,
    pub shutdown_grace: Option<Spanned<UnitText>>,
    pub channel_capacity: Option<Spanned<usize>>,
    pub admin_token: Option<Spanned<String>>,
    /// Relative to the pipeline file; exclusive with `admin_token`.
    pub admin_token_file: Option<Spanned<String>>,
    pub hot_reload: Option<bool>,
    pub control_plane_addr: Option<Spanned<String>>,
    pub audit_log: Option<Spanned<String>>,
    /// Public key files (`flowctl keygen`'s `.pub`) module signatures may verify with.
    pub trusted_keys: Option<Spanned<Vec<Spanned<String>>>>,
    /// Where source positions and processor state are kept, relative to the pipeline file.
    pub state_dir: Option<Spanned<String>>,
    pub checkpoint_interval: Option<Spanned<UnitText>>,
}

/// `spec.settings.dead_letter`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawDeadLetter {
    #[serde(rename = "type")]
    pub kind: Spanned<String>,
    /// Only for `type: file`; default `dead-letters.jsonl` next to the pipeline file.
    pub path: Option<Spanned<String>>,
}

/// One processor. `type` is kept as text so an unknown type is a reported problem, not a parse abort.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawProcessor {
    pub id: Spanned<String>,
    #[serde(rename = "type")]
    pub kind: Spanned<String>,
    pub inputs: Option<Spanned<Vec<Spanned<String>>>>,
    /// Free-form, handed to the guest's `init()` as JSON (`type: wasm`);
    /// the remote's settings for `type: grpc`.
    pub config: Option<Spanned<serde_json::Value>>,
    pub wasm: Option<Spanned<RawWasm>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawWasm {
    /// A single module; exclusive with `versions`.
    pub module: Option<Spanned<String>>,
    pub versions: Option<Spanned<Vec<RawVersion>>>,
    pub route_by: Option<Spanned<String>>,
    pub rollback: Option<RawRollback>,
    pub circuit_breaker: Option<RawBreaker>,
    pub pool_size: Option<Spanned<usize>>,
    pub batch_size: Option<Spanned<usize>>,
    pub batch_timeout: Option<Spanned<UnitText>>,
    pub max_retries: Option<u32>,
    #[serde(default)]
    pub limits: RawLimits,
    #[serde(default)]
    pub permissions: RawPermissions,
    /// Label on quota metrics and audit lines.
    pub tenant: Option<Spanned<String>>,
    #[serde(default)]
    pub quotas: RawQuotas,
    /// Refuse a module (at start and on reload) unless signed by a trusted key.
    pub require_signature: Option<Spanned<bool>>,
}

/// `wasm.quotas`: budgets per window; every key optional.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawQuotas {
    pub cpu_seconds_per_hour: Option<Spanned<f64>>,
    pub http_requests_per_minute: Option<Spanned<u32>>,
    pub memory_mb_hours: Option<Spanned<f64>>,
    /// `dead_letter` (default) or `pause`.
    pub on_breach: Option<Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawVersion {
    pub name: Option<Spanned<String>>,
    pub module: Spanned<String>,
    pub weight: Spanned<u32>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRollback {
    pub max_error_rate: Spanned<f64>,
    pub min_events: Spanned<u64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawBreaker {
    pub max_restarts: Spanned<u32>,
    pub window: Spanned<UnitText>,
    pub cooldown: Option<Spanned<UnitText>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawLimits {
    pub memory: Option<Spanned<UnitText>>,
    pub fuel: Option<Spanned<u64>>,
    pub timeout: Option<Spanned<UnitText>>,
    pub max_input: Option<Spanned<UnitText>>,
    pub max_output: Option<Spanned<UnitText>>,
    pub max_outputs: Option<Spanned<usize>>,
    pub log_lines_per_second: Option<Spanned<u32>>,
    pub max_state_key: Option<Spanned<UnitText>>,
    pub max_state_value: Option<Spanned<UnitText>>,
    pub max_state: Option<Spanned<UnitText>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawPermissions {
    pub log: Option<bool>,
    pub metrics: Option<bool>,
    pub http: Option<RawHttp>,
    pub state: Option<bool>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawHttp {
    pub allowed_domains: Spanned<Vec<Spanned<String>>>,
    /// CIDR networks (or single addresses) that lift the block on non-public addresses.
    pub allowed_networks: Option<Spanned<Vec<Spanned<String>>>>,
    pub allowed_ports: Option<Spanned<Vec<Spanned<u32>>>>,
    pub timeout: Option<Spanned<UnitText>>,
    pub max_requests_per_minute: Option<Spanned<u32>>,
    pub max_request_body: Option<Spanned<UnitText>>,
    pub max_response_body: Option<Spanned<UnitText>>,
}

/// A size or duration as written: `32MiB`, `50ms`, or a bare number (`512`).
/// Parsed later by [`super::units`] so every unit error is reported, not just the first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnitText(pub String);

impl<'de> Deserialize<'de> for UnitText {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct UnitTextVisitor;

        impl Visitor<'_> for UnitTextVisitor {
            type Value = UnitText;

            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a size or duration such as 32MiB or 50ms")
            }

            fn visit_str<E: de::Error>(self, text: &str) -> Result<UnitText, E> {
                Ok(UnitText(text.to_string()))
            }

            fn visit_u64<E: de::Error>(self, number: u64) -> Result<UnitText, E> {
                Ok(UnitText(number.to_string()))
            }

            fn visit_i64<E: de::Error>(self, number: i64) -> Result<UnitText, E> {
                Ok(UnitText(number.to_string()))
            }

            fn visit_f64<E: de::Error>(self, number: f64) -> Result<UnitText, E> {
                Ok(UnitText(number.to_string()))
            }
        }

        deserializer.deserialize_any(UnitTextVisitor)
    }
}
