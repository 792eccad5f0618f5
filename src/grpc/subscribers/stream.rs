//! `StreamEvents` for subscribers. Each event is encoded once per `write`
//! (as `flowctl.v1.Event` bytes) and the same bytes, reference-counted, go to
//! every subscriber: the response codec copies them into the frame as they
//! are instead of encoding a message per subscriber. The wire is exactly
//! what the generated `Event` codec would write, so any client decodes it.

use std::collections::VecDeque;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use tokio_stream::Stream;
use tonic::metadata::MetadataValue;
use tonic::{Request, Response, Status};

use super::hub::{Hub, Subscriber};
use super::queue::{Ending, Taken};
use crate::grpc::pb;

/// The response header naming the subscriber's slot (its metrics' `subscriber` label).
pub const SUBSCRIBER_HEADER: &str = "x-flowctl-subscriber";

/// Requests decoded as usual, responses already encoded (once, for every subscriber).
pub type PreEncodedCodec = crate::grpc::codec::PreEncodedCodec<pb::StreamRequest>;

/// The `StreamEvents` call: registers a subscriber and answers with its stream.
#[derive(Clone)]
pub struct StreamEventsCall(pub Arc<Hub>);

impl tonic::server::ServerStreamingService<pb::StreamRequest> for StreamEventsCall {
    type Response = Bytes;
    type ResponseStream = EventStream;
    type Future = std::future::Ready<Result<Response<EventStream>, Status>>;

    fn call(&mut self, request: Request<pb::StreamRequest>) -> Self::Future {
        let hub = self.0.clone();
        // Params and resume tokens do not apply: a subscriber gets the live output from now on.
        let remote = request.remote_addr();
        let result = match hub.subscribe() {
            None => Err(Status::unavailable("the pipeline's output has ended")),
            Some(subscriber) => {
                tracing::info!(component = %hub.component, subscriber = subscriber.slot,
                    remote = ?remote, "subscriber connected");
                let slot = subscriber.slot;
                let mut response = Response::new(EventStream { hub, subscriber, batch: VecDeque::new(), over: false });
                response.metadata_mut().insert(SUBSCRIBER_HEADER, MetadataValue::from(slot as u64));
                Ok(response)
            }
        };
        std::future::ready(result)
    }
}

/// One subscriber's response: what its queue holds, several events per wakeup.
pub struct EventStream {
    hub: Arc<Hub>,
    subscriber: Arc<Subscriber>,
    /// Events taken from the queue in one go, yielded one by one without locking.
    batch: VecDeque<Bytes>,
    over: bool,
}

impl Stream for EventStream {
    type Item = Result<Bytes, Status>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        if let Some(event) = this.batch.pop_front() {
            return Poll::Ready(Some(Ok(event)));
        }
        if this.over {
            return Poll::Ready(None);
        }
        match this.subscriber.queue.take(&mut this.batch, cx.waker()) {
            Taken::Events(n) => {
                this.subscriber.sent.increment(n as u64);
                Poll::Ready(this.batch.pop_front().map(Ok))
            }
            Taken::Pending => Poll::Pending,
            Taken::End(ending) => {
                this.over = true;
                Poll::Ready(match ending {
                    Ending::Exhausted => Some(Err(Status::resource_exhausted(format!(
                        "subscriber too slow: more than {} events waited for it",
                        this.hub.capacity
                    )))),
                    Ending::Finished | Ending::Gone => None,
                })
            }
        }
    }
}

impl Drop for EventStream {
    /// The client left (or the stream ended): stop writing to it, free its slot.
    fn drop(&mut self) {
        self.subscriber.queue.end(Ending::Gone);
        self.hub.detach(&self.subscriber);
        self.hub.release(self.subscriber.slot);
        tracing::info!(component = %self.hub.component, subscriber = self.subscriber.slot, "subscriber left");
    }
}
