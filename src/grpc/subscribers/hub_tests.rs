use std::collections::VecDeque;
use std::sync::mpsc;
use std::task::Waker;

use super::*;
use crate::grpc::subscribers::queue::{Ending, Taken};

fn events(n: u32) -> Vec<Bytes> {
    (0..n).map(|i| Bytes::from(i.to_string())).collect()
}

fn take_all(subscriber: &Subscriber) -> usize {
    let mut out = VecDeque::new();
    match subscriber.queue.take(&mut out, Waker::noop()) {
        Taken::Events(n) => n,
        _ => 0,
    }
}

#[test]
fn slots_are_the_lowest_free_numbers_and_are_reused_only_once_released() {
    let hub = Hub::new("live", 4, SlowSubscriber::Block);
    let subs: Vec<_> = (0..3).map(|_| hub.subscribe().unwrap()).collect();
    assert_eq!(subs.iter().map(|s| s.slot).collect::<Vec<_>>(), [1, 2, 3]);
    hub.detach(&subs[1]);
    assert_eq!(hub.receiving().len(), 2);
    assert_eq!(hub.subscribe().unwrap().slot, 4, "slot 2 is still held until its stream is gone");
    hub.release(2);
    assert_eq!(hub.subscribe().unwrap().slot, 2);
}

#[test]
fn under_block_publish_waits_for_room_and_a_leaving_subscriber_frees_it() {
    let hub = Arc::new(Hub::new("live", 2, SlowSubscriber::Block));
    let (reader, leaver) = (hub.subscribe().unwrap(), hub.subscribe().unwrap());
    let (done_tx, done) = mpsc::channel();
    let writer = {
        let hub = hub.clone();
        std::thread::spawn(move || {
            hub.publish(&events(5));
            done_tx.send(()).unwrap();
        })
    };
    // The reader takes everything as it comes; the other never reads, then leaves.
    let (mut taken, mut left) = (0, false);
    while taken < 5 {
        taken += take_all(&reader);
        std::thread::yield_now();
        if taken >= 4 && !left {
            assert!(done.try_recv().is_err(), "publish returned while a subscriber had no room");
            leaver.queue.end(Ending::Gone);
            left = true;
        }
    }
    done.recv_timeout(Duration::from_secs(60)).expect("publish never returned after the subscriber left");
    writer.join().unwrap();
    assert_eq!(hub.receiving().len(), 1, "the subscriber that left no longer receives");
    assert_eq!(hub.written(), 5);
}

#[test]
fn under_disconnect_an_overflowing_subscriber_stops_receiving_and_the_others_do_not_wait() {
    let hub = Hub::new("live", 2, SlowSubscriber::Disconnect);
    let (slow, fast) = (hub.subscribe().unwrap(), hub.subscribe().unwrap());
    hub.publish(&events(2));
    assert_eq!(take_all(&fast), 2);
    hub.publish(&events(1));
    assert_eq!(take_all(&fast), 1);
    assert!(hub.receiving().iter().all(|s| !Arc::ptr_eq(s, &slow)), "the slow one was detached");
    assert_eq!(take_all(&slow), 2, "it still gets what fit");
    let mut out = VecDeque::new();
    assert_eq!(slow.queue.take(&mut out, Waker::noop()), Taken::End(Ending::Exhausted));
}

#[test]
fn close_refuses_new_subscribers_and_ends_every_stream_after_what_waits() {
    let hub = Hub::new("live", 8, SlowSubscriber::DropOldest);
    let subscriber = hub.subscribe().unwrap();
    hub.publish(&events(3));
    let draining = hub.close();
    assert_eq!(draining.len(), 1);
    assert!(hub.subscribe().is_none() && hub.is_closing());
    assert!(!subscriber.queue.is_settled());
    assert_eq!(take_all(&subscriber), 3);
    assert!(subscriber.queue.is_settled());
}
