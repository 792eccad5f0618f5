//! What the `type: grpc` source remembers across reconnects: the last event it
//! received (told to the remote source with `SaveState` before resuming, so
//! the source knows where flowctl really got to) and a bounded window of
//! recent ids (so a source whose resume token is slightly behind causes no
//! repeats).

use std::collections::{HashMap, HashSet, VecDeque};

use super::mapping::keys;
use super::pb;

/// Ids remembered by default: enough for a token that lags by a few ledgers.
pub const WINDOW: usize = 65_536;

/// The `SaveState` key that holds the id of the last event flowctl received.
pub const LAST_EVENT_ID: &str = "last_event_id";

/// The ids of the last `capacity` events delivered, oldest first. A full
/// window reuses the oldest id's buffer for the newest: remembering costs a
/// copy of the id per event, no allocation and no hashing (this runs for
/// every event; a resume, which needs lookups, is rare).
#[derive(Debug)]
pub struct RecentIds {
    capacity: usize,
    order: VecDeque<String>,
}

impl RecentIds {
    pub fn new(capacity: usize) -> Self {
        let capacity = capacity.max(1);
        Self { capacity, order: VecDeque::with_capacity(capacity) }
    }

    pub fn push(&mut self, id: &str) {
        if self.order.len() == self.capacity {
            if let Some(mut buffer) = self.order.pop_front() {
                buffer.clear();
                buffer.push_str(id);
                self.order.push_back(buffer);
                return;
            }
        }
        self.order.push_back(id.to_owned());
    }

    pub fn snapshot(&self) -> HashSet<String> {
        self.order.iter().cloned().collect()
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
/// business); after a resume, an id delivered within the window before the
/// drop is dropped and counted, for as long as the window reaches (the next
/// `capacity` events).
#[derive(Debug)]
pub struct Dedupe {
    recent: RecentIds,
    /// The window as it was at the last resume.
    before_resume: HashSet<String>,
    /// Events still to check against `before_resume`.
    checks_left: usize,
    dropped: u64,
}

impl Dedupe {
    pub fn new(capacity: usize) -> Self {
        Self { recent: RecentIds::new(capacity), before_resume: HashSet::new(), checks_left: 0, dropped: 0 }
    }

    /// Called when a stream is opened again after a drop.
    pub fn resumed(&mut self) {
        self.before_resume = self.recent.snapshot();
        self.checks_left = self.recent.capacity;
    }

    /// Whether `id` goes on to the pipeline.
    pub fn admit(&mut self, id: &str) -> bool {
        if self.checks_left > 0 {
            self.checks_left -= 1;
            if self.before_resume.contains(id) {
                self.dropped += 1;
                return false;
            }
            if self.checks_left == 0 {
                self.before_resume = HashSet::new();
            }
        }
        self.recent.push(id);
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
    /// What a `SaveState` map (a saved position) says was seen last.
    pub fn from_state(state: &HashMap<String, String>) -> LastSeen {
        let ledger = state.get(keys::LEDGER_SEQUENCE).and_then(|v| v.parse().ok());
        let index = state.get(keys::INDEX_IN_LEDGER).and_then(|v| v.parse().ok());
        let cursor = match (ledger, index) {
            (Some(ledger_sequence), Some(index_in_ledger)) => {
                Some(pb::StellarCursor { ledger_sequence, index_in_ledger })
            }
            _ => None,
        };
        LastSeen { id: state.get(LAST_EVENT_ID).cloned(), cursor }
    }

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
    fn window_forgets_the_oldest_id_first_and_reuses_its_buffer() {
        let mut ids = RecentIds::new(3);
        for id in ["a", "b", "c", "d"] {
            ids.push(id);
        }
        assert_eq!(ids.len(), 3);
        let kept = ids.snapshot();
        assert!(!kept.contains("a") && ["b", "c", "d"].iter().all(|id| kept.contains(*id)));
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
        let again = LastSeen::from_state(&state);
        assert_eq!(again.state(), Some(state), "a saved position says the same");
    }
}
