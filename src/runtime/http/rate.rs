//! The per-minute request cap. One window per processor name, kept by the
//! [`Runtime`](crate::runtime::Runtime), so every version of a processor (a
//! canary and its stable version, a hot-reloaded module and the one it
//! replaced) draws from one budget and a reload does not refill it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::HttpDenial;

/// Counts requests in the current one-minute window.
#[derive(Debug)]
pub struct RateWindow {
    state: Mutex<(Instant, u32)>,
}

impl RateWindow {
    pub fn new() -> Self {
        Self { state: Mutex::new((Instant::now(), 0)) }
    }

    /// Takes one request from the budget, or says the cap is reached.
    pub fn take(&self, per_minute: u32) -> Result<(), HttpDenial> {
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let now = Instant::now();
        if now.duration_since(state.0) >= Duration::from_secs(60) {
            *state = (now, 0);
        }
        if state.1 >= per_minute {
            return Err(HttpDenial::RateLimited(per_minute));
        }
        state.1 += 1;
        Ok(())
    }
}

impl Default for RateWindow {
    fn default() -> Self {
        Self::new()
    }
}

/// The windows of every processor loaded by one runtime, by processor name.
/// Entries are never removed: there is one per processor id of the pipeline.
#[derive(Debug, Default)]
pub struct RateRegistry {
    windows: Mutex<HashMap<String, Arc<RateWindow>>>,
}

impl RateRegistry {
    /// The window of `processor`, created on first use.
    pub fn window(&self, processor: &str) -> Arc<RateWindow> {
        let mut windows = self.windows.lock().unwrap_or_else(|p| p.into_inner());
        windows.entry(processor.to_owned()).or_default().clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_window_caps_requests() {
        let window = RateWindow::new();
        assert!(window.take(2).is_ok());
        assert!(window.take(2).is_ok());
        assert_eq!(window.take(2), Err(HttpDenial::RateLimited(2)));
    }

    #[test]
    fn one_processor_has_one_window_across_lookups() {
        let registry = RateRegistry::default();
        // What a hot reload does: the old version used the budget, the new one asks again.
        let old_version = registry.window("lookup");
        assert!(old_version.take(1).is_ok());
        let new_version = registry.window("lookup");
        assert_eq!(new_version.take(1), Err(HttpDenial::RateLimited(1)));
        assert!(registry.window("other").take(1).is_ok(), "another processor has its own budget");
    }
}
