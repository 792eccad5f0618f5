//! Typed errors of the runtime. `ProcessError::kind()` is a bounded metric label.

use std::time::Duration;

/// Failure to set up the runtime or load a module (before any event runs).
#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    #[error("cannot read module {path}: {source}")]
    Read { path: std::path::PathBuf, source: std::io::Error },
    #[error("module is not valid WebAssembly: {0}")]
    Compile(String),
    #[error("module does not follow the flowctl ABI: {0}")]
    Abi(String),
    #[error("module refused to start: {0}")]
    Init(String),
    #[error("wasm engine: {0}")]
    Engine(String),
    /// The spec requires a signature and the module's is missing or wrong.
    /// `version` is the version the module would have run as (for audit lines).
    /// The reason is part of the message (not a `source`), so `{:#}` does not repeat it.
    #[error("module signature refused: {reason}")]
    Signature { version: String, reason: crate::signing::SignatureError },
}

/// Failure of one guest call or one event.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ProcessError {
    #[error("fuel exhausted (budget {budget})")]
    FuelExhausted { budget: u64 },
    #[error("memory limit exceeded (limit {limit} bytes, requested {requested} bytes)")]
    MemoryLimitExceeded { limit: u64, requested: u64 },
    #[error("deadline exceeded ({timeout:?})")]
    DeadlineExceeded { timeout: Duration },
    #[error("trap: {0}")]
    Trap(String),
    #[error("invalid output pointer (ptr {ptr}, len {len}, memory {memory} bytes)")]
    InvalidOutputPointer { ptr: u32, len: u32, memory: u64 },
    #[error("malformed output: {0}")]
    MalformedOutput(String),
    #[error("guest error: {0}")]
    Guest(String),
    #[error("capability denied: {function}{}", target.as_ref().map(|t| format!(" ({t})")).unwrap_or_default())]
    CapabilityDenied { function: String, target: Option<String> },
    #[error("input too large ({size} bytes, limit {limit})")]
    InputTooLarge { size: usize, limit: usize },
    #[error("output too large ({size} bytes, limit {limit})")]
    OutputTooLarge { size: usize, limit: usize },
    #[error("too many outputs for one event (limit {limit}: limits.max_outputs)")]
    TooManyOutputs { limit: usize },
    #[error("quota exceeded: {quota} (tenant {tenant})")]
    QuotaExceeded { quota: String, tenant: String },
    #[error("instantiation failed: {0}")]
    Instantiate(String),
    /// Not run at all: the version's circuit breaker is open (see `wasm.circuit_breaker`).
    #[error(
        "circuit breaker open for version {version}: too many instance restarts, not running events until it closes"
    )]
    CircuitOpen { version: String },
}

impl ProcessError {
    /// The limit this error reports a breach of (`limits.timeout` ...), for
    /// the audit log; `None` for faults that breach no configured limit.
    pub fn breached_limit(&self) -> Option<&'static str> {
        Some(match self {
            Self::FuelExhausted { .. } => "limits.fuel",
            Self::MemoryLimitExceeded { .. } => "limits.memory",
            Self::DeadlineExceeded { .. } => "limits.timeout",
            Self::InputTooLarge { .. } => "limits.max_input",
            Self::OutputTooLarge { .. } => "limits.max_output",
            Self::TooManyOutputs { .. } => "limits.max_outputs",
            _ => return None,
        })
    }

    /// A short, bounded label for metrics and dead letters.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::FuelExhausted { .. } => "fuel",
            Self::MemoryLimitExceeded { .. } => "memory",
            Self::DeadlineExceeded { .. } => "deadline",
            Self::Trap(_) => "trap",
            Self::InvalidOutputPointer { .. } => "invalid_pointer",
            Self::MalformedOutput(_) => "malformed_output",
            Self::Guest(_) => "guest_error",
            Self::CapabilityDenied { .. } => "capability_denied",
            Self::InputTooLarge { .. } => "input_too_large",
            Self::OutputTooLarge { .. } => "output_too_large",
            Self::TooManyOutputs { .. } => "too_many_outputs",
            Self::QuotaExceeded { .. } => "quota_exceeded",
            Self::Instantiate(_) => "instantiate",
            Self::CircuitOpen { .. } => "circuit_open",
        }
    }

    /// Whether the instance that produced this error must be thrown away.
    /// A guest that reported an error through the ABI is still healthy (so
    /// is one that answered an event with too many outputs: retrying would
    /// only repeat it), and an event refused by an open circuit breaker or
    /// an exceeded quota never reached an instance.
    pub fn poisons_instance(&self) -> bool {
        !matches!(
            self,
            Self::Guest(_)
                | Self::InputTooLarge { .. }
                | Self::TooManyOutputs { .. }
                | Self::CircuitOpen { .. }
                | Self::QuotaExceeded { .. }
        )
    }
}
