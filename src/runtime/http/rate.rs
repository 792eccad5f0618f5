//! The per-minute request cap. One window per processor, kept in its
//! [`ProcessorScope`](crate::runtime::scope::ProcessorScope), so every version
//! of a processor (a canary and its stable version, a hot-reloaded module and
//! the one it replaced) draws from one budget and a reload does not refill it.

use std::sync::Mutex;
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
}
