//! One `Process` call: batches in, outputs out, in order.
//!
//! A reader task takes whatever inputs have already arrived (at least one,
//! at most `max_batch`, never waiting for more), hands the batch to the
//! worker pool and queues the batch's answer in an ordered channel. The
//! response stream ([`Outputs`]) awaits those answers front to back, so
//! batches run in parallel on the workers while outputs leave in input
//! order. The ordered channel's capacity bounds the batches in flight per
//! stream; when it is full the reader stops reading and HTTP/2 flow control
//! slows the client down.
//!
//! When the client half-closes, the reader ends and the stream ends after
//! the last batch's outputs. When the client goes away, the response stream
//! is dropped and the reader stops at its next batch.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use tokio::sync::{mpsc, oneshot};
use tokio_stream::Stream;
use tonic::{Status, Streaming};

use super::pool::{Batch, WorkerPool};
use crate::actors::SharedVersions;
use crate::grpc::pb;

/// How a stream is cut into batches.
#[derive(Debug, Clone, Copy)]
pub struct Batching {
    /// Most events per batch.
    pub max_batch: usize,
    /// Most batches of one stream queued or running at once.
    pub in_flight: usize,
}

/// An entry of the ordered channel.
enum Pending {
    Batch(oneshot::Receiver<Vec<pb::Event>>),
    /// The stream ends here with this status.
    Failed(Status),
}

/// Starts serving one `Process` call on the current tokio runtime.
pub fn start(
    inbound: Streaming<pb::Event>,
    pool: Arc<WorkerPool>,
    versions: SharedVersions,
    batching: Batching,
) -> Outputs {
    let (order, pending) = mpsc::channel(batching.in_flight.max(1));
    tokio::spawn(read_batches(inbound, pool, versions, batching.max_batch.max(1), order));
    Outputs { pending, current: None, ready: Vec::new().into_iter() }
}

async fn read_batches(
    mut inbound: Streaming<pb::Event>,
    pool: Arc<WorkerPool>,
    versions: SharedVersions,
    max_batch: usize,
    order: mpsc::Sender<Pending>,
) {
    loop {
        let first = match inbound.message().await {
            Ok(Some(event)) => event,
            Ok(None) => return, // half-closed: `Outputs` ends after the batches queued so far
            Err(status) => return fail(&order, status).await,
        };
        let mut events = Vec::with_capacity(max_batch.min(64));
        events.push(first);
        let mut end = None;
        while events.len() < max_batch {
            match poll_now(&mut inbound) {
                Some(Some(Ok(event))) => events.push(event),
                Some(Some(Err(status))) => {
                    end = Some(Some(status));
                    break;
                }
                Some(None) => {
                    end = Some(None);
                    break;
                }
                None => break, // nothing more has arrived: run what we have
            }
        }
        // A place in the order first: this is what bounds the batches in flight.
        let Ok(place) = order.reserve().await else { return }; // the client left
        let (reply, answer) = oneshot::channel();
        let batch = Batch { events, versions: versions.load_full(), reply };
        if pool.submit(batch).is_err() {
            place.send(Pending::Failed(Status::unavailable("the server is shutting down")));
            return;
        }
        place.send(Pending::Batch(answer));
        match end {
            None => {}
            Some(None) => return,
            Some(Some(status)) => return fail(&order, status).await,
        }
    }
}

async fn fail(order: &mpsc::Sender<Pending>, status: Status) {
    tracing::debug!(code = ?status.code(), "Process stream from the client failed: {}", status.message());
    let _ = order.send(Pending::Failed(status)).await;
}

/// The next input if it is already there: `Some(None)` at the end of the
/// stream, `None` when nothing is ready yet.
fn poll_now(inbound: &mut Streaming<pb::Event>) -> Option<Option<Result<pb::Event, Status>>> {
    let mut cx = Context::from_waker(std::task::Waker::noop());
    match Pin::new(inbound).poll_next(&mut cx) {
        Poll::Ready(item) => Some(item),
        Poll::Pending => None,
    }
}

/// The response stream of one `Process` call.
pub struct Outputs {
    pending: mpsc::Receiver<Pending>,
    /// The answer being waited for (the oldest batch not yet sent).
    current: Option<oneshot::Receiver<Vec<pb::Event>>>,
    /// Outputs of the answered batch, still to send.
    ready: std::vec::IntoIter<pb::Event>,
}

impl Stream for Outputs {
    type Item = Result<pb::Event, Status>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        loop {
            if let Some(event) = this.ready.next() {
                return Poll::Ready(Some(Ok(event)));
            }
            if let Some(answer) = this.current.as_mut() {
                match Pin::new(answer).poll(cx) {
                    Poll::Ready(Ok(events)) => {
                        this.current = None;
                        this.ready = events.into_iter();
                        continue;
                    }
                    Poll::Ready(Err(_)) => {
                        this.current = None;
                        return Poll::Ready(Some(Err(Status::internal("a worker stopped before answering a batch"))));
                    }
                    Poll::Pending => return Poll::Pending,
                }
            }
            match this.pending.poll_recv(cx) {
                Poll::Ready(Some(Pending::Batch(answer))) => this.current = Some(answer),
                Poll::Ready(Some(Pending::Failed(status))) => return Poll::Ready(Some(Err(status))),
                Poll::Ready(None) => return Poll::Ready(None),
                Poll::Pending => return Poll::Pending,
            }
        }
    }
}
