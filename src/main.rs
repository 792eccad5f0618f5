use clap::Parser;

fn main() -> std::process::ExitCode {
    flowctl::cli::main(flowctl::cli::Cli::parse())
}
