//! The process driver: gRPC sources, processors and sinks whose config says
//! `command:` are started by `flowctl run` itself, the way the original
//! design's Go driver ran them. For each one: pick its port (the endpoint's,
//! or a free loopback port), start the command with `ENABLE_FLOWCTL=true`,
//! `FLOWCTL_ENDPOINT` (the control plane), `FLOWCTL_COMPONENT_ID`, `PORT`,
//! `HEALTH_PORT` and its `env:`, wait until it answers `HealthCheck`, and
//! point the component's `endpoint` at it. A watcher restarts it (same port,
//! with backoff) whenever it exits; the connectors just reconnect. On
//! shutdown, after the pipeline drained: SIGTERM, then SIGKILL after
//! `stop_grace`. Each child leads a process group of its own: a Ctrl-C at
//! the terminal reaches flowctl only (which stops them in order), and
//! signals go to the whole group, so nothing a wrapper script started is
//! left behind.

use std::collections::VecDeque;
use std::io::{BufRead, BufReader};
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use super::process_ready::{wait_ready, ComponentKind, NotReady};
use super::remote::{Backoff, Remote};
use crate::config::{Pipeline, ProcessSpec, ProcessorKind, RemoteSpec, SinkKind, SourceKind};
use crate::telemetry::{names, Health};

/// How often a watcher looks whether its process still runs.
const WATCH_TICK: Duration = Duration::from_millis(50);
/// Output lines kept to explain a process that failed to start.
const TAIL_LINES: usize = 20;
/// How long a failed start waits for the rest of the process's output.
const OUTPUT_DRAIN: Duration = Duration::from_millis(500);

#[derive(Debug, thiserror::Error)]
pub enum ProcessError {
    #[error("{component}: no free loopback port: {source}")]
    Port { component: String, source: std::io::Error },
    #[error("{component}: endpoint {endpoint:?} names no port for the process to listen on")]
    NoPort { component: String, endpoint: String },
    #[error("{component}: {source}")]
    Remote { component: String, source: super::remote::RemoteError },
    #[error("{component}: cannot start {program}: {source}")]
    Spawn { component: String, program: String, source: std::io::Error },
    #[error("{component}: {reason}{}", tail_text(.tail))]
    NotReady { component: String, reason: NotReady, tail: Vec<String> },
}

fn tail_text(tail: &[String]) -> String {
    match tail.is_empty() {
        true => String::new(),
        false => format!("; its last output:\n  {}", tail.join("\n  ")),
    }
}

/// Whether any component of `pipeline` is process-driven.
pub fn any_driven(pipeline: &Pipeline) -> bool {
    let sources = pipeline.sources.iter().filter_map(|s| match &s.kind {
        SourceKind::Grpc(c) => Some(&c.remote),
        _ => None,
    });
    let processors = pipeline.processors.iter().filter_map(|p| match &p.kind {
        ProcessorKind::Grpc(c) => Some(&c.remote),
        ProcessorKind::Wasm(_) => None,
    });
    let sinks = pipeline.sinks.iter().filter_map(|s| match &s.kind {
        SinkKind::Grpc(c) => Some(&c.remote),
        _ => None,
    });
    sources.chain(processors).chain(sinks).any(|r| r.process.is_some())
}

/// The process-driven components of one run. Stopping them (explicitly or
/// by drop) never leaves a child behind.
pub struct Processes {
    driven: Vec<Arc<Driven>>,
}

