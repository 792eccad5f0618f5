//! Turns what wasmtime reports for a failed guest call into a [`ProcessError`]
//! naming the limit or fault.

use std::time::Duration;

use wasmtime::Trap;

use super::error::ProcessError;
use super::guest_memory::BadPointer;
use super::host::CapabilityTrap;
use super::store::MemoryLimitTrap;

/// The limits in force for the call that failed, quoted in the error.
#[derive(Debug, Clone, Copy)]
pub struct CallLimits {
    /// Fuel per event (0 when fuel is off).
    pub fuel_per_event: u64,
    pub timeout: Duration,
}

/// Classifies a failed call. Our own host errors travel inside the wasmtime
/// error and are found by downcasting along its chain.
pub fn classify(err: &wasmtime::Error, limits: CallLimits) -> ProcessError {
    for cause in err.chain() {
        if let Some(denied) = cause.downcast_ref::<CapabilityTrap>() {
            return ProcessError::CapabilityDenied {
                function: denied.function.to_owned(),
                target: denied.target.clone(),
            };
        }
        if let Some(mem) = cause.downcast_ref::<MemoryLimitTrap>() {
            return ProcessError::MemoryLimitExceeded { limit: mem.limit, requested: mem.requested };
        }
        if let Some(bad) = cause.downcast_ref::<BadPointer>() {
            return (*bad).into();
        }
    }
    match err.downcast_ref::<Trap>() {
        Some(Trap::OutOfFuel) => ProcessError::FuelExhausted { budget: limits.fuel_per_event },
        Some(Trap::Interrupt) => ProcessError::DeadlineExceeded { timeout: limits.timeout },
        Some(trap) => {
            let text = trap.to_string();
            ProcessError::Trap(text.strip_prefix("wasm trap: ").unwrap_or(&text).to_owned())
        }
        // A host function failed in another way (e.g. WASI `proc_exit`): the
        // root cause says what happened; the outer layers are backtraces.
        None => ProcessError::Trap(err.root_cause().to_string()),
    }
}
