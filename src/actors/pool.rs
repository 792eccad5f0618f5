//! Instance-pool actor, one per processor: dispatches numbered batches to
//! `pool_size` worker threads (see [`crate::workers`]) through a bounded
//! crossbeam channel. A semaphore bounds the batches a processor holds
//! between dispatch and in-order emission by its collector, so the actor
//! waits (async) for room and never blocks its executor thread.

use std::sync::Arc;

use actix::prelude::*;
use tokio::sync::{mpsc, Semaphore};

use super::messages::{Job, WorkItem, WorkerOutput};
use super::versions::SharedVersions;
use crate::admin::ProcessorControl;
use crate::workers::{spawn_workers, WorkerConfig};

pub struct PoolActor {
    id: Arc<str>,
    jobs: Option<crossbeam_channel::Sender<WorkItem>>,
    permits: Arc<Semaphore>,
    versions: SharedVersions,
    /// For the end marker; the workers hold the other senders.
    results: Option<mpsc::Sender<WorkerOutput>>,
}

/// Batches one processor may hold at once: one running and one queued per worker.
pub fn in_flight_limit(pool_size: usize) -> usize {
    pool_size.max(1) * 2
}

impl PoolActor {
    /// Starts the worker threads. Their results arrive on the returned
    /// receiver, for the processor's collector. Batches run on the version
    /// set `control` publishes at the moment each is dispatched.
    pub fn start_workers(
        id: Arc<str>,
        pool_size: usize,
        max_retries: u32,
        control: &ProcessorControl,
    ) -> std::io::Result<(PoolActor, mpsc::Receiver<WorkerOutput>)> {
        let versions = control.shared();
        let limit = in_flight_limit(pool_size);
        let (jobs_tx, jobs_rx) = crossbeam_channel::bounded(limit);
        // One more than the limit: room for the end marker.
        let (results_tx, results_rx) = mpsc::channel(limit + 1);
        let config = WorkerConfig { processor: id.clone(), max_retries };
        spawn_workers(pool_size, &config, jobs_rx, results_tx.clone())?;
        let pool = PoolActor {
            id,
            jobs: Some(jobs_tx),
            permits: Arc::new(Semaphore::new(limit)),
            versions,
            results: Some(results_tx),
        };
        Ok((pool, results_rx))
    }
}

impl Actor for PoolActor {
    type Context = Context<Self>;
}

impl Handler<Job> for PoolActor {
    type Result = ();

    fn handle(&mut self, job: Job, ctx: &mut Self::Context) {
        match job {
            Job::Batch { seq, events } => {
                let (permits, versions, jobs, id) =
                    (self.permits.clone(), self.versions.clone(), self.jobs.clone(), self.id.clone());
                let dispatch = async move {
                    let (Some(jobs), Ok(permit)) = (jobs, permits.acquire_owned().await) else {
                        tracing::error!(component = %id, seq, "batch arrived after the end of stream");
                        return;
                    };
                    // Loaded at dispatch: the batch finishes on the versions it started with.
                    let item = WorkItem { seq, events, versions: versions.load_full(), permit };
                    // The permit guarantees room in the channel; it only fails if every worker died.
                    if jobs.try_send(item).is_err() {
                        tracing::error!(component = %id, seq, "no worker thread left to take the batch");
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
