//! Shared helpers of the `engine_*` tests: a temp workspace with a pipeline
//! file, running the real binary, and reading its JSON log's shutdown report.

#![allow(dead_code, clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};

use serde_json::Value;

/// Absolute path of a guest module built from `processors/`.
pub fn guest(name: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("processors").join(format!("{name}.wasm"));
    assert!(path.exists(), "{} is missing: run scripts/build-processors.sh first", path.display());
    path.display().to_string()
}

/// Absolute path of a hand-written WAT guest in `tests/guests/`.
pub fn wat_guest(name: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/guests").join(format!("{name}.wat")).display().to_string()
}

/// Copies the directory tree `from` to `to`, leaving out what builds and
/// installs put there (`target`, `build`, `node_modules`).
pub fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap().flatten() {
        let name = entry.file_name();
        if ["target", "build", "node_modules"].iter().any(|skip| name == *skip) {
            continue;
        }
        let path = entry.path();
        if path.is_dir() {
            copy_tree(&path, &to.join(&name));
        } else {
            std::fs::copy(&path, to.join(&name)).unwrap();
        }
    }
}

pub struct Workspace {
    pub dir: tempfile::TempDir,
}

impl Workspace {
    pub fn new() -> Self {
        Self { dir: tempfile::tempdir().unwrap() }
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Writes `pipeline.yaml` with `spec` (indented two spaces under `spec:`).
    pub fn pipeline(&self, spec: &str) -> PathBuf {
        let text = format!("apiVersion: flowctl/v1\nkind: Pipeline\nmetadata: {{name: test}}\nspec:{spec}");
        let path = self.path("pipeline.yaml");
        std::fs::write(&path, text).unwrap();
        path
    }

    pub fn command(&self, file: &Path) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_flowctl"));
        cmd.args(["--log-format", "json", "--log-level", "info", "run"]).arg(file).current_dir(self.dir.path());
        // A free port per run: tests run in parallel, and the default port may be taken.
        cmd.args(["--metrics-addr", "127.0.0.1:0"]);
        cmd
    }

    /// Runs the pipeline to its end.
    pub fn run(&self, file: &Path) -> Run {
        Run::from_output(self.command(file).output().unwrap())
    }

    /// Starts the pipeline without waiting; its log is collected, stdout goes to `stdout`.
    pub fn spawn(&self, file: &Path, stdout: Stdio) -> Child {
        self.command(file).stdout(stdout).stderr(Stdio::piped()).spawn().unwrap()
    }

    /// Every JSON line of a file in the workspace.
    pub fn events(&self, name: &str) -> Vec<Value> {
        let text = std::fs::read_to_string(self.path(name)).unwrap_or_default();
        text.lines().map(|l| serde_json::from_str(l).unwrap()).collect()
    }
}

/// Kills process `pid` when dropped, so a failed assertion leaves no run
/// behind (a followed file or a NATS consumer never ends by itself). Killing
/// a process that already ended is harmless.
pub struct KillOnDrop(pub u32);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        // SAFETY: kill(2) with a pid this test spawned and a valid signal number.
        unsafe { libc::kill(self.0 as libc::pid_t, libc::SIGKILL) };
    }
}

/// A finished run: exit code, output and the parsed log.
pub struct Run {
    pub code: Option<i32>,
    pub stderr: String,
    pub logs: Vec<Value>,
}

impl Run {
    pub fn from_output(output: Output) -> Run {
        let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
        let logs = stderr.lines().filter_map(|l| serde_json::from_str(l).ok()).collect();
        Run { code: output.status.code(), stderr, logs }
    }

    pub fn assert_success(&self) {
        assert_eq!(self.code, Some(0), "flowctl run failed:\n{}", self.stderr);
    }

    /// The fields of the report line `message` for `component`.
    pub fn report(&self, message: &str, component: &str) -> &Value {
        self.logs
            .iter()
            .map(|l| &l["fields"])
            .find(|f| f["message"] == message && f["component"] == component)
            .unwrap_or_else(|| panic!("no `{message}` line for {component} in:\n{}", self.stderr))
    }

    pub fn processor(&self, id: &str) -> &Value {
        self.report("processor finished", id)
    }

    pub fn source(&self, id: &str) -> &Value {
        self.report("source finished", id)
    }

    pub fn sink(&self, id: &str) -> &Value {
        self.report("sink finished", id)
    }
}
