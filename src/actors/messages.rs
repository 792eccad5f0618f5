//! Messages between the engine's actors. Every data message moves a whole
//! batch (`Vec<Event>`), never one event, so actor overhead is paid per batch.

use std::sync::Arc;

use actix::Message;
use tokio::sync::OwnedSemaphorePermit;

use crate::connectors::DeadLetter;
use crate::event::Event;

/// What a producer (source or processor) hands to each subscriber.
#[derive(Debug, Message)]
#[rtype(result = "()")]
pub enum Flow {
    /// The next events of `from`, in its output order.
    Events { from: Arc<str>, events: Vec<Event> },
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
        events: Vec<Event>,
    },
    /// No batch after `next_seq - 1` will come.
    End {
        next_seq: u64,
    },
}

/// Failed events (or rejected source lines) for the dead-letter actor.
#[derive(Debug, Message)]
#[rtype(result = "()")]
pub struct DeadLetters(pub Vec<DeadLetter>);

/// A batch on its way to a worker thread. The permit bounds how many
/// batches a processor holds between dispatch and in-order emission; it is
/// released once the batch's results went downstream.
pub struct WorkItem {
    pub seq: u64,
    pub events: Vec<Event>,
    /// The version set at dispatch time: a batch finishes on the versions it started with.
    pub versions: Arc<super::versions::VersionSet>,
    pub permit: OwnedSemaphorePermit,
}

/// What comes back from the worker threads to a processor's collector.
pub enum WorkerOutput {
    Done(Box<super::stats::JobResult>),
    /// Sent by the dispatcher after the last batch: emit end of stream once
    /// every batch before `next_seq` went out.
    End {
        next_seq: u64,
    },
}
