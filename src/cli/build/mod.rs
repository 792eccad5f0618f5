//! `flowctl build [DIR]`: builds guest processors to optimised `.wasm`,
//! recognising the project's language by its manifest:
//!
//! - `Cargo.toml`: a Rust crate or the guest workspace (`rust`); modules land
//!   in `DIR/<crate>.wasm`;
//! - `go.mod`: a Go module built as a WASI reactor (`go`);
//! - `package.json`: an AssemblyScript package (`assemblyscript`).
//!
//! A Go or AssemblyScript project's module lands next to the project
//! (`processors/geo/` builds `processors/geo.wasm`), as a Rust crate's does.

mod assemblyscript;
mod go;
mod rust;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{bail, Context};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// A guest workspace, a guest crate, a Go module or an AssemblyScript package.
    #[arg(default_value = "processors")]
    pub dir: PathBuf,
    /// Rust only: build only this crate; repeatable (default: every crate).
    #[arg(short, long = "package", value_name = "CRATE")]
    pub packages: Vec<String>,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let dir = &args.dir;
    if !dir.is_dir() {
        bail!(
            "{} not found: give a Rust crate or workspace, a Go module or an AssemblyScript package directory",
            dir.display()
        );
    }
    if dir.join("Cargo.toml").is_file() {
        rust::build(dir, &args.packages)?;
        return Ok(ExitCode::SUCCESS);
    }
    if !args.packages.is_empty() {
        bail!("--package is for Rust workspaces; {} has no Cargo.toml", dir.display());
    }
    let dest = module_path(dir)?;
    if dir.join("go.mod").is_file() {
        go::build(dir, &dest)?;
    } else if dir.join("package.json").is_file() {
        assemblyscript::build(dir, &dest)?;
    } else {
        bail!(
            "{} has no Cargo.toml, go.mod or package.json: give a Rust crate or workspace, a Go module or an \
             AssemblyScript package",
            dir.display()
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// `parent/<project>.wasm` for the project at `dir`.
fn module_path(dir: &Path) -> anyhow::Result<PathBuf> {
    let dir = dir.canonicalize().with_context(|| format!("reading {}", dir.display()))?;
    match (dir.parent(), dir.file_name()) {
        (Some(parent), Some(name)) => Ok(parent.join(format!("{}.wasm", name.to_string_lossy()))),
        _ => bail!("{} has no parent directory to put the module in", dir.display()),
    }
}

/// Copies `built` to `dest` unless they are already the same: a pipeline
/// watching `dest` would otherwise reload for nothing. Prints `dest`.
fn install(built: &Path, dest: &Path) -> anyhow::Result<()> {
    let same = std::fs::read(built).ok().zip(std::fs::read(dest).ok()).is_some_and(|(a, b)| a == b);
    if !same {
        std::fs::copy(built, dest).with_context(|| format!("copying {} to {}", built.display(), dest.display()))?;
    }
    println!("{}", dest.display());
    Ok(())
}

/// Runs `cmd`, failing with `what` and its status when it fails. The tool's
/// output goes to stderr: stdout carries only the built modules' paths.
fn run_tool(mut cmd: std::process::Command, what: &str) -> anyhow::Result<()> {
    let status = cmd.stdout(std::io::stderr()).status().with_context(|| format!("running {what}"))?;
    if !status.success() {
        bail!("{what} failed ({status})");
    }
    Ok(())
}
