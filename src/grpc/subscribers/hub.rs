//! The subscribers of one `grpc_server` sink: who is connected (each under a
//! small slot number that labels its metrics), and the fan-out of every
//! written batch to their queues under the sink's `slow_subscriber` policy.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use bytes::Bytes;

use super::queue::{Pushed, Queue};
use crate::config::SlowSubscriber;
use crate::telemetry::names;

/// Longest one wait for room under `block` before the writer looks at every
/// subscriber again (one may have left, another drained).
const ROOM_WAIT: Duration = Duration::from_millis(50);

/// One connected client of `StreamEvents`.
pub struct Subscriber {
    /// The lowest number free when it subscribed: its metrics' `subscriber` label,
    /// so label values stay as few as the most subscribers ever connected at once.
    pub slot: usize,
    pub queue: Queue,
    /// Events taken from the buffer for sending (`flowctl_subscriber_events_sent_total`).
    pub sent: metrics::Counter,
    dropped: metrics::Counter,
    disconnects: metrics::Counter,
}

struct Registry {
    /// Subscribers that receive what the sink writes.
    receiving: Vec<Arc<Subscriber>>,
    /// Slots in use, until a subscriber's stream is gone (a disconnected
    /// subscriber may still be delivering its last events).
    slots: BTreeSet<usize>,
    /// The sink ended: nobody new may subscribe.
    closing: bool,
}

/// Every subscriber of one sink, and the policy they share.
pub struct Hub {
    pub component: Arc<str>,
    pub capacity: usize,
    pub policy: SlowSubscriber,
    registry: Mutex<Registry>,
    connected: metrics::Gauge,
    /// Events the sink wrote (for `HealthCheck`).
    written: AtomicU64,
}

impl Hub {
    pub fn new(component: &str, capacity: usize, policy: SlowSubscriber) -> Self {
        let connected = metrics::gauge!(names::SUBSCRIBERS_CONNECTED, "component" => component.to_owned());
        connected.set(0.0);
        let registry = Registry { receiving: Vec::new(), slots: BTreeSet::new(), closing: false };
        Self {
            component: component.into(),
            capacity,
            policy,
            registry: Mutex::new(registry),
            connected,
            written: AtomicU64::new(0),
        }
    }

    fn registry(&self) -> MutexGuard<'_, Registry> {
        self.registry.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// A new subscriber that receives everything written from now on; `None`
    /// once the sink ended.
    pub fn subscribe(&self) -> Option<Arc<Subscriber>> {
        let mut registry = self.registry();
        if registry.closing {
            return None;
        }
        let slot = (1..).find(|n| !registry.slots.contains(n)).unwrap_or(usize::MAX);
        registry.slots.insert(slot);
        let labels = [("component", self.component.to_string()), ("subscriber", slot.to_string())];
        let depth = metrics::gauge!(names::SUBSCRIBER_BUFFER_DEPTH, &labels);
        depth.set(0.0);
        let subscriber = Arc::new(Subscriber {
            slot,
            queue: Queue::new(self.capacity, self.policy, depth),
            sent: metrics::counter!(names::SUBSCRIBER_EVENTS_SENT, &labels),
            dropped: metrics::counter!(names::SUBSCRIBER_EVENTS_DROPPED, &labels),
            disconnects: metrics::counter!(names::SUBSCRIBER_DISCONNECTS, &labels),
        });
        registry.receiving.push(subscriber.clone());
        self.connected.set(registry.receiving.len() as f64);
        Some(subscriber)
    }

    /// Stops writing to `subscriber` (it left, or was disconnected for slowness).
    pub fn detach(&self, subscriber: &Arc<Subscriber>) {
        let mut registry = self.registry();
        let before = registry.receiving.len();
        registry.receiving.retain(|s| !Arc::ptr_eq(s, subscriber));
        if registry.receiving.len() != before {
            self.connected.set(registry.receiving.len() as f64);
        }
    }

    /// Frees a slot once its stream is gone.
    pub fn release(&self, slot: usize) {
        self.registry().slots.remove(&slot);
    }

    pub fn receiving(&self) -> Vec<Arc<Subscriber>> {
        self.registry().receiving.clone()
    }

    pub fn written(&self) -> u64 {
        self.written.load(Relaxed)
    }

    pub fn is_closing(&self) -> bool {
        self.registry().closing
    }

    /// Hands a batch to every subscriber, in order. Under `block` it returns
    /// once every subscriber took all of it or left; otherwise it never waits.
    pub fn publish(&self, events: &[Bytes]) {
        self.written.fetch_add(events.len() as u64, Relaxed);
        let mut pending: Vec<(Arc<Subscriber>, usize)> = self.receiving().into_iter().map(|s| (s, 0)).collect();
        loop {
            pending.retain_mut(|(subscriber, offset)| match self.offer(subscriber, &events[*offset..]) {
                Some(accepted) => {
                    *offset += accepted;
                    *offset < events.len()
                }
                None => false,
            });
            // Only `block` leaves anyone pending: wait for the first, then offer to all again.
            match pending.first() {
                Some((subscriber, _)) => subscriber.queue.wait_for_room(ROOM_WAIT),
                None => return,
            }
        }
    }

    /// Offers events to one subscriber: how many it accepted, `None` if it is
    /// no longer receiving.
    fn offer(&self, subscriber: &Arc<Subscriber>, events: &[Bytes]) -> Option<usize> {
        match subscriber.queue.push(events) {
            Pushed::Accepted { accepted, dropped } => {
                if dropped > 0 {
                    subscriber.dropped.increment(dropped as u64);
                }
                Some(accepted)
            }
            Pushed::Exhausted => {
                subscriber.disconnects.increment(1);
                tracing::warn!(component = %self.component, subscriber = subscriber.slot, buffer = self.capacity,
                    "subscriber too slow: buffer full, ending its stream with RESOURCE_EXHAUSTED");
                self.detach(subscriber);
                None
            }
            Pushed::Ended(_) => {
                self.detach(subscriber);
                None
            }
        }
    }

    /// The sink ended: refuses new subscribers and ends every stream after
    /// what it has waiting. Returns the subscribers still to drain.
    pub fn close(&self) -> Vec<Arc<Subscriber>> {
        let receiving = {
            let mut registry = self.registry();
            registry.closing = true;
            registry.receiving.clone()
        };
        for subscriber in &receiving {
            subscriber.queue.end(super::queue::Ending::Finished);
        }
        receiving
    }
}

#[cfg(test)]
#[path = "hub_tests.rs"]
mod tests;
