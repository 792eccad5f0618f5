//! Processor state: keys and values (bytes) a processor granted
//! `permissions.state` keeps in the host, so they outlive instances, hot
//! reloads and crashes.
//!
//! A guest call's writes are kept aside and applied only when the call
//! succeeds (a trapped or failed call leaves no trace, so a retry does not
//! count twice). Applied writes stay *pending*, tagged with the [`Span`] of
//! source polls the call's events came from, until a checkpoint commits them
//! together with source positions that cover those polls and nothing before
//! them: after a crash, the state holds exactly the effects of the events
//! before the saved positions, and the events after them are replayed. Per
//! key, pending writes commit in order, so a committed value never reflects a
//! write that is not committed. Where a span straddles the position a
//! checkpoint would save, the position is held back to before the span
//! ([`ProcessorState::clamp`]).
//!
//! A processor outside a pipeline with a state store (`flowctl test`,
//! `bench`, `serve`) keeps its state in memory only.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use super::StateWrite;
use crate::event::Event;
use crate::runtime::StateCaps;

/// Source polls a guest call's events came from: per source index, the
/// lowest and highest poll sequence number.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Span(Vec<(usize, u64, u64)>);

impl Span {
    pub fn of(events: &[Event]) -> Span {
        let mut span = Span::default();
        let mut last: Option<&crate::progress::Ticket> = None;
        for ticket in events.iter().filter_map(Event::ticket) {
            if last.is_some_and(|l| l.same(ticket)) {
                continue;
            }
            last = Some(ticket);
            ticket.for_each_poll(&mut |source, seq| span.add(source, seq));
        }
        span
    }

    /// Widens this span to cover `other`'s polls too.
    pub fn merge(&mut self, other: Span) {
        for (source, min, max) in other.0 {
            self.add(source, min);
            self.add(source, max);
        }
    }

    fn add(&mut self, source: usize, seq: u64) {
        match self.0.iter_mut().find(|(s, _, _)| *s == source) {
            Some((_, min, max)) => (*min, *max) = ((*min).min(seq), (*max).max(seq)),
            None => self.0.push((source, seq, seq)),
        }
    }

    /// Whether every poll in the span is covered by the `finished` positions.
    fn within(&self, finished: &[Option<u64>]) -> bool {
        self.0.iter().all(|&(source, _, max)| finished.get(source).copied().flatten().is_some_and(|w| w >= max))
    }

    /// Holds back each position that reaches into this span to just before
    /// it. Returns whether anything moved.
    fn hold_back(&self, finished: &mut [Option<u64>]) -> bool {
        let mut moved = false;
        for &(source, min, _) in &self.0 {
            if let Some(w) = finished.get_mut(source) {
                if w.is_some_and(|w| w >= min) {
                    *w = min.checked_sub(1);
                    moved = true;
                }
            }
        }
        moved
    }
}

/// Why a `state_set` was refused: each a named error in the SDKs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum StateRefusal {
    #[error("state key larger than {0} bytes")]
    KeyTooLarge(usize),
    #[error("state value larger than {0} bytes")]
    ValueTooLarge(usize),
    #[error("processor state over {0} bytes")]
    StateFull(u64),
}

impl StateRefusal {
    /// The code host functions return (`docs/abi.md`).
    pub fn code(self) -> i32 {
        match self {
            StateRefusal::KeyTooLarge(_) => 1,
            StateRefusal::ValueTooLarge(_) => 2,
            StateRefusal::StateFull(_) => 3,
        }
    }
}

pub struct ProcessorState {
    processor: String,
    caps: StateCaps,
    /// Set once a checkpointer commits this state; before, writes apply at once.
    durable: AtomicBool,
    keys: Mutex<Keys>,
}

#[derive(Default)]
struct Keys {
    map: HashMap<Vec<u8>, KeyEntry>,
    /// Keys with pending writes.
    dirty: HashSet<Vec<u8>>,
    /// Bytes of keys and latest values.
    bytes: u64,
}

#[derive(Default)]
struct KeyEntry {
    committed: Option<Vec<u8>>,
    pending: VecDeque<(Option<Vec<u8>>, Arc<Span>)>,
}

impl KeyEntry {
    fn latest(&self) -> Option<&Vec<u8>> {
        match self.pending.back() {
            Some((value, _)) => value.as_ref(),
            None => self.committed.as_ref(),
        }
    }
}

/// What a checkpoint commits of one processor's state, and how to confirm it.
pub struct StatePlan {
    pub writes: Vec<StateWrite>,
    /// Per key, how many pending writes the commit covers.
    counts: Vec<(Vec<u8>, usize)>,
}

impl ProcessorState {
    pub fn new(processor: &str, caps: StateCaps) -> Arc<ProcessorState> {
        Arc::new(Self {
            processor: processor.to_owned(),
            caps,
            durable: AtomicBool::new(false),
            keys: Mutex::default(),
        })
    }

