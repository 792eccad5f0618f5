use clap::Parser;

/// Events are small JSON trees allocated and freed by the million on worker
/// threads; mimalloc keeps that off glibc's arena locks and page-fault churn
/// (measured in docs/performance.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    flowctl::cli::main(flowctl::cli::Cli::parse())
}
