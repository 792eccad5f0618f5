//! What the `type: grpc` source remembers across reconnects: the last event it
//! received (told to the remote source with `SaveState` before resuming, so
//! the source knows where flowctl really got to) and a bounded window of
//! recent ids (so a source whose resume token is slightly behind causes no
//! repeats).

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Arc;

use super::mapping::keys;
use super::pb;

/// Ids remembered by default: enough for a token that lags by a few ledgers.
pub const WINDOW: usize = 65_536;

/// The `SaveState` key that holds the id of the last event flowctl received.
pub const LAST_EVENT_ID: &str = "last_event_id";

/// The most recent `capacity` distinct ids, oldest forgotten first.
#[derive(Debug)]
pub struct RecentIds {
    capacity: usize,
    order: VecDeque<Arc<str>>,
    set: HashSet<Arc<str>>,
}

impl RecentIds {
    pub fn new(capacity: usize) -> Self {
        let capacity = capacity.max(1);
        Self { capacity, order: VecDeque::with_capacity(capacity), set: HashSet::with_capacity(capacity) }
    }

    /// Remembers `id`; returns `false` when it was already in the window.
    pub fn insert(&mut self, id: &str) -> bool {
        if self.set.contains(id) {
            return false;
        }
        if self.order.len() == self.capacity {
            if let Some(oldest) = self.order.pop_front() {
                self.set.remove(&oldest);
            }
        }
        let id: Arc<str> = Arc::from(id);
        self.order.push_back(id.clone());
        self.set.insert(id);
        true
    }

    pub fn len(&self) -> usize {
        self.order.len()
    }

    pub fn is_empty(&self) -> bool {
        self.order.is_empty()
    }
}

/// Decides which events of a stream reach the pipeline. Before the first
/// resume every event passes (repeats inside one stream are the source's
/// business); after a resume, an id already delivered is dropped and counted.
#[derive(Debug)]
pub struct Dedupe {
    recent: RecentIds,
    resumed: bool,
    dropped: u64,
}

impl Dedupe {
    pub fn new(capacity: usize) -> Self {
        Self { recent: RecentIds::new(capacity), resumed: false, dropped: 0 }
    }

    /// Called when a stream is opened again after a drop.
    pub fn resumed(&mut self) {
        self.resumed = true;
    }

    /// Whether `id` goes on to the pipeline.
    pub fn admit(&mut self, id: &str) -> bool {
        let new = self.recent.insert(id);
        if !new && self.resumed {
            self.dropped += 1;
            return false;
        }
        true
    }

    /// Events dropped as already delivered, in total.
    pub fn dropped(&self) -> u64 {
        self.dropped
    }
}

/// The last event flowctl received, kept as cheaply as possible (its id
/// buffer is reused): what `SaveState` tells the source before a resume.
#[derive(Debug, Default)]
pub struct LastSeen {
    id: Option<String>,
    cursor: Option<pb::StellarCursor>,
}

impl LastSeen {
    pub fn record(&mut self, event: &pb::Event) {
        let id = self.id.get_or_insert_with(String::new);
        id.clear();
        id.push_str(&event.id);
        self.cursor = event.stellar_cursor;
    }

    /// The `SaveState` map: the id, and the Stellar cursor when the event had
    /// one (what Stellar sources resume from). `None` before any event.
    pub fn state(&self) -> Option<HashMap<String, String>> {
        let id = self.id.as_ref()?;
        let mut state = HashMap::from([(LAST_EVENT_ID.to_owned(), id.clone())]);
        if let Some(cursor) = self.cursor {
            state.insert(keys::LEDGER_SEQUENCE.to_owned(), cursor.ledger_sequence.to_string());
            state.insert(keys::INDEX_IN_LEDGER.to_owned(), cursor.index_in_ledger.to_string());
        }
        Some(state)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn window_forgets_the_oldest_id_first() {
        let mut ids = RecentIds::new(3);
        for id in ["a", "b", "c"] {
            assert!(ids.insert(id));
        }
        assert!(!ids.insert("a"), "a is still remembered");
        assert!(ids.insert("d"), "d is new and pushes a out");
        assert_eq!(ids.len(), 3);
        assert!(ids.insert("a"), "a was forgotten");
        assert!(!ids.insert("c") && !ids.insert("d"));
    }

    #[test]
    fn repeats_pass_before_a_resume_and_are_dropped_after() {
        let mut dedupe = Dedupe::new(WINDOW);
        assert!(dedupe.admit("e1") && dedupe.admit("e2"));
        assert!(dedupe.admit("e2"), "no resume yet: the source's own repeat passes");
        dedupe.resumed();
        // A token two events behind: e1 and e2 come again, then e3 is new.
        let admitted: Vec<&str> = ["e1", "e2", "e3"].into_iter().filter(|id| dedupe.admit(id)).collect();
        assert_eq!(admitted, ["e3"]);
        assert_eq!(dedupe.dropped(), 2);
    }

    #[test]
    fn a_lag_longer_than_the_window_repeats_what_it_forgot() {
        let mut dedupe = Dedupe::new(2);
        for id in ["e1", "e2", "e3"] {
            assert!(dedupe.admit(id));
        }
        dedupe.resumed();
        assert!(dedupe.admit("e1"), "e1 fell out of the window: delivered again");
        assert!(!dedupe.admit("e3"));
        assert_eq!(dedupe.dropped(), 1);
    }

    #[test]
    fn saved_state_names_the_last_id_and_its_cursor() {
        let mut last = LastSeen::default();
        assert_eq!(last.state(), None, "nothing received: nothing to save");
        let mut event = pb::Event { id: "ev-9".into(), ..Default::default() };
        last.record(&event);
        assert_eq!(last.state(), Some(HashMap::from([(LAST_EVENT_ID.to_owned(), "ev-9".to_owned())])));
        event.id = "ev-10".into();
        event.stellar_cursor = Some(pb::StellarCursor { ledger_sequence: 51_000_123, index_in_ledger: 7 });
        last.record(&event);
        let state = last.state().expect("state");
        assert_eq!(state[LAST_EVENT_ID], "ev-10");
        assert_eq!(state[keys::LEDGER_SEQUENCE], "51000123");
        assert_eq!(state[keys::INDEX_IN_LEDGER], "7");
        assert_eq!(state.len(), 3);
    }
}
