//! `flowctl run [FILE]`: loads the pipeline, sets up logging, runs the engine
//! until its sources end or SIGINT/SIGTERM, and exits 0 once everything drained.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;

use crate::actors::EngineOptions;
use crate::admin::token::ADMIN_TOKEN_ENV;
use crate::config::TokenSource;
use crate::grpc::control_plane::ControlPlane;
use crate::grpc::process::Processes;
use crate::runtime::{Runtime, RuntimeSettings};
use crate::telemetry::audit::AuditLog;
use crate::telemetry::{Health, LogFormat, MetricsServer};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The pipeline file.
    #[arg(default_value_os_t = super::default_pipeline_file())]
    pub file: PathBuf,
    /// Where `/metrics`, `/healthz` and `/readyz` listen (overrides `settings.metrics_addr`).
    #[arg(long)]
    pub metrics_addr: Option<SocketAddr>,
    /// Read every source from its beginning, ignoring saved positions (new ones are still saved).
    #[arg(long)]
    pub from_start: bool,
}

/// Exit code when the grace period expired or a component failed.
const EXIT_INCOMPLETE: u8 = 1;
/// Exit code for a pipeline that cannot start (bad config, bad module).
const EXIT_CANNOT_START: u8 = 2;

pub fn run(args: Args, log_level: Option<String>, log_format: LogFormat) -> anyhow::Result<ExitCode> {
    let mut pipeline = match crate::config::load(&args.file) {
        Ok(pipeline) => pipeline,
        Err(errors) => {
            eprintln!("{errors}");
            return Ok(ExitCode::from(EXIT_CANNOT_START));
        }
    };
    if let Some(addr) = args.metrics_addr {
        pipeline.settings.metrics_addr = addr;
    }
    let level = log_level.unwrap_or_else(|| pipeline.settings.log_level.clone());
    let audit = match &pipeline.settings.audit_log {
        Some(path) => match AuditLog::open(path, pipeline.tenants()) {
            Ok(audit) => Some(audit),
            Err(err) => {
                eprintln!("{}: spec.settings.audit_log: {err}", args.file.display());
                return Ok(ExitCode::from(EXIT_CANNOT_START));
            }
        },
        None => None,
    };
    crate::telemetry::logging::init_with_audit(&level, log_format, audit);

    // The recorder goes in before anything records, and the endpoint binds
    // before the pipeline starts, so a taken port fails fast and by name.
    let metrics = crate::telemetry::exporter::install().context("cannot install the Prometheus recorder")?;
    let health = Health::new();
    let addr = pipeline.settings.metrics_addr;
    // The admin API shares the listener; off loopback it needs a token (also with --metrics-addr).
    let control = crate::admin::Control::new();
    let token = pipeline.settings.admin_token.as_ref();
    let access = match crate::admin::Access::new(addr, token.map(|t| t.secret.clone())) {
        Ok(access) => access,
        Err(err) => {
            eprintln!("{}: {err}", args.file.display());
            return Ok(ExitCode::from(EXIT_CANNOT_START));
        }
    };
    if let Some(token) = token {
        log_token_source(&token.source);
    }
    let admin_control = control.clone();
    let admin = move |local| crate::admin::router(admin_control, access.listening_on(local));
    let _server = MetricsServer::start_with(addr, metrics, health.clone(), admin)
        .with_context(|| format!("cannot serve metrics on {addr} (settings.metrics_addr / --metrics-addr)"))?;

    // Components that register (and the ones flowctl starts) need the control
    // plane before they start; the started ones need their endpoints before
    // the connectors are built. Both outlive the pipeline: they stop after the drain.
    let wanted = pipeline.settings.control_plane_addr;
    let driven = crate::grpc::process::any_driven(&pipeline);
    let control_plane = match wanted.or(driven.then(|| SocketAddr::from(([127, 0, 0, 1], 0)))) {
        Some(addr) => Some(
            ControlPlane::start(addr)
                .with_context(|| format!("cannot serve the control plane on {addr} (settings.control_plane_addr)"))?,
        ),
        None => None,
    };
    let plane_url = control_plane.as_ref().map(ControlPlane::url).unwrap_or_default();
    let mut processes = match Processes::start(&mut pipeline, &plane_url, &health) {
        Ok(processes) => processes,
        Err(err) => {
            tracing::error!("cannot start a component: {err}");
            return Ok(ExitCode::from(EXIT_CANNOT_START));
        }
    };

    let runtime = Runtime::new(RuntimeSettings::default()).context("cannot start the WASM runtime")?;
    let system = actix::System::new();
    let options = EngineOptions { health, control, from_start: args.from_start, ..EngineOptions::default() };
    let report = system
        .block_on(crate::actors::run_pipeline_with(pipeline, runtime, options, shutdown_signal()))
        .with_context(|| format!("pipeline {}", args.file.display()))?;
    processes.stop();
    Ok(if report.drained && report.errors.is_empty() { ExitCode::SUCCESS } else { ExitCode::from(EXIT_INCOMPLETE) })
}

/// Says which admin token is in force when that is not obvious from the
/// file, and warns about a token file others can read.
fn log_token_source(source: &TokenSource) {
    match source {
        TokenSource::File { path, loose_mode: Some(mode) } => {
            tracing::warn!("{}", crate::admin::token::loose_mode_warning(path, *mode));
        }
        TokenSource::Env { overrides: Some(key) } => {
            tracing::info!("the admin API token comes from {ADMIN_TOKEN_ENV}, which overrides {key}");
        }
        _ => {}
    }
}

/// Resolves on the first SIGINT or SIGTERM.
pub(crate) async fn shutdown_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    match signal(SignalKind::terminate()) {
        Ok(mut term) => {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
        }
        Err(err) => {
            tracing::warn!("cannot listen for SIGTERM ({err}); only Ctrl-C stops the pipeline");
            let _ = tokio::signal::ctrl_c().await;
        }
    }
    tracing::info!("signal received");
}
