//! The events a `flowctl bench` run feeds its workers, as slices of one
//! sample: no batch is allocated, and none freed, while the clock runs.

use crate::event::Event;

/// `total` events in batches of `size`, cycling through a sample: batch `i`
/// is chunk `i mod chunks` of the sample repeated to a whole number of
/// batches, the last batch cut to what is left of `total`.
pub struct BatchStream {
    events: Vec<Event>,
    size: usize,
    pub total: usize,
}

impl BatchStream {
    pub fn new(sample: &[Event], total: u64, size: usize) -> Self {
        let total = total as usize;
        let whole_batches = sample.len().min(total).div_ceil(size) * size;
        let events = sample.iter().cycle().take(whole_batches).cloned().collect();
        Self { events, size, total }
    }

    pub fn first(&self) -> &[Event] {
        self.batch(0)
    }

    fn batch(&self, index: usize) -> &[Event] {
        let chunks = self.events.len().div_ceil(self.size).max(1);
        let at = (index % chunks) * self.size;
        let left = self.total.saturating_sub(index * self.size).min(self.size);
        self.events.get(at..(at + left).min(self.events.len())).unwrap_or_default()
    }

    /// The batches of worker `worker` of `workers`: every `workers`-th.
    pub fn share(&self, worker: usize, workers: usize) -> impl Iterator<Item = &[Event]> + '_ {
        let batches = self.total.div_ceil(self.size);
        (worker..batches).step_by(workers).map(|i| self.batch(i))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(n: usize) -> Vec<Event> {
        (0..n).map(|i| Event::new(format!("e{i}"), "t", 0, serde_json::json!({"i": i}))).collect()
    }

    fn ids(batch: &[Event]) -> Vec<String> {
        batch.iter().map(|e| e.id().to_owned()).collect()
    }

    #[test]
    fn batches_cover_the_total_cycling_through_the_sample() {
        let stream = BatchStream::new(&sample(5), 23, 4);
        let batches: Vec<_> = stream.share(0, 1).collect();
        assert_eq!(batches.iter().map(|b| b.len()).collect::<Vec<_>>(), [4, 4, 4, 4, 4, 3]);
        // The sample padded to whole batches: e0..e4 then e0..e2, repeated.
        assert_eq!(ids(batches[1]), ["e4", "e0", "e1", "e2"]);
        assert_eq!(ids(batches[2]), ["e0", "e1", "e2", "e3"]);
        assert_eq!(ids(stream.first()), ids(batches[0]));
    }

    #[test]
    fn workers_share_the_batches_without_overlap() {
        let stream = BatchStream::new(&sample(10), 1_001, 1);
        let counts: Vec<usize> = (0..3).map(|w| stream.share(w, 3).map(<[Event]>::len).sum()).collect();
        assert_eq!(counts, [334, 334, 333]);
    }

    #[test]
    fn a_total_below_one_batch_is_one_short_batch() {
        let stream = BatchStream::new(&sample(100), 7, 256);
        assert_eq!(stream.share(0, 1).map(<[Event]>::len).collect::<Vec<_>>(), [7]);
        assert_eq!(BatchStream::new(&sample(3), 0, 8).share(0, 1).count(), 0);
    }
}
