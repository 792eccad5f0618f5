//! The threads that run WASM. Each processor owns `pool_size` of them, fed
//! batch numbers through a crossbeam channel; results go back to the
//! processor's collector actor through a bounded tokio channel. No guest
//! code ever runs on an async executor thread.
//!
//! A dispatched batch waits in the processor's [`Ledger`] (events, versions,
//! in-flight permit) until its collector has the result or gave up on it, so
//! no batch is lost with the thread that held it: a worker that dies has its
//! batch dead-lettered (`worker_died`), and the collector stops waiting for a
//! batch that overstays its [`patience`] (`batch_timeout`), dropping a result
//! that comes later.
//!
//! A worker owns one `InstanceSlot` per module version it has seen; the first
//! instance of a version a hot reload swapped in is one the reload made and
//! `init`-ed in the background ([`Version::ready`](crate::actors::versions::Version)),
//! not one made on the worker while its batch waits. A batch
//! is split by version (sticky weighted routing), each share runs under the
//! processor's [`RetryPolicy`](crate::runtime::RetryPolicy) (a panic in the
//! host during a call counts as a failed call), and the results are merged
//! back into input order.
//!
//! Files: `worker` (the loop, what a worker shares with its supervisor),
//! `job` (one batch: routing, watched and guarded calls, accounting), `slots`
//! (a worker's instances), `ledger` (batches in flight), `supervisor`
//! (replaces dead workers, flags stuck calls), tests in `tests` and `supervisor_tests`.

mod job;
mod ledger;
mod slots;
mod supervisor;
mod worker;

#[cfg(test)]
mod supervisor_tests;
#[cfg(test)]
mod tests;

use std::sync::Arc;

pub use ledger::{patience, Abandoned, Batch, Failure, Ledger, WAIT_MARGIN};
pub use supervisor::{start, Workers, TICK};
pub use worker::STUCK_GRACE;

use crate::runtime::RetryPolicy;

/// Dead-letter `error_kind` of a batch whose worker thread died while running it.
pub const WORKER_DIED: &str = "worker_died";
/// Dead-letter `error_kind` of a batch its collector stopped waiting for.
pub const BATCH_TIMEOUT: &str = "batch_timeout";
/// Dead-letter `error_kind` of a batch whose guest call the watchdog flagged stuck.
pub const STUCK_CALL: &str = "stuck_call";
/// Dead-letter `error_kind` of a batch no worker thread was left to take.
pub const NO_WORKER: &str = "no_worker";

/// The channel of `lane`: its own when the processor is split into lanes,
/// else the one all workers share.
pub fn lane_channel<T>(channels: &[T], lane: usize) -> Option<&T> {
    channels.get(lane % channels.len().max(1))
}

/// What every worker of one processor shares.
#[derive(Clone)]
pub struct WorkerConfig {
    pub processor: Arc<str>,
    pub policy: RetryPolicy,
    /// Faults injected by tests: a panic outside any guarded call, a host call that blocks.
    #[cfg(test)]
    pub(crate) fault: Option<Arc<dyn Fn(Fault, u64) + Send + Sync>>,
}

/// Where a test may inject a fault, with the batch's sequence number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Fault {
    /// Inside a watched, guarded guest call.
    InCall,
    /// After a batch ran, before its result is sent: outside every guard.
    BeforeSend,
}

impl WorkerConfig {
    pub fn new(processor: Arc<str>, max_retries: u32) -> Self {
        Self {
            processor,
            policy: RetryPolicy { max_retries },
            #[cfg(test)]
            fault: None,
        }
    }

    #[inline]
    fn inject(&self, at: Fault, seq: u64) {
        #[cfg(test)]
        if let Some(fault) = &self.fault {
            fault(at, seq);
        }
        let _ = (at, seq);
    }
}

/// What a caught panic said (its `&str` or `String` payload).
pub(crate) fn panic_message(panic: &Box<dyn std::any::Any + Send>) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".to_string())
}
