//! Instance-pool actor, one per processor: records each numbered batch in the
//! processor's [`Ledger`] and hands its number to `pool_size` supervised
//! worker threads (see [`crate::workers`]). A semaphore bounds the batches a
//! processor holds between dispatch and in-order emission by its collector,
//! so the actor waits (async) for room and never blocks its executor thread.

use std::sync::Arc;
use std::thread::JoinHandle;

use actix::prelude::*;
use tokio::sync::{mpsc, Semaphore};

use super::messages::{Job, WorkerOutput};
use super::processor_health::Readiness;
use super::versions::SharedVersions;
use crate::admin::ProcessorControl;
use crate::config::WasmConfig;
use crate::runtime::RetryPolicy;
use crate::workers::{self, Failure, Ledger, WorkerConfig};

pub struct PoolActor {
    id: Arc<str>,
    /// One channel per lane (see [`WasmConfig::lanes`]).
    jobs: Option<Vec<crossbeam_channel::Sender<u64>>>,
    ledger: Arc<Ledger>,
    policy: RetryPolicy,
    permits: Arc<Semaphore>,
    versions: SharedVersions,
    /// For the end marker; the workers hold the other senders.
    results: Option<mpsc::Sender<WorkerOutput>>,
    /// The workers' supervisor: it owns their threads and outlives them.
    _supervisor: JoinHandle<()>,
}

/// Batches one processor may hold at once: one running and one queued per worker.
pub fn in_flight_limit(pool_size: usize) -> usize {
    pool_size.max(1) * 2
}

impl PoolActor {
    /// Starts the worker threads and their supervisor. Results arrive on the
    /// returned receiver, for the processor's collector, which also takes the
    /// ledger. Batches run on the version set `control` publishes at the
    /// moment each is dispatched. `readiness` learns of stuck guest calls.
    pub fn start_workers(
        id: Arc<str>,
        wasm: &WasmConfig,
        control: &ProcessorControl,
        readiness: Option<Readiness>,
    ) -> std::io::Result<(PoolActor, mpsc::Receiver<WorkerOutput>, Arc<Ledger>)> {
        let limit = in_flight_limit(wasm.pool_size);
        // One more than the limit: room for the end marker.
        let (results_tx, results_rx) = mpsc::channel(limit + 1);
        let config = WorkerConfig::new(id.clone(), wasm.max_retries);
        let policy = config.policy;
        let workers = workers::start(wasm.pool_size, wasm.lanes(), config, results_tx.clone(), readiness)?;
        let ledger = workers.ledger.clone();
        let pool = PoolActor {
            id,
            jobs: Some(workers.jobs),
            ledger: workers.ledger,
            policy,
            permits: Arc::new(Semaphore::new(limit)),
            versions: control.shared(),
            results: Some(results_tx),
            _supervisor: workers.supervisor,
        };
        Ok((pool, results_rx, ledger))
    }
}

impl Actor for PoolActor {
    type Context = Context<Self>;
}

impl Handler<Job> for PoolActor {
    type Result = ();

    fn handle(&mut self, job: Job, ctx: &mut Self::Context) {
        match job {
            Job::Batch { seq, lane, events } => {
                let jobs = self.jobs.as_ref().and_then(|jobs| workers::lane_channel(jobs, lane)).cloned();
                let (permits, shared, id) = (self.permits.clone(), self.versions.clone(), self.id.clone());
                let (ledger, policy) = (self.ledger.clone(), self.policy);
                let dispatch = async move {
                    let (Some(jobs), Ok(permit)) = (jobs, permits.acquire_owned().await) else {
                        tracing::error!(component = %id, seq, "batch arrived after the end of stream");
                        return;
                    };
                    // Loaded at dispatch: the batch finishes on the versions it started with.
                    let mut versions = shared.load_full();
                    // Over a quota with `on_breach: pause`: hold the batch (and so, through the
                    // permits and mailboxes, the sources) until the quota's window ends.
                    while let Some(wait) = versions.versions().first().and_then(|v| v.module.quota().pause_for()) {
                        tokio::time::sleep(wait).await;
                        versions = shared.load_full();
                    }
                    let patience = workers::patience(policy, events.len(), &versions);
                    ledger.dispatch(seq, events, versions, permit, patience);
                    // Only fails once the supervisor and every worker are gone.
                    if jobs.send(seq).is_err() {
                        tracing::error!(component = %id, seq, "no worker thread left to take the batch");
                        ledger.fail(seq, Failure::no_worker());
                    }
                };
                ctx.wait(dispatch.into_actor(self));
            }
            Job::End { next_seq } => {
                // Closing the job channel lets the workers finish what they hold and exit.
                self.jobs = None;
                if let Some(results) = self.results.take() {
                    let end = async move {
                        let _ = results.send(WorkerOutput::End { next_seq }).await;
                    };
                    ctx.wait(end.into_actor(self));
                }
            }
        }
    }
}