impl Processes {
    /// Starts every process-driven component of `pipeline`, waits until each
    /// answers, and writes its endpoint into the pipeline. Blocks (call it
    /// outside any async runtime). A failure stops the ones already started.
    pub fn start(pipeline: &mut Pipeline, control_plane: &str, health: &Health) -> Result<Processes, ProcessError> {
        let mut processes = Processes { driven: Vec::new() };
        let mut remotes: Vec<(&str, ComponentKind, &mut RemoteSpec)> = Vec::new();
        for s in &mut pipeline.sources {
            if let SourceKind::Grpc(c) = &mut s.kind {
                remotes.push((&s.id, ComponentKind::Source, &mut c.remote));
            }
        }
        for p in &mut pipeline.processors {
            if let ProcessorKind::Grpc(c) = &mut p.kind {
                remotes.push((&p.id, ComponentKind::Processor, &mut c.remote));
            }
        }
        for s in &mut pipeline.sinks {
            if let SinkKind::Grpc(c) = &mut s.kind {
                remotes.push((&s.id, ComponentKind::Consumer, &mut c.remote));
            }
        }
        for (id, kind, remote) in remotes {
            let Some(spec) = remote.process.clone() else { continue };
            let (endpoint, port) = endpoint_and_port(id, remote.endpoint.as_deref())?;
            let health_port = free_port(id)?;
            let env = vec![
                ("ENABLE_FLOWCTL".to_owned(), "true".to_owned()),
                ("FLOWCTL_ENDPOINT".to_owned(), control_plane.to_owned()),
                ("FLOWCTL_COMPONENT_ID".to_owned(), id.to_owned()),
                ("PORT".to_owned(), port.to_string()),
                ("HEALTH_PORT".to_owned(), health_port.to_string()),
            ];
            let client = Remote::new(&endpoint, remote)
                .map_err(|source| ProcessError::Remote { component: id.to_owned(), source })?;
            let driven = Arc::new(Driven {
                id: id.to_owned(),
                kind,
                spec,
                env,
                remote: client,
                child: Mutex::new(None),
                started: Mutex::new(Instant::now()),
                stopping: AtomicBool::new(false),
                tail: Arc::new(Mutex::new(VecDeque::new())),
                forwarders: Mutex::new(Vec::new()),
            });
            processes.driven.push(driven.clone());
            driven.spawn()?;
            super::io::runtime().block_on(driven.ready())?;
            tracing::info!(component = %id, endpoint, pid = driven.pid(), "component process ready");
            remote.endpoint = Some(endpoint);
            super::io::handle().spawn(watch(driven, Backoff::new(&remote.backoff), health.clone()));
        }
        Ok(processes)
    }

    /// SIGTERM to every child, then SIGKILL to those still running after their `stop_grace`.
    pub fn stop(&mut self) {
        for d in &self.driven {
            d.stopping.store(true, Relaxed);
            if let Some(pid) = d.pid() {
                signal_group(pid, libc::SIGTERM);
            }
        }
        for d in std::mem::take(&mut self.driven) {
            d.stop_within(d.spec.stop_grace);
        }
    }
}

impl Drop for Processes {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The given endpoint and its port, or a loopback endpoint on a free port.
fn endpoint_and_port(id: &str, given: Option<&str>) -> Result<(String, u16), ProcessError> {
    let Some(endpoint) = given else {
        let port = free_port(id)?;
        return Ok((format!("http://127.0.0.1:{port}"), port));
    };
    let port = endpoint.parse::<tonic::transport::Uri>().ok().and_then(|uri| uri.port_u16());
    let port = port.ok_or_else(|| ProcessError::NoPort { component: id.to_owned(), endpoint: endpoint.to_owned() })?;
    Ok((endpoint.to_owned(), port))
}

/// A loopback port nothing listens on right now (bound, then released).
fn free_port(id: &str) -> Result<u16, ProcessError> {
    let port = std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port());
    port.map_err(|source| ProcessError::Port { component: id.to_owned(), source })
}

