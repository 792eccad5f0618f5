//! The supervisor of one processor's workers: a thread that owns their
//! `JoinHandle`s and, every [`TICK`]:
//!
//! - reaps finished threads. One that panicked (outside the guarded guest
//!   calls: routing, accounting, sending) has the batch it held marked failed
//!   in the ledger (`worker_died`, dead-lettered by the collector) and is
//!   replaced.
//! - flags every guest call past its bound (deadline + [`super::STUCK_GRACE`]):
//!   the processor is not ready while one is stuck, and the stuck worker is
//!   replaced so capacity remains, by at most `pool_size` extra threads in all
//!   (a pool whose every call sticks does not grow without bound). A replaced
//!   worker delivers its batch when the call returns, and exits.
//!
//! Polling the threads, rather than a guard in each worker reporting its own
//! death, needs nothing from a dying thread: it also sees a thread stuck
//! forever, and it cannot fail the way code running during an unwind can.

use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use tokio::sync::mpsc;

use super::ledger::{Failure, Ledger};
use super::worker::{worker_loop, Clock, Shared, WorkerState};
use super::{panic_message, WorkerConfig};
use crate::actors::messages::WorkerOutput;
use crate::actors::processor_health::{Cause, Readiness};
use crate::telemetry::names;

/// How often the supervisor looks at its workers.
pub const TICK: Duration = Duration::from_millis(50);

/// A started pool: where batch numbers go, and the ledger they refer to.
pub struct Workers {
    /// Where batch numbers go, one channel per lane. Dropping them lets the
    /// workers finish the batches queued and exit.
    pub jobs: Vec<crossbeam_channel::Sender<u64>>,
    pub ledger: Arc<Ledger>,
    /// Ends once every regular worker has exited (a stuck, replaced one may linger).
    pub supervisor: JoinHandle<()>,
}

/// Starts `pool_size` workers (at least one) and their supervisor. Results go
/// to `results`; `readiness` (if any) learns of stuck calls. With one lane
/// any worker takes any batch; with `pool_size` lanes, worker `i` (and any
/// worker that replaces it) takes lane `i`'s batches only.
pub fn start(
    pool_size: usize,
    lanes: usize,
    config: WorkerConfig,
    results: mpsc::Sender<WorkerOutput>,
    readiness: Option<Readiness>,
) -> std::io::Result<Workers> {
    // Unbounded: the in-flight permits bound the batches; only the number of a
    // batch given up on while queued can outstay its permit.
    let (jobs_tx, jobs): (Vec<_>, Vec<_>) = (0..lanes.max(1)).map(|_| crossbeam_channel::unbounded()).unzip();
    let ledger = Arc::new(Ledger::default());
    let metrics = Metrics::new(&config.processor);
    let shared = Arc::new(Shared { config, jobs, results, ledger: ledger.clone(), clock: Clock::new() });
    let pool_size = pool_size.max(1);
    let mut supervisor =
        Supervisor { shared, pool_size, workers: Vec::new(), missing: Vec::new(), spawned: 0, readiness, metrics };
    for lane in 0..pool_size {
        let worker = supervisor.spawn(lane)?;
        supervisor.workers.push(worker);
    }
    let name = format!("wasm-{}-supervisor", supervisor.shared.config.processor);
    let supervisor = std::thread::Builder::new().name(name).spawn(move || supervisor.run())?;
    Ok(Workers { jobs: jobs_tx, ledger, supervisor })
}

struct Supervisor {
    shared: Arc<Shared>,
    pool_size: usize,
    workers: Vec<Running>,
    /// Lanes of the regular workers to start (replacements whose spawn failed are retried).
    missing: Vec<usize>,
    /// Threads started so far, for their names.
    spawned: usize,
    readiness: Option<Readiness>,
    metrics: Metrics,
}

struct Running {
    name: String,
    /// The worker's index, which picks its job channel.
    lane: usize,
    handle: JoinHandle<()>,
    state: Arc<WorkerState>,
}

/// Handles registered once, at start.
struct Metrics {
    died: metrics::Counter,
    replaced_stuck: metrics::Counter,
    stuck_calls: metrics::Counter,
}

