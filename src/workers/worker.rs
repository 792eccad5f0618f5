//! One worker thread: takes batch numbers, runs each batch from the ledger,
//! sends the result; and what it publishes for its supervisor (the batch in
//! hand, when its guest call in progress becomes overdue).

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::*};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::mpsc;

use super::job::run_job;
use super::ledger::Ledger;
use super::slots::Slots;
use super::{Fault, WorkerConfig};
use crate::actors::messages::WorkerOutput;

/// How long past its deadline a guest call may run before the watchdog calls
/// it stuck. Deadlines end wasm code within a tick of the epoch; the grace
/// covers host work around the call (copying events in and out) on a busy
/// machine, so only a call blocked where no deadline reaches (a host call
/// that never returns) is flagged.
pub const STUCK_GRACE: Duration = Duration::from_millis(500);

/// Bit of [`WorkerState::call`] set by the watchdog once it flagged the call.
const STUCK: u64 = 1 << 63;

/// Milliseconds since the pool started, never 0 (0 means "no call").
#[derive(Debug, Clone, Copy)]
pub(super) struct Clock(Instant);

impl Clock {
    pub fn new() -> Clock {
        Clock(Instant::now())
    }

    pub fn now_ms(&self) -> u64 {
        (self.0.elapsed().as_millis() as u64).saturating_add(1) & !STUCK
    }
}

/// Longest a call may legitimately take: its deadline, another for the
/// `init` of a fresh instance it first makes, and [`STUCK_GRACE`].
pub(super) fn call_bound(timeout: Duration, instantiates: bool) -> Duration {
    let deadlines = if instantiates { timeout.saturating_mul(2) } else { timeout };
    deadlines.saturating_add(STUCK_GRACE)
}

/// What a worker shares with its supervisor. Plain atomics: the worker
/// writes them around each call at the cost of a clock read.
#[derive(Debug)]
pub(super) struct WorkerState {
    clock: Clock,
    /// Clock millis after which the call in progress is overdue (0: no call),
    /// with [`STUCK`] set once the watchdog flagged it.
    call: AtomicU64,
    /// Sequence number + 1 of the batch in hand (0: none).
    holding: AtomicU64,
    /// Replaced by another worker: finish the batch in hand, then exit.
    retired: AtomicBool,
}

impl WorkerState {
    pub fn new(clock: Clock) -> WorkerState {
        WorkerState { clock, call: AtomicU64::new(0), holding: AtomicU64::new(0), retired: AtomicBool::new(false) }
    }

    /// Before a guest call that may take up to `bound`; returns when it began.
    pub fn begin_call(&self, bound: Duration) -> u64 {
        let now = self.clock.now_ms();
        let bound = u64::try_from(bound.as_millis()).unwrap_or(u64::MAX);
        self.call.store(now.saturating_add(bound).min(STUCK - 1), Release);
        now
    }

    /// Time since `began` (from [`WorkerState::begin_call`]).
    pub fn since(&self, began: u64) -> Duration {
        Duration::from_millis(self.clock.now_ms().saturating_sub(began))
    }

    /// After it: whether the watchdog flagged it stuck meanwhile.
    pub fn end_call(&self) -> bool {
        self.call.swap(0, AcqRel) & STUCK != 0
    }

    /// Flags the call in progress if it is overdue at `now_ms`; true when this
    /// flagged it. A call that ended meanwhile is left alone (the swap fails).
    pub fn flag_if_overdue(&self, now_ms: u64) -> bool {
        let call = self.call.load(Acquire);
        call != 0
            && call & STUCK == 0
            && now_ms > call
            && self.call.compare_exchange(call, call | STUCK, AcqRel, Acquire).is_ok()
    }

    pub fn is_stuck(&self) -> bool {
        self.call.load(Acquire) & STUCK != 0
    }

    pub fn hold(&self, seq: u64) {
        self.holding.store(seq.saturating_add(1), Release);
    }

    pub fn release(&self) {
        self.holding.store(0, Release);
    }

    /// The batch in hand.
    pub fn held(&self) -> Option<u64> {
        self.holding.load(Acquire).checked_sub(1)
    }

    pub fn retire(&self) {
        self.retired.store(true, Release);
    }

    pub fn retired(&self) -> bool {
        self.retired.load(Acquire)
    }
}

/// What every worker of one processor (and their supervisor) shares.
pub(super) struct Shared {
    pub config: WorkerConfig,
    /// Batch numbers, one channel per lane.
    pub jobs: Vec<crossbeam_channel::Receiver<u64>>,
    pub results: mpsc::Sender<WorkerOutput>,
    pub ledger: Arc<Ledger>,
    pub clock: Clock,
}

/// Runs batches until the job channel closes, the collector is gone, or the
/// worker was replaced (after a stuck call).
pub(super) fn worker_loop(shared: &Shared, me: &WorkerState, lane: usize) {
    let Some(jobs) = super::lane_channel(&shared.jobs, lane) else { return };
    let mut slots = Slots::default();
    while !me.retired() {
        let Ok(seq) = jobs.recv() else { break };
        me.hold(seq);
        // A batch the collector gave up on while it was queued is skipped.
        if let Some(batch) = shared.ledger.start(seq) {
            let result = run_job(&mut slots, &shared.config, me, &batch);
            shared.config.inject(Fault::BeforeSend, seq);
            if shared.results.blocking_send(WorkerOutput::Done(Box::new(result))).is_err() {
                break;
            }
            // Freed here, on this thread, whichever reference goes last.
            drop((shared.ledger.sent(seq), batch));
            slots.drop_swapped_out();
        }
        me.release();
    }
}
