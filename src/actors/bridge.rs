//! Bridges between the async actors and the blocking threads around them.
//!
//! - [`RecvStream`]: a bounded tokio channel filled by a thread, read by an
//!   actor as a stream (so `ctx.wait` pauses reading: backpressure).
//! - [`ThreadBridge`]: an actor hands items to a blocking thread through a
//!   bounded crossbeam channel; a semaphore makes the actor wait (async) for
//!   room instead of blocking its executor thread.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use actix::prelude::Stream;
use tokio::sync::{mpsc, OwnedSemaphorePermit, Semaphore};

/// A tokio receiver as a `Stream`, for `StreamHandler::add_stream`.
pub struct RecvStream<T>(pub mpsc::Receiver<T>);

impl<T> Stream for RecvStream<T> {
    type Item = T;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<T>> {
        self.get_mut().0.poll_recv(cx)
    }
}

/// Sending side of an async -> thread channel of bounded capacity.
pub struct ThreadBridge<T> {
    permits: Arc<Semaphore>,
    tx: Option<crossbeam_channel::Sender<(T, OwnedSemaphorePermit)>>,
}

/// Receiving side, owned by the thread. Dropping an item's permit frees its slot.
pub type ThreadReceiver<T> = crossbeam_channel::Receiver<(T, OwnedSemaphorePermit)>;

/// A bridge holding at most `capacity` items not yet taken by the thread.
pub fn thread_bridge<T>(capacity: usize) -> (ThreadBridge<T>, ThreadReceiver<T>) {
    let capacity = capacity.max(1);
    let (tx, rx) = crossbeam_channel::bounded(capacity);
    (ThreadBridge { permits: Arc::new(Semaphore::new(capacity)), tx: Some(tx) }, rx)
}

impl<T: Send + 'static> ThreadBridge<T> {
    /// A future that waits for room, then hands `item` over. Returns the item
    /// back if the thread is gone or the bridge was closed.
    pub fn send(&self, item: T) -> impl std::future::Future<Output = Result<(), T>> + 'static {
        let permits = self.permits.clone();
        let tx = self.tx.clone();
        async move {
            let Some(tx) = tx else { return Err(item) };
            let Ok(permit) = permits.acquire_owned().await else { return Err(item) };
            // The permit guarantees a free slot, so this never blocks.
            tx.try_send((item, permit)).map_err(|e| e.into_inner().0)
        }
    }

    /// No more items: the thread sees the channel disconnect once drained.
    pub fn close(&mut self) {
        self.tx = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bridge_holds_at_most_capacity_items() {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("rt");
        let (bridge, rx) = thread_bridge::<u32>(2);
        rt.block_on(async {
            bridge.send(1).await.expect("room");
            bridge.send(2).await.expect("room");
            // A third item must wait until the thread takes one and drops its permit.
            let third = bridge.send(3);
            let timed = tokio::time::timeout(std::time::Duration::from_millis(50), third).await;
            assert!(timed.is_err(), "third item accepted while the bridge was full");
            let (one, permit) = rx.recv().expect("item");
            assert_eq!(one, 1);
            drop(permit);
            bridge.send(3).await.expect("room after a permit was released");
        });
        let rest: Vec<u32> = rx.try_iter().map(|(v, _)| v).collect();
        assert_eq!(rest, vec![2, 3]);
    }
}
