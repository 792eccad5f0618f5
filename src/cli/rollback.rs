//! `flowctl rollback PROCESSOR [--to VERSION]`: sends all of a running
//! processor's traffic to one version (default: the first in the file).

use std::process::ExitCode;

use super::admin_opts::{finish, AdminOptions};
use super::status::print_split;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The processor's id.
    pub processor: String,
    /// The version to keep (default: the first version in the pipeline file).
    #[arg(long, value_name = "VERSION")]
    pub to: Option<String>,
    #[command(flatten)]
    pub admin: AdminOptions,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    finish(args.admin.client()?.rollback(&args.processor, args.to), |answer| {
        println!("{}: all traffic now goes to {}", answer.processor.id, answer.to);
        print_split(&answer.processor);
    })
}
