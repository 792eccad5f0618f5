//! `flowctl serve MODULE.wasm --listen ADDR`: one module as a standalone
//! `flowctl.v1.ProcessorService` (plus `grpc.health.v1` and reflection), with
//! the limits of `flowctl test`/`bench`, hot reload, and `/metrics`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;

use super::module_opts::ModuleOptions;
use crate::config::units;
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
    let spec = args.module_options.spec(&args.module)?;
    let name = spec.name.clone();

    let metrics = crate::telemetry::exporter::install().context("cannot install the Prometheus recorder")?;
    let health = Health::new();
    let _metrics_server = MetricsServer::start(args.metrics_addr, metrics, health.clone(), axum::Router::new())
        .with_context(|| format!("cannot serve metrics on {} (--metrics-addr)", args.metrics_addr))?;

    let runtime = Runtime::new(RuntimeSettings::default()).context("cannot start the WASM runtime")?;
    let settings = ServeSettings {
        module: args.module.clone(),
        spec,
        // Set by flowctl's process driver for the component it started.
        component_id: std::env::var("FLOWCTL_COMPONENT_ID").ok().filter(|id| !id.is_empty()),
        pool: args.pool,
        batching: Batching { max_batch: args.batch, in_flight: args.in_flight },
        hot_reload: !args.no_hot_reload,
        grace,
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
}
