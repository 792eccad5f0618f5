//! The `stdout` sink: one JSON event per line, or indented JSON per event with
//! `pretty`. Writes go through a large buffer, one syscall per many events; a
//! closed pipe (`flowctl run | head`) is an error, not a panic.

use std::io::{BufWriter, Write};

use super::{ConnectorError, Sink};
use crate::event::Event;

const BUFFER_BYTES: usize = 64 * 1024;

pub struct StdoutSink {
    /// Boxed so tests can substitute a pipe; the buffer makes the dynamic
    /// call once per 64 KiB, not per event.
    out: BufWriter<Box<dyn Write + Send>>,
    pretty: bool,
    written: u64,
}

impl StdoutSink {
    pub fn new(pretty: bool) -> Self {
        Self::to_writer(Box::new(std::io::stdout()), pretty)
    }

    /// The same sink over another byte stream.
    pub fn to_writer(out: Box<dyn Write + Send>, pretty: bool) -> Self {
        Self { out: BufWriter::with_capacity(BUFFER_BYTES, out), pretty, written: 0 }
    }
}

fn io_error(e: std::io::Error) -> ConnectorError {
    ConnectorError::io("stdout sink", "<stdout>", e)
}

/// Writes `events` as JSONL (or pretty JSON) into `out`; returns the bytes
/// written. Shared with the file sink and tests.
pub(crate) fn write_events(out: &mut impl Write, events: &[Event], pretty: bool) -> std::io::Result<u64> {
    let mut out = Counting { inner: out, bytes: 0 };
    for event in events {
        if pretty {
            out.write_all(&event.to_pretty_json())?;
        } else {
            out.write_all(event.as_json())?;
        }
        out.write_all(b"\n")?;
    }
    Ok(out.bytes)
}

/// Counts what passes through, so sinks report bytes without a second serialization.
struct Counting<'a, W> {
    inner: &'a mut W,
    bytes: u64,
}

impl<W: Write> Write for Counting<'_, W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.bytes += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

impl Sink for StdoutSink {
    fn write(&mut self, events: &[Event]) -> Result<(), ConnectorError> {
        self.written += write_events(&mut self.out, events, self.pretty).map_err(io_error)?;
        Ok(())
    }

    fn flush(&mut self) -> Result<(), ConnectorError> {
        self.out.flush().map_err(io_error)
    }

    fn bytes_written(&self) -> Option<u64> {
        Some(self.written)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jsonl_and_pretty_forms() {
        let events =
            [Event::new("1", "t", 5, serde_json::json!({"a": 1})), Event::new("2", "t", 6, serde_json::Value::Null)];
        let mut buf = Vec::new();
        write_events(&mut buf, &events, false).expect("write");
        let text = String::from_utf8(buf).expect("utf8");
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 2);
        assert_eq!(Event::from_json(lines[0].as_bytes()).expect("parse"), events[0]);

        let mut buf = Vec::new();
        write_events(&mut buf, &events[..1], true).expect("write");
        let text = String::from_utf8(buf).expect("utf8");
        assert!(text.lines().count() > 3, "pretty output is indented over several lines: {text}");
        assert_eq!(serde_json::from_str::<Event>(&text).expect("parse"), events[0]);
    }

    #[test]
    fn closed_pipe_is_an_error_not_a_panic() {
        let (reader, writer) = std::io::pipe().expect("pipe");
        drop(reader);
        let mut sink = StdoutSink::to_writer(Box::new(writer), false);
        let events = vec![Event::new("1", "t", 5, serde_json::json!({"pad": "x".repeat(1000)})); 100];
        let result = sink.write(&events).and_then(|()| sink.flush());
        match result {
            Err(ConnectorError::Io { source, .. }) => assert_eq!(source.kind(), std::io::ErrorKind::BrokenPipe),
            other => panic!("expected a broken pipe error, got {other:?}"),
        }
    }
}