impl Metrics {
    fn new(component: &str) -> Metrics {
        let restarts = |reason: &'static str| {
            let labels = [("component", component.to_owned()), ("reason", reason.to_owned())];
            metrics::counter!(names::WORKER_RESTARTS, &labels)
        };
        Metrics {
            died: restarts("died"),
            replaced_stuck: restarts("stuck"),
            stuck_calls: metrics::counter!(names::STUCK_CALLS, "component" => component.to_owned()),
        }
    }
}

impl Supervisor {
    fn spawn(&mut self, lane: usize) -> std::io::Result<Running> {
        let name = format!("wasm-{}-{}", self.shared.config.processor, self.spawned);
        let state = Arc::new(WorkerState::new(self.shared.clock));
        let (shared, me) = (self.shared.clone(), state.clone());
        let handle = std::thread::Builder::new().name(name.clone()).spawn(move || worker_loop(&shared, &me, lane))?;
        self.spawned += 1;
        Ok(Running { name, lane, handle, state })
    }

    fn run(mut self) {
        // Regular workers exit only when the job channel closed (end of
        // stream) or the collector is gone; then the pool is done.
        while !self.missing.is_empty() || self.workers.iter().any(|w| !w.state.retired()) {
            std::thread::sleep(TICK);
            self.reap();
            self.watch();
            self.replace();
        }
        tracing::debug!(component = %self.shared.config.processor, "worker supervisor stopped");
    }

    fn reap(&mut self) {
        let (finished, running): (Vec<_>, Vec<_>) = self.workers.drain(..).partition(|w| w.handle.is_finished());
        self.workers = running;
        for worker in finished {
            let Running { name, lane, handle, state } = worker;
            let Err(panic) = handle.join() else { continue };
            let reason = panic_message(&panic);
            let held = state.held();
            if let Some(seq) = held {
                self.shared.ledger.fail(seq, Failure::worker_died(&reason));
            }
            self.metrics.died.increment(1);
            tracing::error!(
                component = %self.shared.config.processor,
                worker = %name,
                batch = ?held,
                "worker thread died, its batch goes to the dead letters and a new worker takes its place: {reason}"
            );
            if !state.retired() {
                self.missing.push(lane);
            }
        }
    }

    fn watch(&mut self) {
        let now = self.shared.clock.now_ms();
        let mut extra = self.workers.iter().filter(|w| w.state.retired()).count();
        let mut stuck = 0;
        for worker in &self.workers {
            if worker.state.flag_if_overdue(now) {
                self.metrics.stuck_calls.increment(1);
                // The batch is given up now rather than at its collector's
                // patience (minutes): output order moves on at once, and a
                // result that still comes is dropped as late.
                if let Some(seq) = worker.state.held() {
                    self.shared.ledger.fail(seq, Failure::stuck_call());
                }
                tracing::warn!(
                    component = %self.shared.config.processor,
                    worker = %worker.name,
                    batch = ?worker.state.held(),
                    "a guest call is stuck past its deadline; the processor is not ready while it lasts"
                );
            }
            if !worker.state.is_stuck() {
                continue;
            }
            stuck += 1;
            if !worker.state.retired() && extra < self.pool_size {
                worker.state.retire();
                extra += 1;
                self.missing.push(worker.lane);
                self.metrics.replaced_stuck.increment(1);
                tracing::warn!(
                    component = %self.shared.config.processor,
                    worker = %worker.name,
                    "replacing the stuck worker; it exits once its call returns"
                );
            }
        }
        if let Some(readiness) = &self.readiness {
            let reason =
                (stuck > 0).then(|| format!("stuck worker: {stuck} guest call(s) running past their deadline"));
            readiness.set(Cause::StuckWorker, reason);
        }
    }

    fn replace(&mut self) {
        while let Some(&lane) = self.missing.last() {
            match self.spawn(lane) {
                Ok(worker) => {
                    self.workers.push(worker);
                    self.missing.pop();
                }
                Err(e) => {
                    let component = &self.shared.config.processor;
                    tracing::error!(component = %component, "cannot start a worker thread, retrying: {e}");
                    return;
                }
            }
        }
    }
}
