//! Rust guests: builds crates to `.wasm` for `wasm32-unknown-unknown`
//! (release profile) and copies each module next to the workspace as
//! `DIR/<crate>.wasm`, where pipelines refer to it.
//!
//! Toolchain: rustup's wasm32 target when installed; otherwise Debian's
//! packaged Rust (which builds std itself with `-Zbuild-std`), as set up by
//! `scripts/wasm-toolchain.sh`.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context};
use serde::Deserialize;

const TARGET: &str = "wasm32-unknown-unknown";

/// Builds `packages` (all when empty) of the workspace or crate at `dir`.
pub fn build(dir: &Path, packages: &[String]) -> anyhow::Result<()> {
    let toolchain = Toolchain::detect()?;
    let mut build = toolchain.cargo(dir);
    build.args(["build", "--release", "--target", TARGET]);
    if packages.is_empty() {
        build.arg("--workspace");
    }
    for package in packages {
        build.args(["--package", package]);
    }
    let status = build.status().context("running cargo")?;
    if !status.success() {
        bail!("cargo build failed ({status})");
    }

    let metadata = Metadata::read(&toolchain, dir)?;
    let out_dir = metadata.target_directory.join(TARGET).join("release");
    for package in metadata.cdylibs(packages) {
        let built = out_dir.join(format!("{}.wasm", package.replace('-', "_")));
        super::install(&built, &dir.join(format!("{package}.wasm")))?;
    }
    Ok(())
}

/// Which Rust toolchain builds wasm32 on this machine.
enum Toolchain {
    /// rustup's cargo with the target's std installed.
    Rustup,
    /// Debian's rustc-web: std from source, linked by the lld matching its LLVM.
    Debian { wasm_ld: PathBuf },
}

impl Toolchain {
    fn detect() -> anyhow::Result<Self> {
        if rustup_has_target() {
            return Ok(Toolchain::Rustup);
        }
        if let Some(wasm_ld) = debian_wasm_ld() {
            return Ok(Toolchain::Debian { wasm_ld });
        }
        bail!(
            "no Rust toolchain for {TARGET}: run `rustup target add {TARGET}`, or scripts/wasm-toolchain.sh \
             from a flowctl checkout where rustup cannot download it"
        )
    }

    fn cargo(&self, dir: &Path) -> Command {
        match self {
            Toolchain::Rustup => {
                let mut cmd = Command::new("cargo");
                cmd.current_dir(dir);
                cmd
            }
            Toolchain::Debian { wasm_ld } => {
                let mut cmd = Command::new("/usr/bin/cargo");
                cmd.current_dir(dir)
                    .env_remove("RUSTUP_TOOLCHAIN")
                    .env_remove("RUSTC_WRAPPER")
                    .env("RUSTC", "/usr/bin/rustc")
                    .env("RUSTDOC", "/usr/bin/rustdoc")
                    .env("RUSTC_BOOTSTRAP", "1")
                    .env("CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_LINKER", wasm_ld)
                    // Its own target dir, so the two toolchains never rebuild each other's files.
                    .env("CARGO_TARGET_DIR", "target/debian")
                    .arg("-Zbuild-std=std,panic_abort");
                cmd
            }
        }
    }
}

fn rustup_has_target() -> bool {
    let Ok(out) = Command::new("rustc").args(["--print", "target-libdir", "--target", TARGET]).output() else {
        return false;
    };
    let libdir = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
    out.status.success()
        && std::fs::read_dir(libdir)
            .is_ok_and(|entries| entries.flatten().any(|e| e.file_name().to_string_lossy().starts_with("libstd-")))
}

/// Debian's wasm-ld matching `/usr/bin/rustc`'s LLVM, when that toolchain and its std source are installed.
fn debian_wasm_ld() -> Option<PathBuf> {
    let std_source = Path::new("/usr/lib/rustlib/src/rust/library/Cargo.lock");
    let out = Command::new("/usr/bin/rustc").arg("-vV").output().ok()?;
    let info = String::from_utf8_lossy(&out.stdout);
    let llvm = info.lines().find_map(|l| l.strip_prefix("LLVM version: "))?.split('.').next()?.to_string();
    let wasm_ld = PathBuf::from(format!("/usr/lib/llvm-{llvm}/bin/wasm-ld"));
    (std_source.is_file() && wasm_ld.is_file()).then_some(wasm_ld)
}

/// What `cargo metadata` says about the crates to copy.
#[derive(Deserialize)]
struct Metadata {
    target_directory: PathBuf,
    packages: Vec<Package>,
}

#[derive(Deserialize)]
struct Package {
    name: String,
    targets: Vec<Target>,
}

#[derive(Deserialize)]
struct Target {
    crate_types: Vec<String>,
}

impl Metadata {
    fn read(toolchain: &Toolchain, dir: &Path) -> anyhow::Result<Self> {
        let out = toolchain
            .cargo(dir)
            .args(["metadata", "--no-deps", "--format-version", "1"])
            .output()
            .context("running cargo metadata")?;
        if !out.status.success() {
            bail!("cargo metadata failed: {}", String::from_utf8_lossy(&out.stderr).trim());
        }
        serde_json::from_slice(&out.stdout).context("reading cargo metadata")
    }

    /// Packages with a `cdylib` target, limited to `only` when given.
    fn cdylibs(&self, only: &[String]) -> Vec<String> {
        self.packages
            .iter()
            .filter(|p| only.is_empty() || only.contains(&p.name))
            .filter(|p| p.targets.iter().any(|t| t.crate_types.iter().any(|c| c == "cdylib")))
            .map(|p| p.name.clone())
            .collect()
    }
}
