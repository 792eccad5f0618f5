//! What each wasmtime `Store` carries: the processor's identity for logs,
//! the memory limiter, the current call's deadline, and WASI when imported.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use wasmtime::{Memory, ResourceLimiter};
use wasmtime_wasi::p1::WasiP1Ctx;

use super::host::ProcessorShared;
use super::host_state::StateCall;

/// Store data of one instance.
pub struct StoreData {
    /// Name, version, permissions, HTTP agent and rate window, shared by all
    /// instances of one loaded module.
    pub shared: Arc<ProcessorShared>,
    pub limiter: MemoryLimiter,
    /// The guest's exported memory, cached so host functions skip the export lookup.
    pub memory: Option<Memory>,
    /// When the guest call in progress must end; bounds HTTP timeouts and
    /// WASI waits. Set for each call only where such a host function is
    /// linked ([`super::host::reads_call_deadline`]), as a clock read costs
    /// about a twentieth of a one-event call.
    pub deadline: Instant,
    /// Guest metric handles by raw name, so a repeated `record_metric` costs a hash lookup.
    pub gauges: HashMap<Vec<u8>, Option<metrics::Gauge>>,
    /// Locked-down WASI, created on first use by a module that imports it.
    pub wasi: Option<WasiP1Ctx>,
    /// Zero of the guest's WASI monotonic clock.
    pub clock_origin: Instant,
    /// State writes of the call in progress (`permissions.state`).
    pub state_call: StateCall,
}

impl StoreData {
    pub fn new(shared: Arc<ProcessorShared>, memory_limit: u64) -> Self {
        Self {
            shared,
            limiter: MemoryLimiter { limit: memory_limit, denied: None, grew: false },
            memory: None,
            deadline: Instant::now(),
            gauges: HashMap::new(),
            wasi: None,
            clock_origin: Instant::now(),
            state_call: StateCall::default(),
        }
    }

    /// The WASI context, created locked down on first use.
    pub fn wasi(&mut self) -> &mut WasiP1Ctx {
        let shared = &self.shared;
        let origin = self.clock_origin;
        self.wasi.get_or_insert_with(|| super::wasi::locked_down_ctx(&shared.scope, &shared.version, origin))
    }
}

/// The error a denied memory growth traps with; downcast when mapping errors.
#[derive(Debug, Clone, Copy, PartialEq, thiserror::Error)]
#[error("memory limit exceeded (limit {limit} bytes, requested {requested} bytes)")]
pub struct MemoryLimitTrap {
    pub limit: u64,
    pub requested: u64,
}

/// Denies linear-memory growth past the processor's cap. Growth past the cap
/// traps (rather than making `memory.grow` return -1) so the call ends with a
/// clear `memory limit exceeded` instead of whatever the guest's allocator
/// does on failure (usually an opaque `unreachable`).
pub struct MemoryLimiter {
    pub limit: u64,
    /// The last denied request, if any.
    pub denied: Option<MemoryLimitTrap>,
    /// A growth was allowed since the owner last took this: only then can
    /// the memory's size have changed (see `Instance::take_usage`).
    pub grew: bool,
}

impl ResourceLimiter for MemoryLimiter {
    fn memory_growing(&mut self, _current: usize, desired: usize, _maximum: Option<usize>) -> wasmtime::Result<bool> {
        if desired as u64 > self.limit {
            let trap = MemoryLimitTrap { limit: self.limit, requested: desired as u64 };
            self.denied = Some(trap);
            return Err(trap.into());
        }
        self.grew = true;
        Ok(true)
    }

    fn table_growing(&mut self, _current: usize, desired: usize, _maximum: Option<usize>) -> wasmtime::Result<bool> {
        // Tables hold function references; a million is far beyond any real guest.
        Ok(desired <= 1_000_000)
    }
}
