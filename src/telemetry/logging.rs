//! `tracing` subscriber setup: human or JSON lines on stderr, and the audit
//! log file when the pipeline asks for one.

use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{fmt, EnvFilter, Layer};

use super::audit::{AuditLayer, AuditLog};

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    Human,
    Json,
}

/// Installs the global subscriber. `level` is a filter directive such as `info`
/// or `flowctl=debug`. Safe to call twice (the second call does nothing).
pub fn init(level: &str, format: LogFormat) {
    init_with_audit(level, format, None);
}

/// [`init`], plus every audit event written to `audit`, whatever `level` lets through to stderr.
pub fn init_with_audit(level: &str, format: LogFormat, audit: Option<AuditLog>) {
    let filter = EnvFilter::try_new(level).unwrap_or_else(|_| EnvFilter::new("info"));
    let registry = tracing_subscriber::registry().with(audit.map(AuditLayer));
    let _ = match format {
        LogFormat::Human => registry.with(fmt::layer().with_writer(std::io::stderr).with_filter(filter)).try_init(),
        LogFormat::Json => {
            registry.with(fmt::layer().json().with_writer(std::io::stderr).with_filter(filter)).try_init()
        }
    };
}
