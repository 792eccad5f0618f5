//! The `null` sink: drops events after counting them and the bytes their JSONL
//! form would take, without any I/O. The counters are shared so a bench or
//! test can read them live.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use super::{ConnectorError, Sink};
use crate::event::Event;

/// Running totals of a [`NullSink`], readable from any thread.
#[derive(Debug, Clone, Default)]
pub struct NullCounters {
    pub events: Arc<AtomicU64>,
    /// Bytes of JSONL (event JSON plus newline) the events would have taken.
    pub bytes: Arc<AtomicU64>,
}

impl NullCounters {
    pub fn events(&self) -> u64 {
        self.events.load(Ordering::Relaxed)
    }

    pub fn bytes(&self) -> u64 {
        self.bytes.load(Ordering::Relaxed)
    }
}

#[derive(Debug, Default)]
pub struct NullSink {
    counters: NullCounters,
}

impl NullSink {
    pub fn new() -> Self {
        Self::default()
    }

    /// A sink adding to counters the caller already holds.
    pub fn with_counters(counters: NullCounters) -> Self {
        Self { counters }
    }

    pub fn counters(&self) -> NullCounters {
        self.counters.clone()
    }
}

impl Sink for NullSink {
    fn write(&mut self, events: &[Event]) -> Result<(), ConnectorError> {
        // An event is its JSON line already: what a file sink would write, plus its newline.
        let bytes: usize = events.iter().map(|e| e.as_json().len() + 1).sum();
        // One atomic update per batch, not per event.
        self.counters.events.fetch_add(events.len() as u64, Ordering::Relaxed);
        self.counters.bytes.fetch_add(bytes as u64, Ordering::Relaxed);
        Ok(())
    }

    fn flush(&mut self) -> Result<(), ConnectorError> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_events_and_jsonl_bytes() {
        let counters = NullCounters::default();
        let mut sink = NullSink::with_counters(counters.clone());
        let events: Vec<Event> =
            (0..3).map(|i| Event::new(i.to_string(), "t", 1, serde_json::json!({"n": i}))).collect();
        sink.write(&events).expect("write");
        sink.write(&events[..1]).expect("write");
        sink.flush().expect("flush");
        assert_eq!(counters.events(), 4);
        let expected: usize = events.iter().chain(&events[..1]).map(|e| e.to_json().len() + 1).sum();
        assert_eq!(counters.bytes(), expected as u64);
        assert_eq!(sink.counters().events(), 4);
    }
}