    pub fn processor(&self) -> &str {
        &self.processor
    }

    pub fn caps(&self) -> &StateCaps {
        &self.caps
    }

    fn keys(&self) -> std::sync::MutexGuard<'_, Keys> {
        self.keys.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Takes the committed state from the store; writes are now held for checkpoints.
    pub fn load(&self, entries: Vec<super::store::StateEntry>) {
        let mut keys = self.keys();
        for (key, value) in entries {
            keys.bytes += (key.len() + value.len()) as u64;
            keys.map.insert(key, KeyEntry { committed: Some(value), pending: VecDeque::new() });
        }
        self.durable.store(true, Ordering::Release);
    }

    pub fn get(&self, key: &[u8]) -> Option<Vec<u8>> {
        self.keys().map.get(key).and_then(KeyEntry::latest).cloned()
    }

    /// Bytes of keys and latest values.
    pub fn bytes(&self) -> u64 {
        self.keys().bytes
    }

    /// Checks one write against the caps, `pending_bytes` being what the call
    /// in progress already added.
    pub fn admit(&self, key: &[u8], value: Option<&[u8]>, pending_bytes: u64) -> Result<(), StateRefusal> {
        if key.len() > self.caps.max_key_bytes {
            return Err(StateRefusal::KeyTooLarge(self.caps.max_key_bytes));
        }
        let Some(value) = value else { return Ok(()) };
        if value.len() > self.caps.max_value_bytes {
            return Err(StateRefusal::ValueTooLarge(self.caps.max_value_bytes));
        }
        if self.bytes() + pending_bytes + (key.len() + value.len()) as u64 > self.caps.max_bytes as u64 {
            return Err(StateRefusal::StateFull(self.caps.max_bytes as u64));
        }
        Ok(())
    }

    /// Applies a successful call's writes, tagged with its events' span.
    pub fn apply(&self, writes: HashMap<Vec<u8>, Option<Vec<u8>>>, span: Span) {
        if writes.is_empty() {
            return;
        }
        let durable = self.durable.load(Ordering::Acquire);
        let span = Arc::new(span);
        let mut keys = self.keys();
        for (key, value) in writes {
            let entry = keys.map.entry(key.clone()).or_default();
            let before = entry.latest().map_or(0, |v| key.len() + v.len()) as u64;
            let after = value.as_ref().map_or(0, |v| key.len() + v.len()) as u64;
            if durable {
                entry.pending.push_back((value, span.clone()));
                keys.dirty.insert(key);
            } else {
                entry.committed = value;
                if entry.committed.is_none() {
                    keys.map.remove(&key);
                }
            }
            keys.bytes = (keys.bytes + after).saturating_sub(before);
        }
    }

    /// Holds `finished` positions back so that no pending write that stays
    /// uncommitted covers a poll at or before them. Returns whether anything moved.
    pub fn clamp(&self, finished: &mut [Option<u64>]) -> bool {
        let keys = self.keys();
        let mut moved = false;
        for key in &keys.dirty {
            let Some(entry) = keys.map.get(key) else { continue };
            if let Some((_, span)) = entry.pending.iter().find(|(_, span)| !span.within(finished)) {
                moved |= span.hold_back(finished);
            }
        }
        moved
    }

    /// The writes `finished` positions (already clamped) cover: per key, the
    /// latest value of its leading covered pending writes.
    pub fn plan(&self, finished: &[Option<u64>]) -> StatePlan {
        let keys = self.keys();
        let mut plan = StatePlan { writes: Vec::new(), counts: Vec::new() };
        for key in &keys.dirty {
            let Some(entry) = keys.map.get(key) else { continue };
            let count = entry.pending.iter().take_while(|(_, span)| span.within(finished)).count();
            if count > 0 {
                let value = entry.pending[count - 1].0.clone();
                plan.writes.push(StateWrite { processor: self.processor.clone(), key: key.clone(), value });
                plan.counts.push((key.clone(), count));
            }
        }
        plan
    }

    /// The plan was committed: its writes are the committed values now.
    pub fn confirm(&self, plan: StatePlan) {
        let mut keys = self.keys();
        for (key, count) in plan.counts {
            let Some(entry) = keys.map.get_mut(&key) else { continue };
            let committed = entry.pending.drain(..count).next_back().map(|(value, _)| value);
            if let Some(value) = committed {
                entry.committed = value;
            }
            if entry.pending.is_empty() {
                let gone = entry.committed.is_none();
                keys.dirty.remove(&key);
                if gone {
                    keys.map.remove(&key);
                }
            }
        }
    }
}

#[cfg(test)]
#[path = "keyed_tests.rs"]
mod tests;