/// One process-driven component.
struct Driven {
    id: String,
    kind: ComponentKind,
    spec: ProcessSpec,
    /// What flowctl sets in its environment (before the config's `env:`).
    env: Vec<(String, String)>,
    /// For the health checks.
    remote: Remote,
    /// The running process; `None` between an exit and the restart.
    child: Mutex<Option<Child>>,
    /// When the current process started (a long run resets the backoff).
    started: Mutex<Instant>,
    stopping: AtomicBool,
    /// Its last output lines, for the error when it cannot start.
    tail: Arc<Mutex<VecDeque<String>>>,
    /// The threads forwarding the current process's output.
    forwarders: Mutex<Vec<std::thread::JoinHandle<()>>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // Every critical section is a single assignment or call: a poisoned value is still whole.
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Driven {
    fn spawn(&self) -> Result<(), ProcessError> {
        let (program, args) = self.spec.command.split_first().map_or(("", &[][..]), |(p, a)| (p.as_str(), a));
        let mut command = Command::new(program);
        command
            .args(args)
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .envs(&self.spec.env)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0);
        stop_with_parent(&mut command);
        let spawn_error =
            |source| ProcessError::Spawn { component: self.id.clone(), program: program.to_owned(), source };
        let mut child = command.spawn().map_err(spawn_error)?;
        lock(&self.tail).clear();
        let out = child.stdout.take().and_then(|out| forward(out, &self.id, "stdout", self.tail.clone()));
        let err = child.stderr.take().and_then(|err| forward(err, &self.id, "stderr", self.tail.clone()));
        *lock(&self.forwarders) = out.into_iter().chain(err).collect();
        *lock(&self.started) = Instant::now();
        *lock(&self.child) = Some(child);
        Ok(())
    }

    fn pid(&self) -> Option<u32> {
        lock(&self.child).as_ref().map(Child::id)
    }

    /// The exit status once the process ended (reaped here), `None` while
    /// it runs. What it started goes with it: a wrapper script's child must
    /// not keep the port from the restart.
    fn exited(&self) -> Option<ExitStatus> {
        let mut child = lock(&self.child);
        let running = child.as_mut()?;
        let status = running.try_wait().ok().flatten()?;
        signal_group(running.id(), libc::SIGKILL);
        *child = None;
        Some(status)
    }

