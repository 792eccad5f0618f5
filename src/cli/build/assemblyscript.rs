//! AssemblyScript guests: the package's own pinned `asc` compiles
//! `assembly/index.ts` with `--optimize` (the project's `asconfig.json`, when
//! present, adds its options). Dependencies are installed first when
//! `node_modules` is missing or older than the manifest or lock file (`npm ci`
//! with a lock file, else `npm install`, which writes one to commit).
//!
//! Toolchain: `node` and `npm` on PATH (Node 18 or newer);
//! `scripts/assemblyscript-toolchain.sh` installs them on Debian.

use std::path::Path;
use std::process::Command;

use anyhow::{bail, Context};

/// The entry every flowctl AssemblyScript project has.
const ENTRY: &str = "assembly/index.ts";

pub fn build(dir: &Path, dest: &Path) -> anyhow::Result<()> {
    if !dir.join(ENTRY).is_file() {
        bail!("{} has no {ENTRY}: is it an AssemblyScript processor?", dir.display());
    }
    if needs_install(dir) {
        let mut install = Command::new("npm");
        let verb = if dir.join("package-lock.json").is_file() { "ci" } else { "install" };
        install.current_dir(dir).args([verb, "--no-audit", "--no-fund"]);
        super::run_tool(install, &format!("npm {verb} (node and npm must be installed)"))?;
    }
    let asc = dir.join("node_modules/.bin/asc");
    if !asc.is_file() {
        bail!("{} is missing: add `assemblyscript` to the package's devDependencies", asc.display());
    }
    // Absolute: the command runs in `dir`, where a relative path would not lead.
    let asc = asc.canonicalize().with_context(|| format!("reading {}", asc.display()))?;
    let out = tempfile::Builder::new().suffix(".wasm").tempfile().context("creating a temporary file")?;
    let mut cmd = Command::new(&asc);
    cmd.current_dir(dir).args([ENTRY, "--optimize", "--outFile"]).arg(out.path());
    super::run_tool(cmd, "asc")?;
    super::install(out.path(), dest)
}

/// npm's record of what it installed is missing, or older than what it was installed from.
fn needs_install(dir: &Path) -> bool {
    let modified = |name: &str| std::fs::metadata(dir.join(name)).and_then(|m| m.modified()).ok();
    let Some(installed) = modified("node_modules/.package-lock.json") else {
        return true;
    };
    ["package.json", "package-lock.json"].iter().filter_map(|f| modified(f)).any(|changed| changed > installed)
}
