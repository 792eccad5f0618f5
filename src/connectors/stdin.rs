//! The `stdin` source: JSONL from standard input until end of file, with the
//! same line handling as the file source. A thread of its own does the
//! blocking reads, so a poll never waits longer than [`IDLE_POLL`]: it returns
//! the lines received so far (a slow producer is not held back) or nothing,
//! and the engine can stop the source even while stdin is silent.

use std::io::{self, Read};

use crossbeam_channel::{Receiver, RecvTimeoutError};

use super::jsonl::LineReader;
use super::{ConnectorError, Rejected, Source, IDLE_POLL};
use crate::event::Event;

/// Bytes per read of the reader thread.
const CHUNK_BYTES: usize = 64 * 1024;
/// Chunks read ahead of the parser.
const CHUNKS_AHEAD: usize = 4;

/// The `stdin` source.
pub type StdinSource = StreamSource;

impl StdinSource {
    pub fn new(source_id: &str) -> Self {
        tracing::debug!(source = source_id, "reading events from stdin");
        StreamSource::from_reader(std::io::stdin())
    }
}

/// JSONL events from any blocking byte stream (stdin, or a pipe in tests).
pub struct StreamSource {
    lines: LineReader<ChunkReader>,
    rejects: Vec<Rejected>,
    done: bool,
}

impl StreamSource {
    /// Starts the reader thread. It ends at end of stream, on a read error, or
    /// at its next read after the source is dropped.
    pub fn from_reader<R: Read + Send + 'static>(mut reader: R) -> Self {
        let (tx, rx) = crossbeam_channel::bounded(CHUNKS_AHEAD);
        let spawned = std::thread::Builder::new().name("flowctl-stdin".into()).spawn(move || loop {
            let mut chunk = vec![0u8; CHUNK_BYTES];
            let message = match reader.read(&mut chunk) {
                Ok(0) => return,
                Ok(n) => {
                    chunk.truncate(n);
                    Ok(chunk)
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => Err(e),
            };
            let failed = message.is_err();
            if tx.send(message).is_err() || failed {
                return;
            }
        });
        let chunks = match spawned {
            Ok(_) => rx,
            Err(e) => {
                // Without a thread there is no input: report it as a read error.
                let (tx, rx) = crossbeam_channel::bounded(1);
                let _ = tx.send(Err(e));
                rx
            }
        };
        let reader = ChunkReader { chunks, current: Vec::new(), pos: 0 };
        Self { lines: LineReader::new(reader), rejects: Vec::new(), done: false }
    }
}

/// Reads what the reader thread sent; `WouldBlock` when nothing came within
/// [`IDLE_POLL`], end of stream once the thread is gone.
struct ChunkReader {
    chunks: Receiver<io::Result<Vec<u8>>>,
    current: Vec<u8>,
    pos: usize,
}

impl Read for ChunkReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.pos == self.current.len() {
            match self.chunks.recv_timeout(IDLE_POLL) {
                Ok(chunk) => {
                    self.current = chunk?;
                    self.pos = 0;
                }
                Err(RecvTimeoutError::Timeout) => return Err(io::ErrorKind::WouldBlock.into()),
                Err(RecvTimeoutError::Disconnected) => return Ok(0),
            }
        }
        let n = buf.len().min(self.current.len() - self.pos);
        buf[..n].copy_from_slice(&self.current[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

impl Source for StreamSource {
    fn poll_batch(&mut self, out: &mut Vec<Event>, max: usize) -> Result<bool, ConnectorError> {
        if self.done {
            return Ok(false);
        }
        let at_end = self
            .lines
            .read_batch(out, &mut self.rejects, max, false)
            .map_err(|e| ConnectorError::io("stdin source", "<stdin>", e))?;
        self.done = at_end;
        Ok(!at_end)
    }

    fn take_rejects(&mut self) -> Vec<Rejected> {
        std::mem::take(&mut self.rejects)
    }

    fn bytes_read(&self) -> Option<u64> {
        Some(self.lines.consumed())
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;

    /// Polls until `want` events arrived; bounded so a bug fails instead of hanging.
    fn poll_until(source: &mut impl Source, out: &mut Vec<Event>, want: usize) {
        for _ in 0..100 {
            if out.len() >= want {
                return;
            }
            assert!(source.poll_batch(out, 100).expect("poll"));
        }
        panic!("only {} of {want} events arrived", out.len());
    }

    #[test]
    fn delivers_lines_as_they_arrive_and_ends_at_eof() {
        let (reader, mut writer) = std::io::pipe().expect("pipe");
        let mut source = StreamSource::from_reader(reader);
        let mut out = Vec::new();
        writer.write_all(b"{\"id\":\"1\"}\n{\"id\":\"2\"}\nbad\n{\"id\":").expect("write");
        // The writer stays open: polls return what arrived instead of waiting to fill `max`.
        poll_until(&mut source, &mut out, 2);
        assert_eq!(source.take_rejects().len(), 1);
        writer.write_all(b"\"3\"}").expect("write");
        drop(writer);
        let mut polls = 0;
        while source.poll_batch(&mut out, 100).expect("poll") {
            polls += 1;
            assert!(polls < 100);
        }
        assert_eq!(out.iter().map(|e| e.id()).collect::<Vec<_>>(), ["1", "2", "3"]);
        assert!(!source.poll_batch(&mut out, 100).expect("poll"), "ended stays ended");
    }

    #[test]
    fn silent_stream_does_not_block_a_poll() {
        let (reader, _writer) = std::io::pipe().expect("pipe");
        let mut source = StreamSource::from_reader(reader);
        let mut out = Vec::new();
        assert!(source.poll_batch(&mut out, 10).expect("poll"), "an open, silent stream returns empty-handed");
        assert!(out.is_empty());
    }

    #[test]
    fn read_error_is_reported() {
        struct Broken;
        impl Read for Broken {
            fn read(&mut self, _: &mut [u8]) -> io::Result<usize> {
                Err(io::Error::other("device gone"))
            }
        }
        let mut source = StreamSource::from_reader(Broken);
        let mut out = Vec::new();
        let mut result = source.poll_batch(&mut out, 10);
        for _ in 0..10 {
            if result.is_err() {
                break;
            }
            result = source.poll_batch(&mut out, 10);
        }
        assert!(result.is_err_and(|e| e.to_string().contains("device gone")));
    }
}
