//! `flowctl run`.

use std::process::ExitCode;

#[derive(Debug, clap::Args)]
pub struct Args {}

pub fn run(_args: Args, _log_level: Option<String>, _log_format: crate::telemetry::LogFormat) -> anyhow::Result<ExitCode> {
    anyhow::bail!("`flowctl run` is not implemented yet")
}
