use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::Wake;

use super::*;

fn events(range: std::ops::Range<u32>) -> Vec<Bytes> {
    range.map(|n| Bytes::from(n.to_string())).collect()
}

fn queue(capacity: usize, policy: SlowSubscriber) -> Queue {
    Queue::new(capacity, policy, metrics::Gauge::noop())
}

/// Everything waiting, as the numbers pushed.
fn drain(q: &Queue) -> (Vec<u32>, Taken) {
    let mut out = VecDeque::new();
    let taken = q.take(&mut out, Waker::noop());
    (out.iter().map(|b| std::str::from_utf8(b).unwrap().parse().unwrap()).collect(), taken)
}

#[derive(Default)]
struct CountingWaker(AtomicUsize);

impl Wake for CountingWaker {
    fn wake(self: Arc<Self>) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

#[test]
fn block_accepts_only_what_fits_and_the_rest_waits_for_room() {
    let q = queue(4, SlowSubscriber::Block);
    assert_eq!(q.push(&events(0..6)), Pushed::Accepted { accepted: 4, dropped: 0 });
    assert_eq!(q.push(&events(4..6)), Pushed::Accepted { accepted: 0, dropped: 0 });
    assert_eq!(drain(&q), (vec![0, 1, 2, 3], Taken::Events(4)));
    assert_eq!(q.push(&events(4..6)), Pushed::Accepted { accepted: 2, dropped: 0 });
    assert_eq!(drain(&q), (vec![4, 5], Taken::Events(2)));
}

#[test]
fn a_blocked_writer_wakes_when_the_stream_takes_or_the_client_leaves() {
    let q = Arc::new(queue(2, SlowSubscriber::Block));
    q.push(&events(0..2));
    let reader = {
        let q = q.clone();
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(50));
            drain(&q)
        })
    };
    // Generous: returns as soon as the reader took, long before the timeout.
    q.wait_for_room(Duration::from_secs(60));
    assert_eq!(q.len(), 0);
    assert_eq!(reader.join().unwrap(), (vec![0, 1], Taken::Events(2)));

    q.push(&events(2..4));
    let leaver = {
        let q = q.clone();
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(50));
            q.end(Ending::Gone);
        })
    };
    q.wait_for_room(Duration::from_secs(60));
    leaver.join().unwrap();
    assert_eq!(q.push(&events(4..5)), Pushed::Ended(Ending::Gone), "a gone subscriber takes nothing");
    assert_eq!(q.len(), 0, "and keeps nothing");
}

#[test]
fn drop_oldest_keeps_the_newest_and_counts_every_drop() {
    let q = queue(4, SlowSubscriber::DropOldest);
    assert_eq!(q.push(&events(0..3)), Pushed::Accepted { accepted: 3, dropped: 0 });
    assert_eq!(q.push(&events(3..6)), Pushed::Accepted { accepted: 3, dropped: 2 });
    assert_eq!(drain(&q), (vec![2, 3, 4, 5], Taken::Events(4)));
    // A batch larger than the buffer: only its newest `capacity` can stay.
    q.push(&events(6..7));
    assert_eq!(q.push(&events(7..17)), Pushed::Accepted { accepted: 4, dropped: 7 });
    assert_eq!(drain(&q), (vec![13, 14, 15, 16], Taken::Events(4)));
}

#[test]
fn disconnect_ends_the_stream_after_what_waits_and_refuses_more() {
    let q = queue(4, SlowSubscriber::Disconnect);
    assert_eq!(q.push(&events(0..3)), Pushed::Accepted { accepted: 3, dropped: 0 });
    assert_eq!(q.push(&events(3..5)), Pushed::Exhausted);
    assert_eq!(q.push(&events(5..6)), Pushed::Ended(Ending::Exhausted));
    assert_eq!(drain(&q), (vec![0, 1, 2], Taken::Events(3)), "what fit is delivered first");
    assert_eq!(drain(&q), (vec![], Taken::End(Ending::Exhausted)));
    assert!(q.is_settled());
}

#[test]
fn a_parked_stream_is_woken_once_per_push_and_by_the_end() {
    let q = queue(8, SlowSubscriber::Block);
    let counter = Arc::new(CountingWaker::default());
    let waker = Waker::from(counter.clone());
    let mut out = VecDeque::new();
    assert_eq!(q.take(&mut out, &waker), Taken::Pending);
    q.push(&events(0..3));
    q.push(&events(3..4));
    assert_eq!(counter.0.load(Ordering::SeqCst), 1, "one wakeup: the first push took the waker");
    assert_eq!(q.take(&mut out, &waker), Taken::Events(4));
    assert_eq!(q.take(&mut out, &waker), Taken::Pending);
    q.end(Ending::Finished);
    assert_eq!(counter.0.load(Ordering::SeqCst), 2);
}

#[test]
fn finished_drains_before_ending_cleanly() {
    let q = queue(8, SlowSubscriber::DropOldest);
    q.push(&events(0..2));
    q.end(Ending::Finished);
    assert!(!q.is_settled(), "two events still wait");
    assert_eq!(q.push(&events(2..3)), Pushed::Ended(Ending::Finished));
    assert_eq!(drain(&q), (vec![0, 1], Taken::Events(2)));
    assert_eq!(drain(&q), (vec![], Taken::End(Ending::Finished)));
    assert!(q.is_settled());
}
