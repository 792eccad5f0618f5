//! What guest calls cost, counted where it happens and read by the engine once
//! per batch: [`Usage`] (fuel, bytes, restarts by reason; plain numbers a
//! slot accumulates and a worker takes deltas of) and [`LiveInstances`]
//! (instances alive and their memory, shared by all instances of a module).

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use super::error::ProcessError;

/// Why an instance was thrown away; a bounded metric label.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RestartReason {
    /// Any fatal fault other than the three limits: a trap, a denied
    /// capability, a bad output pointer, a failed instantiation, a worker panic.
    Trap,
    Fuel,
    Deadline,
    Memory,
}

impl RestartReason {
    pub const ALL: [RestartReason; 4] =
        [RestartReason::Trap, RestartReason::Fuel, RestartReason::Deadline, RestartReason::Memory];

    pub fn label(self) -> &'static str {
        match self {
            RestartReason::Trap => "trap",
            RestartReason::Fuel => "fuel",
            RestartReason::Deadline => "deadline",
            RestartReason::Memory => "memory",
        }
    }

    pub fn of(err: &ProcessError) -> RestartReason {
        match err {
            ProcessError::FuelExhausted { .. } => RestartReason::Fuel,
            ProcessError::DeadlineExceeded { .. } => RestartReason::Deadline,
            ProcessError::MemoryLimitExceeded { .. } => RestartReason::Memory,
            _ => RestartReason::Trap,
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// Cumulative cost of guest calls. Cheap to copy; take deltas with [`Usage::since`].
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Usage {
    /// Instances discarded, indexed like [`RestartReason::ALL`].
    pub restarts: [u64; 4],
    /// Fuel consumed (0 when the processor has no fuel limit).
    pub fuel: u64,
    /// Serialized events written into guest memory.
    pub bytes_in: u64,
    /// Guest output read back out of guest memory.
    pub bytes_out: u64,
}

impl Usage {
    pub fn count_restart(&mut self, reason: RestartReason) {
        self.restarts[reason.index()] += 1;
    }

    pub fn restarts_for(&self, reason: RestartReason) -> u64 {
        self.restarts[reason.index()]
    }

    pub fn restarts_total(&self) -> u64 {
        self.restarts.iter().sum()
    }

    pub fn add(&mut self, other: &Usage) {
        for (mine, theirs) in self.restarts.iter_mut().zip(other.restarts) {
            *mine += theirs;
        }
        self.fuel += other.fuel;
        self.bytes_in += other.bytes_in;
        self.bytes_out += other.bytes_out;
    }

    /// What was added since `before` (an earlier copy of the same counter).
    pub fn since(&self, before: &Usage) -> Usage {
        let mut restarts = [0; 4];
        for (i, slot) in restarts.iter_mut().enumerate() {
            *slot = self.restarts[i].saturating_sub(before.restarts[i]);
        }
        Usage {
            restarts,
            fuel: self.fuel.saturating_sub(before.fuel),
            bytes_in: self.bytes_in.saturating_sub(before.bytes_in),
            bytes_out: self.bytes_out.saturating_sub(before.bytes_out),
        }
    }
}

/// Instances of one loaded module alive right now, and their linear memory.
/// Updated by instances as they start, grow and drop; read per batch.
#[derive(Debug, Default)]
pub struct LiveInstances {
    alive: AtomicU64,
    memory_bytes: AtomicU64,
}

impl LiveInstances {
    pub fn alive(&self) -> u64 {
        self.alive.load(Relaxed)
    }

    pub fn memory_bytes(&self) -> u64 {
        self.memory_bytes.load(Relaxed)
    }

    pub(super) fn started(&self, memory: u64) {
        self.alive.fetch_add(1, Relaxed);
        self.memory_bytes.fetch_add(memory, Relaxed);
    }

    /// An instance's memory went from `old` to `new` bytes.
    pub(super) fn resized(&self, old: u64, new: u64) {
        if new > old {
            self.memory_bytes.fetch_add(new - old, Relaxed);
        } else {
            self.memory_bytes.fetch_sub(old - new, Relaxed);
        }
    }

    pub(super) fn dropped(&self, memory: u64) {
        self.alive.fetch_sub(1, Relaxed);
        self.memory_bytes.fetch_sub(memory, Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deltas_and_reasons() {
        let mut a = Usage::default();
        a.count_restart(RestartReason::of(&ProcessError::Trap("x".into())));
        a.fuel = 10;
        let before = a;
        a.count_restart(RestartReason::of(&ProcessError::FuelExhausted { budget: 1 }));
        a.count_restart(RestartReason::of(&ProcessError::CapabilityDenied { function: "log".into(), target: None }));
        a.fuel = 25;
        a.bytes_in = 7;
        let d = a.since(&before);
        assert_eq!((d.restarts_for(RestartReason::Fuel), d.restarts_for(RestartReason::Trap)), (1, 1));
        assert_eq!((d.restarts_total(), d.fuel, d.bytes_in), (2, 15, 7));
        let mut sum = before;
        sum.add(&d);
        assert_eq!(sum, a);
    }

    #[test]
    fn live_instances_track_memory() {
        let live = LiveInstances::default();
        live.started(65536);
        live.started(65536);
        live.resized(65536, 131072);
        assert_eq!((live.alive(), live.memory_bytes()), (2, 196608));
        live.dropped(131072);
        assert_eq!((live.alive(), live.memory_bytes()), (1, 65536));
    }
}
