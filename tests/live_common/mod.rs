//! Shared helpers of the `live_*` tests: a running `flowctl run` with its
//! admin API on a free loopback port, its log in a file, and polling with
//! timeouts (never a sleep as an assertion).

#![allow(dead_code, clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

/// Absolute path of a guest module built from `processors/`.
pub fn guest(name: &str) -> PathBuf {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("processors").join(format!("{name}.wasm"));
    assert!(path.exists(), "{} is missing: run scripts/build-processors.sh first", path.display());
    path
}

pub fn test_guest(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/guests").join(name)
}

/// `module` with a custom section appended: the same code under a different
/// content hash, so a reload to it changes the version tag.
pub fn variant(module: &Path, tag: &str) -> Vec<u8> {
    let mut bytes = std::fs::read(module).unwrap();
    let name = b"flowctl-test";
    let mut payload = vec![name.len() as u8];
    payload.extend_from_slice(name);
    payload.extend_from_slice(tag.as_bytes());
    assert!(payload.len() < 128, "one-byte LEB128 size");
    bytes.push(0); // custom section id
    bytes.push(payload.len() as u8);
    bytes.extend_from_slice(&payload);
    bytes
}

/// The version tag outputs carry for `bytes` when the version has no name.
pub fn short_hash(bytes: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(bytes))[..12].to_string()
}

/// Replaces `target` as a deployment would: write a temporary file, rename it over.
pub fn rename_over(target: &Path, bytes: &[u8]) {
    let tmp = target.with_extension("wasm.tmp");
    std::fs::write(&tmp, bytes).unwrap();
    std::fs::rename(&tmp, target).unwrap();
}

/// The module version tags of `events`, one entry per run of equal tags, in order.
pub fn version_runs(events: &[Value]) -> Vec<String> {
    let mut runs: Vec<String> = Vec::new();
    for e in events {
        let tag = e["metadata"]["flowctl.module_version"].as_str().unwrap();
        if runs.last().map(String::as_str) != Some(tag) {
            runs.push(tag.to_string());
        }
    }
    runs
}

/// A free loopback port (bound, then released for flowctl to take).
pub fn free_addr() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().to_string()
}