    /// Waits for its health check within `ready_timeout`.
    async fn ready(&self) -> Result<(), ProcessError> {
        let exited = || self.exited();
        let reason = match wait_ready(self.kind, &self.remote, self.spec.ready_timeout, exited).await {
            Ok(()) => return Ok(()),
            Err(reason) => reason,
        };
        // Its last words explain the failure: let the forwarders read them
        // (briefly: a grandchild may hold the pipes open).
        let start = Instant::now();
        while start.elapsed() < OUTPUT_DRAIN && !lock(&self.forwarders).iter().all(|t| t.is_finished()) {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let tail = lock(&self.tail).iter().cloned().collect();
        Err(ProcessError::NotReady { component: self.id.clone(), reason, tail })
    }

    /// Waits up to `grace` for the (already signalled) process, then kills it.
    fn stop_within(&self, grace: Duration) {
        let start = Instant::now();
        while start.elapsed() < grace {
            if lock(&self.child).as_mut().is_none_or(|c| c.try_wait().ok().flatten().is_some()) {
                break;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        if let Some(mut child) = lock(&self.child).take() {
            if matches!(child.try_wait(), Ok(None)) {
                tracing::warn!(component = %self.id, ?grace, "component process ignored SIGTERM: killing it");
            }
            // The whole group, also when the leader exited: nothing it started stays behind.
            signal_group(child.id(), libc::SIGKILL);
            let status = child.wait().map(|s| s.to_string()).unwrap_or_else(|e| e.to_string());
            tracing::info!(component = %self.id, status, "component process stopped");
        }
    }
}

/// A component must not outlive flowctl, even when flowctl is killed with
/// SIGKILL and cannot stop it: Linux sends it SIGTERM when flowctl dies. (The
/// signal follows the thread that spawned the child; flowctl spawns from its
/// main thread and the gRPC runtime's workers, which live as long as it does.)
#[cfg(target_os = "linux")]
fn stop_with_parent(command: &mut Command) {
    // SAFETY: the closure runs in the child between fork and exec and only
    // calls prctl(2) and getppid(2), which are async-signal-safe, and builds
    // an error only on the failure path, where the child exits anyway.
    let flowctl = std::process::id() as libc::pid_t;
    unsafe {
        command.pre_exec(move || {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM) == -1 {
                return Err(std::io::Error::last_os_error());
            }
            // flowctl died before the request took effect: do not start at all.
            if libc::getppid() != flowctl {
                return Err(std::io::Error::other("flowctl exited while starting the component"));
            }
            Ok(())
        });
    }
}

#[cfg(not(target_os = "linux"))]
fn stop_with_parent(_command: &mut Command) {}

/// Sends `signal` to the process group a child leads: started with
/// `process_group(0)`, its group id is its pid, and wrapper scripts and what
/// they started are in it.
fn signal_group(pid: u32, signal: libc::c_int) {
    // SAFETY: kill(2) on a negative pid addresses that process group; no memory
    // is involved. The group is our child's: its id cannot be reused while the
    // child is unreaped or any member lives, and an empty group is ESRCH.
    unsafe { libc::kill(-(pid as libc::pid_t), signal) };
}

/// Forwards a child's output to the log, line by line, under its component id.
fn forward(
    pipe: impl std::io::Read + Send + 'static,
    id: &str,
    stream: &'static str,
    tail: Arc<Mutex<VecDeque<String>>>,
) -> Option<std::thread::JoinHandle<()>> {
    let id = id.to_owned();
    let name = format!("out-{id}");
    let spawned = std::thread::Builder::new().name(name).spawn(move || {
        for line in BufReader::new(pipe).lines() {
            let Ok(line) = line else { break };
            tracing::info!(component = %id, stream, "{line}");
            let mut tail = lock(&tail);
            if tail.len() == TAIL_LINES {
                tail.pop_front();
            }
            tail.push_back(line);
        }
    });
    spawned.inspect_err(|e| tracing::warn!("cannot forward the output of a component process: {e}")).ok()
}

/// Restarts the process whenever it exits, until the run stops.
async fn watch(d: Arc<Driven>, mut backoff: Backoff, health: Health) {
    let restarts = metrics::counter!(names::PROCESS_RESTARTS, "component" => d.id.clone());
    loop {
        tokio::time::sleep(WATCH_TICK).await;
        if d.stopping.load(Relaxed) {
            return;
        }
        let Some(status) = d.exited() else { continue };
        if d.stopping.load(Relaxed) {
            return;
        }
        // A process that ran for a while crashed anew; one that keeps dying backs off further.
        if lock(&d.started).elapsed() > Duration::from_secs(30) {
            backoff.reset();
        }
        tracing::warn!(component = %d.id, %status, "component process exited: restarting it");
        health.set_down(&d.id, format!("process exited ({status}); restarting"));
        loop {
            tokio::time::sleep(backoff.next_delay()).await;
            if d.stopping.load(Relaxed) {
                return;
            }
            restarts.increment(1);
            let started = match d.spawn() {
                Ok(()) => d.ready().await,
                Err(e) => Err(e),
            };
            match started {
                Ok(()) => {
                    tracing::info!(component = %d.id, pid = d.pid(), "component process restarted");
                    health.set_up(&d.id);
                    break;
                }
                Err(e) => {
                    tracing::warn!("restart failed, trying again: {e}");
                    if let Some(mut child) = lock(&d.child).take() {
                        signal_group(child.id(), libc::SIGKILL);
                        let _ = child.wait();
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_port_is_the_endpoints_or_a_free_loopback_one() {
        let (endpoint, port) = endpoint_and_port("c", Some("http://127.0.0.1:50070")).unwrap();
        assert_eq!((endpoint.as_str(), port), ("http://127.0.0.1:50070", 50070));
        let (endpoint, port) = endpoint_and_port("c", None).unwrap();
        assert_eq!(endpoint, format!("http://127.0.0.1:{port}"));
        assert!(port > 0);
        let err = endpoint_and_port("c", Some("http://localhost")).unwrap_err();
        assert!(err.to_string().starts_with("c: endpoint \"http://localhost\" names no port"), "{err}");
    }
}
