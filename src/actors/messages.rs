//! Messages between the engine's actors. Every data message moves a whole
//! batch, never one event, so actor overhead is paid per batch.

use std::sync::Arc;

use actix::Message;

use crate::connectors::DeadLetter;
use crate::event::Event;

/// A batch of events as producers hand it to their subscribers: shared, so
/// that fanning it out to N subscribers costs N reference counts, not N
/// copies of the vector (the events' bytes are shared either way).
pub type SharedBatch = Arc<Vec<Event>>;

/// What a producer (source or processor) hands to each subscriber.
#[derive(Debug, Message)]
#[rtype(result = "()")]
pub enum Flow {
    /// The next events of `from`, in its output order.
    Events { from: Arc<str>, events: SharedBatch },
    /// `from` will send nothing more.
    End { from: Arc<str> },
}

/// A batch closed by a processor's batcher, numbered so the pool's results
/// can be put back in this order.
#[derive(Debug, Message)]
#[rtype(result = "()")]
pub enum Job {
    Batch {
        seq: u64,
        /// The worker lane that runs it (0 unless the processor is split into lanes by key).
        lane: usize,
        events: Vec<Event>,
    },
    /// No batch after `next_seq - 1` will come.
    End { next_seq: u64 },
}

/// Failed events (or rejected source lines) for the dead-letter actor.
#[derive(Debug, Message)]
#[rtype(result = "()")]
pub struct DeadLetters(pub Vec<DeadLetter>);

/// What comes back from the worker threads to a processor's collector.
pub enum WorkerOutput {
    Done(Box<super::stats::JobResult>),
    /// Sent by the dispatcher after the last batch: emit end of stream once
    /// every batch before `next_seq` went out.
    End {
        next_seq: u64,
    },
}
