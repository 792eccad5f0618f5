//! The audit log (`settings.audit_log`): one JSON line per security decision
//! (a denied capability, a breached limit, a quota breach or recovery, a
//! refused module), with tenant, processor, version, action, target, allowed
//! and reason. The decisions are `tracing` events with target
//! [`AUDIT_TARGET`], emitted where they are taken; this layer writes them to
//! the file whatever the log level on stderr.

use std::collections::HashMap;
use std::fmt;
use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use serde::Serialize;
use tracing::field::{Field, Visit};
use tracing_subscriber::layer::{Context, Layer};

use crate::event::Event;
use crate::runtime::metrics::AUDIT_TARGET;

/// Why the audit log cannot be used.
#[derive(Debug, thiserror::Error)]
#[error("cannot open the audit log {path}: {source}")]
pub struct AuditLogError {
    pub path: PathBuf,
    pub source: std::io::Error,
}

/// The open audit log file and the tenants of the pipeline's processors.
pub struct AuditLog {
    file: Mutex<File>,
    /// Tenant by processor, for decisions whose event does not name one.
    tenants: HashMap<String, String>,
}

impl AuditLog {
    /// Opens `path` for appending (created `0600`: audit lines name what a
    /// guest tried to reach).
    pub fn open(path: &Path, tenants: HashMap<String, String>) -> Result<AuditLog, AuditLogError> {
        use std::os::unix::fs::OpenOptionsExt;
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .mode(0o600)
            .open(path)
            .map_err(|source| AuditLogError { path: path.to_owned(), source })?;
        Ok(AuditLog { file: Mutex::new(file), tenants })
    }

    fn write(&self, mut record: AuditRecord) {
        if record.tenant.is_empty() {
            record.tenant = self.tenants.get(&record.processor).cloned().unwrap_or_else(|| "default".into());
        }
        let mut line = serde_json::to_vec(&record).unwrap_or_default();
        line.push(b'\n');
        // One write per line on an O_APPEND file: lines never interleave.
        let mut file = self.file.lock().unwrap_or_else(|p| p.into_inner());
        if let Err(err) = file.write_all(&line) {
            eprintln!("flowctl: cannot write the audit log: {err}");
        }
    }
}

/// One line of the audit log.
#[derive(Debug, Default, Serialize, PartialEq)]
pub struct AuditRecord {
    /// Unix milliseconds.
    pub at: i64,
    pub tenant: String,
    pub processor: String,
    pub version: String,
    /// `http_request`, `log`, `record_metric`, `limit`, `quota`, `load_module` ...
    pub action: String,
    /// The URL, limit, quota or file concerned.
    pub target: String,
    pub allowed: bool,
    pub reason: String,
    pub message: String,
}

impl Visit for AuditRecord {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.set(field.name(), value.to_owned());
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        if field.name() == "allowed" {
            self.allowed = value;
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.set(field.name(), format!("{value:?}"));
    }
}

impl AuditRecord {
    fn set(&mut self, name: &str, value: String) {
        let slot = match name {
            "tenant" => &mut self.tenant,
            "processor" => &mut self.processor,
            "version" => &mut self.version,
            "action" => &mut self.action,
            "target" => &mut self.target,
            "reason" => &mut self.reason,
            "message" => &mut self.message,
            _ => return,
        };
        *slot = value;
    }
}

/// Writes every [`AUDIT_TARGET`] event to the audit log.
pub struct AuditLayer(pub AuditLog);

impl<S: tracing::Subscriber> Layer<S> for AuditLayer {
    fn on_event(&self, event: &tracing::Event<'_>, _ctx: Context<'_, S>) {
        if event.metadata().target() != AUDIT_TARGET {
            return;
        }
        let mut record = AuditRecord { at: Event::now_millis(), ..AuditRecord::default() };
        event.record(&mut record);
        self.0.write(record);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tracing_subscriber::layer::SubscriberExt;

    #[test]
    fn audit_events_become_json_lines_with_the_tenant() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.jsonl");
        let tenants = HashMap::from([("p".to_owned(), "acme".to_owned())]);
        let layer = AuditLayer(AuditLog::open(&path, tenants).unwrap());
        let subscriber = tracing_subscriber::registry().with(layer);
        tracing::subscriber::with_default(subscriber, || {
            tracing::warn!(target: AUDIT_TARGET, processor = "p", version = "v1", action = "http_request",
                target = "http://10.0.0.1/", allowed = false, reason = %"private address", "capability denied");
            tracing::warn!(target: "flowctl::other", processor = "p", "not an audit line");
            tracing::warn!(target: AUDIT_TARGET, tenant = "beta", processor = "q", action = "quota",
                target = "cpu_seconds_per_hour", allowed = true, "quota available again");
        });
        let text = std::fs::read_to_string(&path).unwrap();
        let lines: Vec<serde_json::Value> = text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
        assert_eq!(lines.len(), 2, "{text}");
        assert_eq!(lines[0]["tenant"], "acme");
        assert_eq!(lines[0]["action"], "http_request");
        assert_eq!(lines[0]["target"], "http://10.0.0.1/");
        assert_eq!(
            (lines[0]["allowed"].as_bool(), lines[0]["reason"].as_str()),
            (Some(false), Some("private address"))
        );
        assert_eq!((lines[1]["tenant"].as_str(), lines[1]["allowed"].as_bool()), (Some("beta"), Some(true)));
        assert!(lines[1]["at"].as_i64().unwrap() > 1_700_000_000_000);
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
    }
}
