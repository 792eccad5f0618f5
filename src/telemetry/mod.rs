//! Logging setup, the audit log, metric names, health state and the HTTP
//! endpoint serving them.

pub mod audit;
pub mod exporter;
pub mod health;
pub mod logging;
pub mod names;
pub mod server;

pub use health::Health;
pub use logging::LogFormat;
pub use server::MetricsServer;
