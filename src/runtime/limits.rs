//! Per-processor resource limits.

use std::time::Duration;

/// Bounds one processor's instances. Defaults live in [`Limits::default`].
#[derive(Debug, Clone, PartialEq)]
pub struct Limits {
    /// Maximum linear memory in bytes.
    pub memory_bytes: u64,
    /// Wall-clock deadline per guest call.
    pub timeout: Duration,
    /// Fuel per event; `None` disables fuel metering (faster).
    pub fuel: Option<u64>,
    /// Largest input buffer (one event or one batch) in bytes.
    pub max_input_bytes: usize,
    /// Largest output buffer in bytes, checked before it is copied out.
    pub max_output_bytes: usize,
    /// Most output events per input event, counted while the output is
    /// parsed: past it the rest is skipped unbuilt and the event fails.
    pub max_outputs: usize,
    /// Guest log lines (`log`, WASI stdout/stderr) per second, per processor;
    /// lines over it are dropped and counted.
    pub log_lines_per_second: u32,
    /// Size caps of the processor's state (`permissions.state`).
    pub state: StateCaps,
}

/// Caps on a processor's state; a write past one is refused with its name.
#[derive(Debug, Clone, PartialEq)]
pub struct StateCaps {
    pub max_key_bytes: usize,
    pub max_value_bytes: usize,
    /// All keys and values of the processor together.
    pub max_bytes: usize,
}

impl Default for StateCaps {
    fn default() -> Self {
        Self { max_key_bytes: 1024, max_value_bytes: 64 * 1024, max_bytes: 64 * 1024 * 1024 }
    }
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            memory_bytes: 64 * 1024 * 1024,
            timeout: Duration::from_secs(1),
            fuel: None,
            max_input_bytes: 16 * 1024 * 1024,
            max_output_bytes: 16 * 1024 * 1024,
            max_outputs: 1000,
            log_lines_per_second: 100,
            state: StateCaps::default(),
        }
    }
}
