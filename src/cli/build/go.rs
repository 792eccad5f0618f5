//! Go guests: `go build -buildmode=c-shared` for `GOOS=wasip1 GOARCH=wasm`,
//! which makes a WASI reactor (flowctl runs its `_initialize` once per
//! instance) exporting the ABI through `//go:wasmexport` (Go 1.24 or newer).
//!
//! Toolchain: `$FLOWCTL_GO`, else `go` on PATH when it is 1.24 or newer, else
//! the one `scripts/go-toolchain.sh` installs into a flowctl checkout's
//! `target/toolchains/go`.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context};

/// The oldest Go with `//go:wasmexport`.
const MIN_MINOR: u32 = 24;

pub fn build(dir: &Path, dest: &Path) -> anyhow::Result<()> {
    let go = find_go(dir)?;
    let out = tempfile::Builder::new().suffix(".wasm").tempfile().context("creating a temporary file")?;
    let mut cmd = Command::new(&go);
    cmd.current_dir(dir)
        .args(["build", "-buildmode=c-shared", "-trimpath", "-ldflags=-s -w", "-o"])
        .arg(out.path())
        .arg(".")
        .env("GOOS", "wasip1")
        .env("GOARCH", "wasm")
        // Never download another toolchain behind the user's back: a go.mod
        // asking for a newer Go fails with Go's own message instead.
        .env("GOTOOLCHAIN", "local");
    super::run_tool(cmd, &format!("{} build", go.display()))?;
    super::install(out.path(), dest)
}

fn find_go(dir: &Path) -> anyhow::Result<PathBuf> {
    if let Some(go) = std::env::var_os("FLOWCTL_GO") {
        return Ok(PathBuf::from(go));
    }
    let on_path = PathBuf::from("go");
    match minor_version(&on_path) {
        Some(minor) if minor >= MIN_MINOR => return Ok(on_path),
        _ => {}
    }
    let installed = dir
        .canonicalize()
        .ok()
        .and_then(|dir| dir.ancestors().map(|a| a.join("target/toolchains/go/bin/go")).find(|go| go.is_file()));
    if let Some(go) = installed.filter(|go| minor_version(go).is_some_and(|m| m >= MIN_MINOR)) {
        return Ok(go);
    }
    bail!(
        "no Go 1.{MIN_MINOR} or newer: install Go, set FLOWCTL_GO to its `go` binary, or run scripts/go-toolchain.sh \
         in a flowctl checkout"
    )
}

/// `N` of the `go1.N[.P]` the binary reports; `None` when it does not run.
fn minor_version(go: &Path) -> Option<u32> {
    let out = Command::new(go).args(["env", "GOVERSION"]).env("GOTOOLCHAIN", "local").output().ok()?;
    parse_minor(String::from_utf8_lossy(&out.stdout).trim())
}

fn parse_minor(version: &str) -> Option<u32> {
    version.strip_prefix("go1.")?.split(|c: char| !c.is_ascii_digit()).next()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_minor_version() {
        assert_eq!(parse_minor("go1.27.3"), Some(27));
        assert_eq!(parse_minor("go1.24rc1"), Some(24));
        assert_eq!(parse_minor("devel go1.28-abc"), None);
        assert_eq!(parse_minor(""), None);
    }
}
