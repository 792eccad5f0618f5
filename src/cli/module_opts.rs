//! Flags shared by the verbs that run one module outside a pipeline
//! (`flowctl test`, `flowctl bench`, `flowctl serve`): its config, limits,
//! permissions and the keys its signature must verify with.

use std::path::{Path, PathBuf};

use anyhow::Context;

use crate::config::units;
use crate::runtime::http::IpNetwork;
use crate::runtime::{HttpPermission, Limits, Permissions, ProcessorSpec};
use crate::signing::TrustedKeys;

#[derive(Debug, Clone, clap::Args)]
pub struct ModuleOptions {
    /// Configuration handed to the module's `init`, as JSON.
    #[arg(long, value_name = "JSON")]
    pub config: Option<String>,
    /// Grant `http_request` to this domain (and its subdomains); repeatable.
    #[arg(long = "allow-http", value_name = "DOMAIN")]
    pub allow_http: Vec<String>,
    /// With --allow-http: a non-public network the domains may resolve to
    /// (e.g. 127.0.0.0/8 for a local test server); repeatable.
    #[arg(long = "allow-network", value_name = "CIDR", requires = "allow_http")]
    pub allow_network: Vec<IpNetwork>,
    /// With --allow-http: a port URLs may use, instead of 80 and 443; repeatable.
    #[arg(long = "allow-port", value_name = "PORT", requires = "allow_http", value_parser = clap::value_parser!(u16).range(1..))]
    pub allow_port: Vec<u16>,
    /// Grant `state_get`/`state_set`/`state_delete` (state kept in memory for this run).
    #[arg(long = "allow-state")]
    pub allow_state: bool,
    /// Fuel budget per event (off unless given).
    #[arg(long)]
    pub fuel: Option<u64>,
    /// Memory cap, e.g. 16MiB.
    #[arg(long, value_name = "SIZE")]
    pub memory: Option<String>,
    /// Wall-clock deadline per call, e.g. 100ms.
    #[arg(long, value_name = "DURATION")]
    pub timeout: Option<String>,
    /// Most output events per input event (default 1000).
    #[arg(long, value_name = "N")]
    pub max_outputs: Option<usize>,
    /// Processor name used in logs (default: the file's stem).
    #[arg(long)]
    pub name: Option<String>,
    /// Refuse the module unless it is signed by this public key (a `.pub` file); repeatable.
    #[arg(long = "trusted-key", value_name = "KEY.pub")]
    pub trusted_keys: Vec<PathBuf>,
}

impl ModuleOptions {
    /// The spec to load `module` with.
    pub fn spec(&self, module: &Path) -> anyhow::Result<ProcessorSpec> {
        let config = match &self.config {
            Some(text) => serde_json::from_str(text).context("--config is not valid JSON")?,
            None => serde_json::json!({}),
        };
        let mut limits = Limits { fuel: self.fuel, ..Limits::default() };
        if let Some(memory) = &self.memory {
            limits.memory_bytes = units::parse_bytes(memory).with_context(|| format!("--memory {memory}"))?;
        }
        if let Some(max) = self.max_outputs {
            anyhow::ensure!(max > 0, "--max-outputs must be at least 1");
            limits.max_outputs = max;
        }
        if let Some(timeout) = &self.timeout {
            limits.timeout = units::parse_duration(timeout).with_context(|| format!("--timeout {timeout}"))?;
        }
        let trusted_keys = match self.trusted_keys.is_empty() {
            true => None,
            false => Some(TrustedKeys::read(&self.trusted_keys).context("--trusted-key")?),
        };
        let http = (!self.allow_http.is_empty()).then(|| {
            let mut http = HttpPermission::new(self.allow_http.clone());
            http.allowed_networks.clone_from(&self.allow_network);
            if !self.allow_port.is_empty() {
                http.allowed_ports.clone_from(&self.allow_port);
            }
            http
        });
        let name = self.name.clone().unwrap_or_else(|| {
            module.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_else(|| "module".into())
        });
        Ok(ProcessorSpec {
            name,
            version: None,
            config,
            limits,
            permissions: Permissions { http, state: self.allow_state, ..Permissions::default() },
            trusted_keys,
            ..ProcessorSpec::named("")
        })
    }
}
