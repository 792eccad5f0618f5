//! The process-wide wasmtime engines and their epoch tickers.
//!
//! Two engines, each created on first use: one without fuel metering (the
//! default: fuel costs every loop and call a counter update) and one with it,
//! for processors that set `limits.fuel`. Fuel is an engine-wide compilation
//! setting, so a single engine would make every processor pay for it.
//!
//! Both have epoch interruption on: a ticker thread per engine advances the
//! epoch every `epoch_tick`, and each guest call arms a deadline in ticks.
//!
//! Instances use wasmtime's on-demand allocator with copy-on-write memory
//! images. Measured (release, this 2-core machine, a module with 1.25 MiB of
//! memory): instantiate + drop takes ~39 µs on demand and ~11 µs pooled. Our
//! instances are long-lived (replaced after a fault, or after
//! [`super::RECYCLE_AFTER_CALLS`] calls if their memory grew), so the difference shows only in
//! fault storms (10,000 alternating good/bad events cost ~0.15 s more).
//! Pooling would instead fix one maximum memory size for the whole engine
//! before any processor's cap is known, reserve address space for every
//! possible slot up front, and turn "more instances than slots" into a new
//! way to fail; per-processor caps are enforced by the store's limiter either way.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use wasmtime::{Config, Engine};

use super::error::RuntimeError;

/// One engine and the thread that advances its epoch.
pub struct EngineHandle {
    pub engine: Engine,
    pub tick: Duration,
    stop: Arc<AtomicBool>,
    ticker: Option<JoinHandle<()>>,
}

impl EngineHandle {
    pub fn new(fuel: bool, tick: Duration) -> Result<Self, RuntimeError> {
        let mut config = Config::new();
        config.epoch_interruption(true).consume_fuel(fuel);
        let engine = Engine::new(&config).map_err(|e| RuntimeError::Engine(format!("{e:#}")))?;
        let tick = tick.max(Duration::from_micros(100));
        let stop = Arc::new(AtomicBool::new(false));
        let ticker = {
            let (engine, stop) = (engine.clone(), stop.clone());
            std::thread::Builder::new()
                .name(if fuel { "flowctl-epoch-fuel".into() } else { "flowctl-epoch".into() })
                .spawn(move || {
                    while !stop.load(Ordering::Relaxed) {
                        std::thread::sleep(tick);
                        engine.increment_epoch();
                    }
                })
                .map_err(|e| RuntimeError::Engine(format!("cannot start the epoch ticker: {e}")))?
        };
        Ok(Self { engine, tick, stop, ticker: Some(ticker) })
    }

    /// Epoch ticks to arm for a call that may take `timeout`. One extra tick
    /// because the current tick may be nearly over when the call starts.
    pub fn deadline_ticks(&self, timeout: Duration) -> u64 {
        let tick = self.tick.as_nanos().max(1);
        (timeout.as_nanos().div_ceil(tick) as u64).saturating_add(1)
    }
}

impl Drop for EngineHandle {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(ticker) = self.ticker.take() {
            let _ = ticker.join();
        }
    }
}

/// The engines of one runtime, created on first use.
pub struct Engines {
    tick: Duration,
    plain: Mutex<Option<Arc<EngineHandle>>>,
    fueled: Mutex<Option<Arc<EngineHandle>>>,
}

impl Engines {
    pub fn new(tick: Duration) -> Self {
        Self { tick, plain: Mutex::new(None), fueled: Mutex::new(None) }
    }

    /// The engine for processors with (`fuel`) or without fuel metering.
    pub fn get(&self, fuel: bool) -> Result<Arc<EngineHandle>, RuntimeError> {
        let slot = if fuel { &self.fueled } else { &self.plain };
        let mut slot = slot.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(handle) = slot.as_ref() {
            return Ok(handle.clone());
        }
        let handle = Arc::new(EngineHandle::new(fuel, self.tick)?);
        *slot = Some(handle.clone());
        Ok(handle)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deadline_ticks_round_up() {
        let handle = EngineHandle::new(false, Duration::from_millis(1)).unwrap();
        assert_eq!(handle.deadline_ticks(Duration::from_millis(100)), 101);
        assert_eq!(handle.deadline_ticks(Duration::from_micros(1500)), 3);
        assert_eq!(handle.deadline_ticks(Duration::ZERO), 1);
    }

    #[test]
    fn engines_are_created_once_per_kind() {
        let engines = Engines::new(Duration::from_millis(1));
        let a = engines.get(false).unwrap();
        let b = engines.get(false).unwrap();
        assert!(Arc::ptr_eq(&a, &b));
        let fueled = engines.get(true).unwrap();
        assert!(!Arc::ptr_eq(&a, &fueled));
        assert!(wasmtime::Store::new(&fueled.engine, ()).set_fuel(10).is_ok());
        assert!(wasmtime::Store::new(&a.engine, ()).set_fuel(10).is_err());
    }
}
