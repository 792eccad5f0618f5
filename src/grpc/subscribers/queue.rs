//! One subscriber's bounded buffer of encoded events, shared by the sink's
//! writer thread (which pushes) and the subscriber's response stream (which
//! takes). Everything happens under one mutex per subscriber: the writer moves
//! a whole batch in under one lock, the stream moves everything waiting out
//! under one lock (a swap of two buffers), so neither pays a lock per event.
//!
//! The writer is a blocking thread and waits for room on a [`Condvar`]; the
//! stream is a task on the gRPC runtime and leaves its [`Waker`] in the state,
//! so a push wakes it once per batch and no wakeup can be lost between its
//! check and its wait (both happen under the same lock).

use std::collections::VecDeque;
use std::sync::{Condvar, Mutex, MutexGuard};
use std::task::Waker;
use std::time::Duration;

use bytes::Bytes;

use crate::config::SlowSubscriber;

/// Why a subscriber's stream ends (set once; later endings are ignored).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ending {
    /// The sink ended: the stream delivers what waits, then ends cleanly.
    Finished,
    /// Full under `disconnect`: the stream delivers what waits, then ends with `RESOURCE_EXHAUSTED`.
    Exhausted,
    /// The client left: nothing more is delivered or accepted.
    Gone,
}

/// What one push did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pushed {
    /// `accepted` events entered the buffer (under `block`, the first
    /// `accepted` of those offered: the rest wait for room); `dropped` older
    /// events left it unsent to make room (`drop_oldest`).
    Accepted { accepted: usize, dropped: usize },
    /// This push overflowed the buffer under `disconnect`: the queue is now
    /// [`Ending::Exhausted`] and accepted nothing.
    Exhausted,
    /// The queue had already ended: it accepts nothing any more.
    Ended(Ending),
}

/// What a take found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Taken {
    /// This many events moved to the caller's buffer.
    Events(usize),
    /// Nothing waits and the stream is over, for this reason.
    End(Ending),
    /// Nothing waits yet: the waker given is woken by the next push or ending.
    Pending,
}

struct State {
    events: VecDeque<Bytes>,
    ending: Option<Ending>,
    /// The stream's task, parked until something arrives.
    waker: Option<Waker>,
}

/// A subscriber's buffer of at most `capacity` events.
pub struct Queue {
    state: Mutex<State>,
    /// Signalled when events leave or the queue ends, for a writer waiting for room (`block`).
    room: Condvar,
    capacity: usize,
    policy: SlowSubscriber,
    /// `flowctl_subscriber_buffer_depth`, set under the lock so it never goes stale.
    depth: metrics::Gauge,
}

impl Queue {
    pub fn new(capacity: usize, policy: SlowSubscriber, depth: metrics::Gauge) -> Self {
        let state = State { events: VecDeque::with_capacity(capacity), ending: None, waker: None };
        Self { state: Mutex::new(state), room: Condvar::new(), capacity: capacity.max(1), policy, depth }
    }

    /// The lock, even if a thread panicked while holding it: the state is a
    /// buffer and a flag, consistent after every statement.
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Offers `events` (in order) under the queue's policy. Never blocks.
    pub fn push(&self, events: &[Bytes]) -> Pushed {
        let mut state = self.lock();
        if let Some(ending) = state.ending {
            return Pushed::Ended(ending);
        }
        let room = self.capacity - state.events.len();
        let outcome = match self.policy {
            SlowSubscriber::Block => {
                let accepted = room.min(events.len());
                state.events.extend(events[..accepted].iter().cloned());
                Pushed::Accepted { accepted, dropped: 0 }
            }
            SlowSubscriber::DropOldest => {
                // Only the newest `capacity` can stay: skip the rest of a huge batch outright.
                let skip = events.len().saturating_sub(self.capacity);
                let excess = (events.len() - skip).saturating_sub(room);
                state.events.drain(..excess);
                state.events.extend(events[skip..].iter().cloned());
                Pushed::Accepted { accepted: events.len() - skip, dropped: skip + excess }
            }
            SlowSubscriber::Disconnect if events.len() > room => {
                state.ending = Some(Ending::Exhausted);
                Pushed::Exhausted
            }
            SlowSubscriber::Disconnect => {
                state.events.extend(events.iter().cloned());
                Pushed::Accepted { accepted: events.len(), dropped: 0 }
            }
        };
        self.depth.set(state.events.len() as f64);
        let waker = state.waker.take();
        // Woken after unlocking, so the stream does not wake into a held lock.
        drop(state);
        if let Some(waker) = waker {
            waker.wake();
        }
        outcome
    }

    /// Waits (at most `timeout`) until the buffer has room or the queue ended.
    pub fn wait_for_room(&self, timeout: Duration) {
        let state = self.lock();
        let full = |s: &mut State| s.ending.is_none() && s.events.len() >= self.capacity;
        let _unused =
            self.room.wait_timeout_while(state, timeout, full).unwrap_or_else(std::sync::PoisonError::into_inner);
    }

    /// Moves everything waiting to the back of `into` (the stream's own
    /// buffer, expected empty: then it is a swap of two buffers).
    pub fn take(&self, into: &mut VecDeque<Bytes>, waker: &Waker) -> Taken {
        let mut state = self.lock();
        let n = state.events.len();
        if n > 0 {
            if into.is_empty() {
                std::mem::swap(&mut state.events, into);
            } else {
                into.extend(state.events.drain(..));
            }
            self.depth.set(0.0);
            drop(state);
            // Only `block` writers wait for room; spare the others a futex wake per take.
            if self.policy == SlowSubscriber::Block {
                self.room.notify_all();
            }
            return Taken::Events(n);
        }
        match state.ending {
            Some(ending) => Taken::End(ending),
            None => {
                if !state.waker.as_ref().is_some_and(|w| w.will_wake(waker)) {
                    state.waker = Some(waker.clone());
                }
                Taken::Pending
            }
        }
    }

    /// Ends the queue (the first ending wins); [`Ending::Gone`] also
    /// discards what waits. Wakes both sides.
    pub fn end(&self, ending: Ending) {
        let mut state = self.lock();
        if state.ending.is_none() {
            state.ending = Some(ending);
        }
        if ending == Ending::Gone {
            state.ending = Some(Ending::Gone);
            state.events.clear();
            self.depth.set(0.0);
        }
        let waker = state.waker.take();
        drop(state);
        self.room.notify_all();
        if let Some(waker) = waker {
            waker.wake();
        }
    }

    /// Ended with nothing left to deliver.
    pub fn is_settled(&self) -> bool {
        let state = self.lock();
        state.ending.is_some() && state.events.is_empty()
    }

    /// Events waiting now.
    pub fn len(&self) -> usize {
        self.lock().events.len()
    }

    pub fn capacity(&self) -> usize {
        self.capacity
    }
}

#[cfg(test)]
#[path = "queue_tests.rs"]
mod tests;
