//! The `flowctl` command line: one file per verb. Flags only here; work in the library.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod admin_opts;
pub mod bench;
pub mod build;
pub mod keygen;
mod module_opts;
pub mod new;
pub mod rollback;
pub mod run;
mod scaffold;
pub mod serve;
pub mod sign;
pub mod state;
pub mod status;
pub mod test;
pub mod traffic;
pub mod validate;
pub mod verify;

/// WASM-native stream processing: native sources and sinks, sandboxed WebAssembly processors.
#[derive(Debug, Parser)]
#[command(name = "flowctl", version, about)]
pub struct Cli {
    /// Log level: error, warn, info, debug, trace (overrides the pipeline's setting).
    #[arg(long, global = true)]
    pub log_level: Option<String>,
    /// Log format.
    #[arg(long, global = true, value_enum, default_value_t = crate::telemetry::LogFormat::Human)]
    pub log_format: crate::telemetry::LogFormat,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run a pipeline (default: ./flowctl.yaml).
    Run(run::Args),
    /// Check a pipeline file or a processor module and say what is wrong.
    Validate(validate::Args),
    /// Run events through a module and compare with expected output.
    Test(test::Args),
    /// Scaffold new things (`flowctl new processor NAME [--lang rust|go|assemblyscript]`).
    New(new::Args),
    /// Build guest processors (Rust, Go, AssemblyScript) to optimised .wasm.
    Build(build::Args),
    /// Measure a module's throughput and latency outside a pipeline.
    Bench(bench::Args),
    /// Serve one module as a gRPC `flowctl.v1.ProcessorService` (with health and reflection).
    Serve(serve::Args),
    /// Show or clear a pipeline's saved progress (`flowctl state show|reset [PIPELINE]`).
    State(state::Args),
    /// Show a running pipeline's processors, versions, weights, errors and instances.
    Status(status::Args),
    /// Set a running processor's traffic split (`flowctl traffic ttp v1=90 v2=10`).
    Traffic(traffic::Args),
    /// Send a running processor's traffic back to one version.
    Rollback(rollback::Args),
    /// Make an Ed25519 key pair for signing modules.
    Keygen(keygen::Args),
    /// Sign a module (embeds the signature; replaces an earlier one).
    Sign(sign::Args),
    /// Check a module's signature against public keys.
    Verify(verify::Args),
}

/// Entry point used by `main.rs`; returns the process exit code.
pub fn main(cli: Cli) -> ExitCode {
    if cli.command.only_reports() {
        die_quietly_on_closed_stdout();
    }
    let result = match cli.command {
        Command::Run(args) => run::run(args, cli.log_level, cli.log_format),
        Command::Validate(args) => validate::run(args),
        Command::Test(args) => test::run(args, cli.log_level.as_deref()),
        Command::New(args) => new::run(args),
        Command::Build(args) => build::run(args),
        Command::Bench(args) => bench::run(args),
        Command::Serve(args) => serve::run(args, cli.log_level, cli.log_format),
        Command::State(args) => state::run(args),
        Command::Status(args) => status::run(args),
        Command::Traffic(args) => traffic::run(args),
        Command::Rollback(args) => rollback::run(args),
        Command::Keygen(args) => keygen::run(args),
        Command::Sign(args) => sign::run(args),
        Command::Verify(args) => verify::run(args),
    };
    match result {
        Ok(code) => code,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::from(2)
        }
    }
}

impl Command {
    /// Verbs whose work is printing a report: when the reader goes away
    /// (`flowctl validate m.wasm | head`), there is nothing left to do.
    /// `run` and `serve` are not among them: their stdout may be a sink, and
    /// a closed one is an error to report and drain after, not a reason to die.
    fn only_reports(&self) -> bool {
        matches!(
            self,
            Command::Validate(_) | Command::Test(_) | Command::Status(_) | Command::State(_) | Command::Bench(_)
        )
    }
}

/// Restores the default SIGPIPE action, which Rust's runtime ignores: a
/// write to a closed pipe then ends the process like any Unix filter's,
/// instead of panicking with "failed printing to stdout".
fn die_quietly_on_closed_stdout() {
    // SAFETY: setting a signal's disposition to SIG_DFL before any thread
    // is started has no memory-safety preconditions.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}

/// Default pipeline file for verbs that take one.
pub fn default_pipeline_file() -> PathBuf {
    PathBuf::from("flowctl.yaml")
}
