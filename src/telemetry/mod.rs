//! Logging setup and the names of every metric flowctl exports.

pub mod logging;

pub use logging::LogFormat;
