//! Built-in sources and sinks. They are plain blocking types: the engine runs
//! each on a thread of its own and bridges it to its actor, so connector code
//! never blocks an async executor and stays easy to test.
//!
//! CONTRACT (the engine codes against these names):
//! ```ignore
//! build_source(&SourceSpec) -> Result<Box<dyn Source>, ConnectorError>
//! build_sink(&SinkSpec) -> Result<Box<dyn Sink>, ConnectorError>
//! DeadLetterWriter::open(&DeadLetterSpec) -> Result<DeadLetterWriter, ConnectorError>
//! DeadLetterWriter::write(&mut self, &[DeadLetter]) -> Result<(), ConnectorError>
//! DeadLetterWriter::flush(&mut self) -> Result<(), ConnectorError>
//! ```
//!
//! Sources also report input they could not turn into events (a malformed
//! JSONL line) through [`Source::take_rejects`]; the engine drains it after
//! every poll and dead-letters each one with [`Rejected::into_dead_letter`], so
//! a bad line neither stops a source nor disappears.
//!
//! # Layout
//! One connector per file: [`generator`] (with the [`stellar`] profile and its
//! [`stellar_ops`], the [`pacer`] that holds a rate, the seeded [`rng`]),
//! [`file_source`] and [`stdin`] (both reading through [`jsonl`]), [`stdout`],
//! [`file_sink`], [`null`], [`dead_letter`], and the JetStream pair
//! [`nats_source`] and [`nats_sink`] (sharing `nats`).

pub mod dead_letter;
pub mod file_sink;
pub mod file_source;
pub mod generator;
pub mod jsonl;
mod nats;
pub mod nats_sink;
pub mod nats_source;
pub mod null;
pub mod pacer;
pub mod rng;
pub mod stdin;
pub mod stdout;
pub mod stellar;
pub mod stellar_ops;

use std::time::Duration;

use crate::config::{SinkKind, SinkSpec, SourceKind, SourceSpec};
use crate::event::Event;
use crate::progress::{FinishAction, SourcePosition};

pub use dead_letter::{DeadLetter, DeadLetterWriter};
pub use null::{NullCounters, NullSink};

/// Longest a live source (a followed file, a slow generator) blocks in one
/// `poll_batch` without producing anything. It then returns `Ok(true)` with
/// nothing appended, so the thread driving it can check for shutdown.
pub const IDLE_POLL: Duration = Duration::from_millis(100);

/// Where events enter a pipeline.
pub trait Source: Send + 'static {
    /// Blocks until at least one event is available (or the source ends) and
    /// appends up to `max` events to `out`. Returns `Ok(false)` once the source
    /// is exhausted and will never produce again (`out` may still have received
    /// a final few events in that call). A live source may return `Ok(true)`
    /// with nothing appended after waiting [`IDLE_POLL`].
    fn poll_batch(&mut self, out: &mut Vec<Event>, max: usize) -> Result<bool, ConnectorError>;

    /// Input read since the last call that could not become an event. The
    /// engine dead-letters each one (processor id = source id, error kind
    /// `malformed_event`). Sources that cannot reject anything keep the default.
    fn take_rejects(&mut self) -> Vec<Rejected> {
        Vec::new()
    }

    /// Bytes of input read so far (for `flowctl_bytes_in_total`), for sources
    /// that read bytes; a generator builds events in memory and has none.
    fn bytes_read(&self) -> Option<u64> {
        None
    }

    /// Where a restart would resume after everything polled so far. `None`:
    /// this source cannot resume (stdin), so nothing is saved for it.
    fn position(&self) -> Option<SourcePosition> {
        None
    }

    /// Called after every poll: what to do once everything that poll produced
    /// is finished (the `nats` source acknowledges its messages then).
    fn take_finish_action(&mut self) -> Option<FinishAction> {
        None
    }

    /// Moves to a saved position, before the first poll. Refuses (with the
    /// reason) a position that does not fit this source's input any more.
    fn resume(&mut self, at: &SourcePosition) -> Result<(), ConnectorError> {
        Err(ConnectorError::Other {
            connector: "source".into(),
            message: format!("cannot resume from a saved {} position", at.kind()),
        })
    }
}

