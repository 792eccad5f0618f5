//! `flowctl state show|reset [PIPELINE]`: what a pipeline saved about its
//! progress (each source's position, each processor's state size), and
//! forgetting it so the next run starts from the beginning.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, UNIX_EPOCH};

use anyhow::Context;

use crate::progress::{self, StateStore};

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    pub action: Action,
}

#[derive(Debug, clap::Subcommand)]
pub enum Action {
    /// Show saved source positions and processor state sizes.
    Show {
        /// The pipeline file.
        #[arg(default_value_os_t = super::default_pipeline_file())]
        file: PathBuf,
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Delete the saved progress and state: the next run starts from the beginning.
    Reset {
        /// The pipeline file.
        #[arg(default_value_os_t = super::default_pipeline_file())]
        file: PathBuf,
    },
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    match args.action {
        Action::Show { file, json } => show(&file, json),
        Action::Reset { file } => reset(&file),
    }
}

fn load(file: &std::path::Path) -> anyhow::Result<crate::config::Pipeline> {
    crate::config::load(file).map_err(|errors| anyhow::anyhow!("{errors}"))
}

fn show(file: &std::path::Path, json: bool) -> anyhow::Result<ExitCode> {
    let pipeline = load(file)?;
    let dir = &pipeline.settings.state_dir;
    let context = || format!("pipeline {}", file.display());
    let Some(store) = StateStore::open_existing(dir, &pipeline.name).with_context(context)? else {
        match json {
            true => println!("{}", serde_json::json!({"store": null, "sources": {}, "processors": {}})),
            false => println!(
                "pipeline {}: nothing saved yet (no {})",
                pipeline.name,
                progress::store_path(dir, &pipeline.name).display()
            ),
        }
        return Ok(ExitCode::SUCCESS);
    };
    let positions = store.positions().with_context(context)?;
    let sizes = store.state_sizes().with_context(context)?;
    if json {
        let report = serde_json::json!({"store": store.path(), "sources": positions, "processors": sizes});
        println!("{}", serde_json::to_string_pretty(&report)?);
        return Ok(ExitCode::SUCCESS);
    }
    println!("pipeline {}, state store {}", pipeline.name, store.path().display());
    println!("sources:");
    if positions.is_empty() {
        println!("  (no position saved)");
    }
    for (id, saved) in &positions {
        let at = UNIX_EPOCH + Duration::from_millis(saved.saved_at.max(0) as u64);
        let at = humantime::format_rfc3339_seconds(at);
        println!("  {id:<16} {:<10} {:<40} saved {at}", saved.position.kind(), saved.position.to_string());
    }
    if !sizes.is_empty() {
        println!("processor state:");
        for (id, size) in &sizes {
            println!("  {id:<16} {} keys, {} bytes", size.keys, size.bytes);
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn reset(file: &std::path::Path) -> anyhow::Result<ExitCode> {
    let pipeline = load(file)?;
    let dir = &pipeline.settings.state_dir;
    let path = progress::store_path(dir, &pipeline.name);
    match progress::reset(dir, &pipeline.name).with_context(|| format!("pipeline {}", file.display()))? {
        true => println!("removed {}: the next run of {} starts from the beginning", path.display(), pipeline.name),
        false => println!("pipeline {}: nothing saved (no {})", pipeline.name, path.display()),
    }
    Ok(ExitCode::SUCCESS)
}
