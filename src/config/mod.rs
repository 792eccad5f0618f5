//! `flowctl.yaml`: parse, validate, resolve.
//!
//! [`load`] reads a pipeline file and returns the validated [`Pipeline`] or every
//! problem found, each as `file:line: key: message`. The stages, one module each:
//! `yaml` parses text into the `raw` file structs (the connectors' typed
//! `config:` in `raw_connectors`), `graph` checks the component DAG, and
//! `resolve` / `resolve_wasm` / `resolve_http` / `resolve_signing` check values, apply [`defaults`] and resolve paths
//! into the [`model`]. Sizes and durations parse in [`units`]; every key and
//! default is documented in `docs/configuration.md`.

pub mod defaults;
pub mod error;
mod graph;
pub mod model;
mod raw;
mod raw_connectors;
mod raw_grpc;
mod raw_nats;
mod resolve;
mod resolve_admin;
mod resolve_grpc;
mod resolve_http;
mod resolve_nats;
mod resolve_progress;
mod resolve_quota;
mod resolve_signing;
mod resolve_wasm;
pub mod units;
mod yaml;

use std::path::{Path, PathBuf};

pub use error::{ConfigError, ConfigErrors};
pub use model::*;
pub use resolve::{API_VERSION, KIND};
pub use resolve_admin::Environment;

/// Reads, parses and validates a pipeline file. Relative paths in it resolve
/// against its directory. Reads [`Environment::from_process`] (the admin token).
pub fn load(path: &Path) -> Result<Pipeline, ConfigErrors> {
    let text = std::fs::read_to_string(path).map_err(|error| ConfigError {
        file: path.to_path_buf(),
        line: None,
        key: String::new(),
        message: match error.kind() {
            std::io::ErrorKind::NotFound => "no such file".to_string(),
            _ => format!("cannot read: {error}"),
        },
    })?;
    parse_with(&text, path, &Environment::from_process())
}

/// What `flowctl validate` runs: everything [`load`] checks, nothing started.
pub fn validate_file(path: &Path) -> Result<Pipeline, ConfigErrors> {
    load(path)
}

/// Parses and validates pipeline text as if it were read from `file`
/// (messages name `file`; relative paths resolve against its directory),
/// with nothing taken from the environment.
pub fn parse_str(text: &str, file: &Path) -> Result<Pipeline, ConfigErrors> {
    parse_with(text, file, &Environment::default())
}

/// [`parse_str`] with what [`load`] would take from the environment.
pub fn parse_with(text: &str, file: &Path, env: &Environment) -> Result<Pipeline, ConfigErrors> {
    let raw = yaml::parse(text, file)?;
    resolve::resolve(raw, file, &base_dir(file), env)
}

/// The directory of `file`, absolute, so resolved paths do not depend on a later `cd`.
fn base_dir(file: &Path) -> PathBuf {
    let dir = match file.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    };
    std::path::absolute(dir).unwrap_or_else(|_| dir.to_path_buf())
}

#[cfg(test)]
mod admin_tests;
#[cfg(test)]
mod check_tests;
#[cfg(test)]
mod grpc_tests;
#[cfg(test)]
mod signing_tests;
#[cfg(test)]
mod tests;