/// Where events leave a pipeline.
pub trait Sink: Send + 'static {
    /// Writes events in order. May buffer; `flush` makes them durable/visible.
    fn write(&mut self, events: &[Event]) -> Result<(), ConnectorError>;
    /// Flushes buffers (and fsyncs files). Called at batch boundaries by the
    /// engine when idle and always at shutdown.
    fn flush(&mut self) -> Result<(), ConnectorError>;

    /// How long written events may wait for a flush while the engine tracks
    /// their progress, when this sink wants it shorter than the pipeline's
    /// (half its `checkpoint_interval`): a sink whose flush is cheap (waiting
    /// for acknowledgements already on their way) flushes often, so what it
    /// wrote is finished early.
    fn flush_every(&self) -> Option<Duration> {
        None
    }

    /// Bytes handed to the output so far (for `flowctl_bytes_out_total`), for
    /// sinks that serialize; `null` writes nothing and has none.
    fn bytes_written(&self) -> Option<u64> {
        None
    }

    /// Events written earlier that the sink gave up on since the last call (a
    /// remote consumer reported them failed, or delivery kept failing). The
    /// engine dead-letters each, so they count as finished, not as lost. Sinks
    /// whose `write` either succeeds or fails as a whole keep the default.
    fn take_failures(&mut self) -> Vec<DeadLetter> {
        Vec::new()
    }
}

/// A connector failure, naming the connector and what went wrong.
#[derive(Debug, thiserror::Error)]
pub enum ConnectorError {
    #[error("{connector}: {path}: {source}")]
    Io { connector: String, path: String, source: std::io::Error },
    #[error("{connector}: {message}")]
    Other { connector: String, message: String },
}

impl ConnectorError {
    pub(crate) fn io(connector: &str, path: impl std::fmt::Display, source: std::io::Error) -> Self {
        Self::Io { connector: connector.to_string(), path: path.to_string(), source }
    }
}

/// One line of source input that is not a valid event.
#[derive(Debug, Clone, PartialEq)]
pub struct Rejected {
    /// 1-based line number in the file (or stream) it came from.
    pub line_no: u64,
    /// Why it is not an event (the JSON parser's message).
    pub reason: String,
    /// The line as read, lossily decoded; truncated for over-long lines.
    pub raw: String,
}

/// Error kind under which rejected source input is dead-lettered.
pub const MALFORMED_EVENT: &str = "malformed_event";

/// Event type of the stand-in event that carries a rejected line.
pub const MALFORMED_EVENT_TYPE: &str = "flowctl.malformed_line.v1";

impl Rejected {
    /// The dead letter for this line: the raw text travels as the `data` of a
    /// stand-in event whose id names the source and line.
    pub fn into_dead_letter(self, source_id: &str) -> DeadLetter {
        let event = Event::new(
            format!("{source_id}:line:{}", self.line_no),
            MALFORMED_EVENT_TYPE,
            Event::now_millis(),
            serde_json::Value::String(self.raw),
        );
        DeadLetter {
            processor: source_id.to_string(),
            version: String::new(),
            error_kind: MALFORMED_EVENT.to_string(),
            message: format!("line {}: {}", self.line_no, self.reason),
            at: Event::now_millis(),
            event,
        }
    }
}

/// Builds the source a spec describes. Opens files now, so a missing input is
/// reported before the pipeline starts.
pub fn build_source(spec: &SourceSpec) -> Result<Box<dyn Source>, ConnectorError> {
    Ok(match &spec.kind {
        SourceKind::Generator(config) => Box::new(generator::Generator::new(&spec.id, config)),
        SourceKind::File(config) => Box::new(file_source::FileSource::open(&spec.id, config)?),
        SourceKind::Stdin => Box::new(stdin::StdinSource::new(&spec.id)),
        SourceKind::Grpc(config) => Box::new(crate::grpc::source::GrpcSource::start(&spec.id, config)?),
        SourceKind::Nats(config) => Box::new(nats_source::NatsSource::start(&spec.id, config)?),
    })
}

/// Builds the sink a spec describes. Opens files now, so a missing directory
/// is reported before the pipeline starts.
pub fn build_sink(spec: &SinkSpec) -> Result<Box<dyn Sink>, ConnectorError> {
    Ok(match &spec.kind {
        SinkKind::Stdout { pretty } => Box::new(stdout::StdoutSink::new(*pretty)),
        SinkKind::File { path } => Box::new(file_sink::FileSink::open(&spec.id, path)?),
        SinkKind::Null => Box::new(NullSink::new()),
        SinkKind::Grpc(config) => Box::new(crate::grpc::sink::GrpcSink::start(&spec.id, config)?),
        SinkKind::GrpcServer(config) => Box::new(crate::grpc::subscribers::SubscriberServer::start(&spec.id, config)?),
        SinkKind::Nats(config) => Box::new(nats_sink::NatsSink::start(&spec.id, config)?),
    })
}
