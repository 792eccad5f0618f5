//! `flowctl serve MODULE.wasm --listen ADDR`: one module as a standalone
//! `flowctl.v1.ProcessorService` (plus `grpc.health.v1` and reflection), with
//! the limits of `flowctl test`/`bench`, hot reload, and `/metrics`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;

use super::module_opts::ModuleOptions;
use crate::config::units;
use crate::grpc::serve::register::ControlPlane;
use crate::grpc::serve::{self, Batching, Ending, Prepared, ServeSettings};
use crate::runtime::{Runtime, RuntimeSettings};
use crate::telemetry::{Health, LogFormat, MetricsServer};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The module to serve (.wasm, or .wat text).
    pub module: PathBuf,
    /// Address of the gRPC service. Without it, `127.0.0.1:$PORT` when the
    /// environment sets `PORT` (as flowctl's process driver does).
    #[arg(long, value_name = "ADDR")]
    pub listen: Option<SocketAddr>,
    /// Where `/metrics`, `/healthz` and `/readyz` listen (port 0 picks a free one).
    #[arg(long, default_value = "127.0.0.1:9464")]
    pub metrics_addr: SocketAddr,
    /// Worker threads running the module, each with its own instance.
    #[arg(long, default_value_t = 2)]
    pub pool: usize,
    /// Most events per guest call. A stream's batch holds what has already arrived, up to this.
    #[arg(long, default_value_t = 256)]
    pub batch: usize,
    /// Batches of one stream queued or running at once.
    #[arg(long, default_value_t = 4)]
    pub in_flight: usize,
    /// How long open streams may take to finish after SIGINT/SIGTERM.
    #[arg(long, default_value = "10s", value_name = "DURATION")]
    pub grace: String,
    /// Do not reload the module when its file is replaced.
    #[arg(long)]
    pub no_hot_reload: bool,
    /// Time between heartbeats to the control plane (when `ENABLE_FLOWCTL=true`).
    #[arg(long, default_value = "5s", value_name = "DURATION")]
    pub heartbeat: String,
    #[command(flatten)]
    pub module_options: ModuleOptions,
}

/// Exit code when the grace period ran out with streams still open.
const EXIT_INCOMPLETE: u8 = 1;

pub fn run(args: Args, log_level: Option<String>, log_format: LogFormat) -> anyhow::Result<ExitCode> {
    anyhow::ensure!(args.pool > 0, "--pool must be at least 1");
    anyhow::ensure!(args.batch > 0, "--batch must be at least 1");
    anyhow::ensure!(args.in_flight > 0, "--in-flight must be at least 1");
    crate::telemetry::logging::init(log_level.as_deref().unwrap_or("info"), log_format);
    let listen = listen_addr(args.listen, std::env::var("PORT").ok().as_deref())?;
    let grace = units::parse_duration(&args.grace).with_context(|| format!("--grace {}", args.grace))?;
    let heartbeat =
        units::parse_duration(&args.heartbeat).with_context(|| format!("--heartbeat {}", args.heartbeat))?;
    let spec = args.module_options.spec(&args.module)?;
    let name = spec.name.clone();
    // Set by flowctl's process driver for the component it started.
    let component_id = env("FLOWCTL_COMPONENT_ID");
    let control_plane = control_plane(env("ENABLE_FLOWCTL"), env("FLOWCTL_ENDPOINT"), component_id.as_deref(), &name)?
        .map(|(endpoint, component_id)| ControlPlane { endpoint, component_id, heartbeat });

    let metrics = crate::telemetry::exporter::install().context("cannot install the Prometheus recorder")?;
    let health = Health::new();
    let _metrics_server = MetricsServer::start(args.metrics_addr, metrics, health.clone(), axum::Router::new())
        .with_context(|| format!("cannot serve metrics on {} (--metrics-addr)", args.metrics_addr))?;

    let runtime = Runtime::new(RuntimeSettings::default()).context("cannot start the WASM runtime")?;
    let settings = ServeSettings {
        module: args.module.clone(),
        spec,
        component_id,
        pool: args.pool,
        batching: Batching { max_batch: args.batch, in_flight: args.in_flight },
        hot_reload: !args.no_hot_reload,
        grace,
        control_plane,
    };
    let prepared = Prepared::load(&runtime, settings)?;
    // Bound after the module loaded: a client that can connect gets served.
    let listener = std::net::TcpListener::bind(listen).with_context(|| format!("cannot listen on {listen}"))?;
    health.set_up(&name);

    let ending = crate::grpc::io::runtime()
        .block_on(serve::serve(prepared, listener, super::run::shutdown_signal()))
        .context("serving")?;
    health.set_down(&name, "stopped");
    Ok(match ending {
        Ending::Drained => ExitCode::SUCCESS,
        Ending::GraceExpired => ExitCode::from(EXIT_INCOMPLETE),
    })
}

/// `--listen`, else `127.0.0.1:$PORT`, else an error that says what to pass.
fn listen_addr(listen: Option<SocketAddr>, port: Option<&str>) -> anyhow::Result<SocketAddr> {
    if let Some(addr) = listen {
        return Ok(addr);
    }
    let Some(port) = port.filter(|p| !p.is_empty()) else {
        anyhow::bail!("where should it listen? pass --listen ADDR (e.g. --listen 127.0.0.1:50051) or set PORT");
    };
    let port: u16 = port.trim().parse().with_context(|| format!("PORT={port} is not a port number"))?;
    Ok(SocketAddr::from(([127, 0, 0, 1], port)))
}

/// A set, non-empty environment variable.
fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

/// Where to register and under which id, when `ENABLE_FLOWCTL` is true.
fn control_plane(
    enable: Option<String>,
    endpoint: Option<String>,
    component_id: Option<&str>,
    name: &str,
) -> anyhow::Result<Option<(String, String)>> {
    if !enable.is_some_and(|v| v.eq_ignore_ascii_case("true") || v == "1") {
        return Ok(None);
    }
    let endpoint = endpoint.context("ENABLE_FLOWCTL=true needs FLOWCTL_ENDPOINT (the control plane's address)")?;
    Ok(Some((endpoint, component_id.unwrap_or(name).to_owned())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listen_comes_from_the_flag_then_port_then_is_an_error() {
        let flag: SocketAddr = "0.0.0.0:7000".parse().expect("addr");
        assert_eq!(listen_addr(Some(flag), Some("9")).expect("flag"), flag);
        assert_eq!(listen_addr(None, Some("50053")).expect("port").to_string(), "127.0.0.1:50053");
        assert!(listen_addr(None, None).expect_err("neither").to_string().contains("--listen"));
        assert!(listen_addr(None, Some("http")).is_err());
    }

    #[test]
    fn registration_only_when_enabled_and_an_endpoint_is_given() {
        let some = |s: &str| Some(s.to_owned());
        assert_eq!(control_plane(None, some("cp:1"), None, "m").expect("off"), None);
        assert_eq!(control_plane(some("false"), some("cp:1"), None, "m").expect("off"), None);
        let on = control_plane(some("true"), some("cp:1"), Some("c7"), "m").expect("on");
        assert_eq!(on, Some(("cp:1".to_owned(), "c7".to_owned())));
        assert_eq!(control_plane(some("TRUE"), some("cp:1"), None, "m").expect("on"), some("cp:1").zip(some("m")));
        assert!(control_plane(some("true"), None, None, "m").is_err());
    }
}