/// Polls `check` every 20 ms until it returns `Some`, or panics after `timeout`.
pub fn wait_for<T>(timeout: Duration, what: &str, mut check: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(value) = check() {
            return value;
        }
        assert!(Instant::now() < deadline, "timed out after {timeout:?} waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

pub const LONG: Duration = Duration::from_secs(90);

pub fn flowctl() -> Command {
    Command::new(env!("CARGO_BIN_EXE_flowctl"))
}

/// A `flowctl` verb's output, decoded.
pub struct Cli {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

pub fn cli(args: &[&str]) -> Cli {
    let Output { status, stdout, stderr } = flowctl().args(args).output().unwrap();
    Cli {
        code: status.code(),
        stdout: String::from_utf8_lossy(&stdout).into_owned(),
        stderr: String::from_utf8_lossy(&stderr).into_owned(),
    }
}

pub use crate::engine_common::Workspace;

/// The live tests' additions to the shared workspace.
impl Workspace {
    /// Writes `pipeline.yaml` with `spec` (indented two spaces under `spec:`);
    /// dead letters go to `dead.jsonl`.
    pub fn live_pipeline(&self, spec: &str) -> PathBuf {
        self.live_pipeline_with("{dead_letter: {type: file, path: dead.jsonl}}", spec)
    }

    /// [`Workspace::live_pipeline`] with `settings` (a YAML flow mapping).
    pub fn live_pipeline_with(&self, settings: &str, spec: &str) -> PathBuf {
        let text = format!(
            "apiVersion: flowctl/v1\nkind: Pipeline\nmetadata: {{name: live}}\nspec:\n  settings: {settings}{spec}"
        );
        let path = self.path("pipeline.yaml");
        std::fs::write(&path, text).unwrap();
        path
    }

    /// Starts `flowctl run` on the pipeline with the admin API on a free port.
    pub fn start(&self, file: &Path, stdin: Stdio) -> Live {
        self.start_as(file, stdin, None)
    }

    /// [`Workspace::start`] for a pipeline whose admin API wants `token`.
    pub fn start_as(&self, file: &Path, stdin: Stdio, token: Option<&str>) -> Live {
        self.start_with_env(file, stdin, token, &[])
    }

    /// [`Workspace::start_as`] with `envs` set; `FLOWCTL_ADMIN_TOKEN` is never
    /// inherited from the test's own environment.
    pub fn start_with_env(&self, file: &Path, stdin: Stdio, token: Option<&str>, envs: &[(&str, &str)]) -> Live {
        let addr = free_addr();
        let log = self.path("flowctl.log");
        let child = flowctl()
            .args(["--log-format", "json", "--log-level", "info", "run"])
            .arg(file)
            .args(["--metrics-addr", &addr])
            .env_remove("FLOWCTL_ADMIN_TOKEN")
            .envs(envs.iter().copied())
            .current_dir(self.dir.path())
            .stdin(stdin)
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        let live = Live { child, addr, log, token: token.map(str::to_string) };
        live.wait_ready();
        live
    }
}

/// A running pipeline.
pub struct Live {
    pub child: Child,
    pub addr: String,
    pub log: PathBuf,
    /// Sent by the status polls (not by [`Live::cli`]).
    pub token: Option<String>,
}

impl Live {
    /// Waits until the admin API lists the processors: the pipeline is running
    /// (and a signal stops it cleanly rather than killing it mid-start).
    fn wait_ready(&self) {
        wait_for(LONG, "the admin API to list the processors", || {
            let status = self.try_status()?;
            (!status["processors"].as_array()?.is_empty()).then_some(())
        });
    }

    fn try_status(&self) -> Option<Value> {
        let mut request = ureq::get(format!("http://{}/admin/status", self.addr));
        if let Some(token) = &self.token {
            request = request.header("authorization", format!("Bearer {token}"));
        }
        let mut response = request.call().ok()?;
        serde_json::from_str(&response.body_mut().read_to_string().ok()?).ok()
    }

    /// `GET /admin/status`.
    pub fn status(&self) -> Value {
        self.try_status().unwrap_or_else(|| panic!("no status from {}:\n{}", self.addr, self.log_text()))
    }

    /// The status of one version of one processor.
    pub fn version(&self, processor: &str, version: usize) -> Value {
        let status = self.status();
        let p = status["processors"].as_array().unwrap().iter().find(|p| p["id"] == processor).unwrap().clone();
        p["versions"][version].clone()
    }

    pub fn processor(&self, processor: &str) -> Value {
        let status = self.status();
        status["processors"].as_array().unwrap().iter().find(|p| p["id"] == processor).unwrap().clone()
    }

    /// `/metrics` text.
    pub fn metrics(&self) -> String {
        let mut response = ureq::get(format!("http://{}/metrics", self.addr)).call().unwrap();
        response.body_mut().read_to_string().unwrap()
    }

    /// A `flowctl` admin verb against this pipeline.
    pub fn cli(&self, args: &[&str]) -> Cli {
        let mut all: Vec<&str> = args.to_vec();
        all.extend(["--addr", &self.addr]);
        cli(&all)
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// JSON log lines whose message starts with `prefix`.
    pub fn log_lines(&self, prefix: &str) -> Vec<Value> {
        self.log_text()
            .lines()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .filter(|l| l["fields"]["message"].as_str().is_some_and(|m| m.starts_with(prefix)))
            .collect()
    }

    /// SIGINT, then waits for the drain; returns the exit code.
    pub fn stop(mut self) -> (Option<i32>, String) {
        // SAFETY: kill(2) on our own child's pid.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGINT) };
        self.wait()
    }

    /// Waits for the process to end by itself.
    pub fn wait(&mut self) -> (Option<i32>, String) {
        let status = wait_for(LONG, "flowctl to exit", || self.child.try_wait().unwrap());
        (status.code(), self.log_text())
    }

    /// The `processor finished` / `source finished` / ... report line of `component`.
    pub fn report(log: &str, message: &str, component: &str) -> Value {
        log.lines()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .map(|l| l["fields"].clone())
            .find(|f| f["message"] == message && f["component"] == component)
            .unwrap_or_else(|| panic!("no `{message}` line for {component} in:\n{log}"))
    }
}

impl Drop for Live {
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}
