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

use crate::event::Event;

/// Where events enter a pipeline.
pub trait Source: Send + 'static {
    /// Blocks until at least one event is available (or the source ends) and
    /// appends up to `max` events to `out`. Returns `Ok(false)` once the source
    /// is exhausted and will never produce again (`out` may still have received
    /// a final few events in that call).
    fn poll_batch(&mut self, out: &mut Vec<Event>, max: usize) -> Result<bool, ConnectorError>;
}

/// Where events leave a pipeline.
pub trait Sink: Send + 'static {
    /// Writes events in order. May buffer; `flush` makes them durable/visible.
    fn write(&mut self, events: &[Event]) -> Result<(), ConnectorError>;
    /// Flushes buffers (and fsyncs files). Called at batch boundaries by the
    /// engine when idle and always at shutdown.
    fn flush(&mut self) -> Result<(), ConnectorError>;
}

/// A connector failure, naming the connector and what went wrong.
#[derive(Debug, thiserror::Error)]
pub enum ConnectorError {
    #[error("{connector}: {path}: {source}")]
    Io { connector: String, path: String, source: std::io::Error },
    #[error("{connector}: {message}")]
    Other { connector: String, message: String },
}
