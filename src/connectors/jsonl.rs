//! Reading JSONL: one event per line, shared by the file and stdin sources.
//! Blank lines are skipped; a line that is not an event becomes a
//! [`Rejected`] and reading goes on; a line longer than the limit is rejected
//! without being held in memory whole.

use std::io::{self, BufRead, BufReader, Read};

use super::Rejected;
use crate::event::Event;

/// Longest line accepted as an event.
pub const MAX_LINE_BYTES: usize = 16 * 1024 * 1024;

/// How much of an over-long line a reject keeps, to show what it was.
const OVERLONG_RAW_BYTES: usize = 4096;

/// Read buffer size: large enough that a read syscall brings many lines.
const BUFFER_BYTES: usize = 256 * 1024;

/// Splits a byte stream into lines and lines into events.
pub struct LineReader<R> {
    reader: BufReader<R>,
    /// The current line so far (without its newline).
    pending: Vec<u8>,
    /// The current line passed `max_line`; the rest of it is being skipped.
    overlong: bool,
    max_line: usize,
    /// Number of the last completed line.
    line_no: u64,
    /// Bytes consumed from the stream, to notice a file shrinking under us.
    consumed: u64,
    /// Stream offset just after the last completed line: where reading again resumes.
    line_end: u64,
}

impl<R: Read> LineReader<R> {
    pub fn new(reader: R) -> Self {
        Self::with_max_line(reader, MAX_LINE_BYTES)
    }

    pub fn with_max_line(reader: R, max_line: usize) -> Self {
        Self {
            reader: BufReader::with_capacity(BUFFER_BYTES, reader),
            pending: Vec::new(),
            overlong: false,
            max_line,
            line_no: 0,
            consumed: 0,
            line_end: 0,
        }
    }

    /// A reader whose stream starts after `line_no` lines and `offset` bytes
    /// of the input (a resumed file), so line numbers and offsets go on.
    pub fn resumed(reader: R, offset: u64, line_no: u64) -> Self {
        let mut lines = Self::new(reader);
        (lines.consumed, lines.line_end, lines.line_no) = (offset, offset, line_no);
        lines
    }

    /// The stream being read.
    pub fn get_ref(&self) -> &R {
        self.reader.get_ref()
    }

    pub fn consumed(&self) -> u64 {
        self.consumed
    }

    /// Offset just after the last completed line (a held partial line is not
    /// in it), and that line's number: what a restart resumes from.
    pub fn resume_point(&self) -> (u64, u64) {
        (self.line_end, self.line_no)
    }

    /// Reads lines, appending up to `max` events to `out` and rejects to
    /// `rejects`, until `max` events or `max` rejects are collected, the end of
    /// the stream, or (once something was produced) the end of what is
    /// already buffered, so a slow pipe never holds events back.
    ///
    /// A reader that fails with `WouldBlock` ends the batch early (not at the
    /// end); a partly read line is kept for the next call.
    ///
    /// Returns `true` at the end of the stream. A last line without a newline
    /// is then kept for later when `hold_partial` (a followed file may still
    /// be written), and taken as a complete line otherwise.
    pub fn read_batch(
        &mut self,
        out: &mut Vec<Event>,
        rejects: &mut Vec<Rejected>,
        max: usize,
        hold_partial: bool,
    ) -> io::Result<bool> {
        let (start_events, start_rejects) = (out.len(), rejects.len());
        let max = max.max(1);
        while out.len() - start_events < max && rejects.len() - start_rejects < max {
            let produced = out.len() > start_events || rejects.len() > start_rejects;
            if produced && self.reader.buffer().is_empty() {
                return Ok(false);
            }
            let complete = match self.fill_line() {
                Ok(complete) => complete,
                // The stream has nothing for now (see `stdin`): hand over what we have.
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(false),
                Err(e) => return Err(e),
            };
            if !complete {
                if (self.pending.is_empty() && !self.overlong) || hold_partial {
                    return Ok(true);
                }
                self.finish_line(out, rejects);
                return Ok(true);
            }
            self.finish_line(out, rejects);
        }
        Ok(false)
    }

    /// Takes a pending unterminated line as complete (its file was replaced).
    pub fn finish_partial(&mut self, out: &mut Vec<Event>, rejects: &mut Vec<Rejected>) {
        if !self.pending.is_empty() || self.overlong {
            self.finish_line(out, rejects);
        }
    }

    /// Reads into `pending` up to the next newline. `false` = end of stream first.
    fn fill_line(&mut self) -> io::Result<bool> {
        loop {
            let buf = match self.reader.fill_buf() {
                Ok(buf) => buf,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            if buf.is_empty() {
                return Ok(false);
            }
            let newline = memchr::memchr(b'\n', buf);
            let chunk = &buf[..newline.unwrap_or(buf.len())];
            let room = self.max_line.saturating_sub(self.pending.len());
            if chunk.len() > room {
                self.overlong = true;
            }
            let keep = if self.overlong { OVERLONG_RAW_BYTES.saturating_sub(self.pending.len()) } else { room };
            self.pending.extend_from_slice(&chunk[..chunk.len().min(keep)]);
            let used = chunk.len() + usize::from(newline.is_some());
            self.reader.consume(used);
            self.consumed += used as u64;
            if newline.is_some() {
                return Ok(true);
            }
        }
    }

    fn finish_line(&mut self, out: &mut Vec<Event>, rejects: &mut Vec<Rejected>) {
        self.line_no += 1;
        self.line_end = self.consumed;
        let line = self.pending.strip_suffix(b"\r").unwrap_or(&self.pending);
        if std::mem::take(&mut self.overlong) {
            rejects.push(Rejected {
                line_no: self.line_no,
                reason: format!("line longer than {} bytes", self.max_line),
                raw: String::from_utf8_lossy(&line[..line.len().min(OVERLONG_RAW_BYTES)]).into_owned(),
            });
        } else if !line.iter().all(u8::is_ascii_whitespace) {
            match Event::from_json(line) {
                Ok(event) => out.push(event),
                Err(e) => rejects.push(Rejected {
                    line_no: self.line_no,
                    reason: e.to_string(),
                    raw: String::from_utf8_lossy(line).into_owned(),
                }),
            }
        }
        self.pending.clear();
        if self.pending.capacity() > BUFFER_BYTES {
            self.pending.shrink_to(BUFFER_BYTES);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read_all(input: &[u8], max_line: usize) -> (Vec<Event>, Vec<Rejected>) {
        let mut reader = LineReader::with_max_line(input, max_line);
        let (mut out, mut rejects) = (Vec::new(), Vec::new());
        let mut rounds = 0;
        while !reader.read_batch(&mut out, &mut rejects, 2, false).expect("read") {
            rounds += 1;
            assert!(rounds < 1000);
        }
        (out, rejects)
    }

    #[test]
    fn parses_lines_skips_blanks_and_rejects_bad_ones() {
        let input = b"{\"id\":\"a\"}\n\n   \n{not json}\r\n{\"id\":\"b\"}\r\n{\"type\":\"no id\"}\n{\"id\":\"c\"}";
        let (events, rejects) = read_all(input, MAX_LINE_BYTES);
        let ids: Vec<&str> = events.iter().map(|e| e.id()).collect();
        assert_eq!(ids, ["a", "b", "c"], "an unterminated last line still counts");
        assert_eq!(rejects.len(), 2);
        assert_eq!((rejects[0].line_no, rejects[0].raw.as_str()), (4, "{not json}"));
        assert!(rejects[0].reason.contains("key must be a string"), "{}", rejects[0].reason);
        assert_eq!(rejects[1].line_no, 6);
        assert!(rejects[1].reason.contains("missing field `id`"), "{}", rejects[1].reason);
    }

    #[test]
    fn overlong_line_is_rejected_and_reading_goes_on() {
        let long = format!("{{\"id\":\"{}\"}}", "x".repeat(10_000));
        let input = format!("{{\"id\":\"a\"}}\n{long}\n{{\"id\":\"b\"}}\n");
        let (events, rejects) = read_all(input.as_bytes(), 1000);
        assert_eq!(events.iter().map(|e| e.id()).collect::<Vec<_>>(), ["a", "b"]);
        assert_eq!(rejects.len(), 1);
        assert_eq!(rejects[0].line_no, 2);
        assert_eq!(rejects[0].raw.len(), OVERLONG_RAW_BYTES);
        assert!(rejects[0].reason.contains("longer than 1000"));
    }

    #[test]
    fn held_partial_line_waits_for_its_newline() {
        let mut reader = LineReader::new(&b"{\"id\":\"a\"}\n{\"id\":"[..]);
        let (mut out, mut rejects) = (Vec::new(), Vec::new());
        assert!(reader.read_batch(&mut out, &mut rejects, 10, true).expect("read"));
        assert_eq!(out.len(), 1);
        assert!(rejects.is_empty(), "the half line is held, not rejected");
        reader.finish_partial(&mut out, &mut rejects);
        assert_eq!(rejects.len(), 1, "a half line that never completes is rejected, not lost");
    }

    #[test]
    fn resume_point_is_after_the_last_complete_line() {
        let input = b"{\"id\":\"a\"}\n\n{\"id\":\"b\"}\n{\"id\":";
        let mut reader = LineReader::new(&input[..]);
        let (mut out, mut rejects) = (Vec::new(), Vec::new());
        while !reader.read_batch(&mut out, &mut rejects, 10, true).expect("read") {}
        assert_eq!(out.len(), 2);
        assert_eq!(reader.resume_point(), (23, 3), "the held half line is not passed");
        let mut resumed = LineReader::resumed(&b"{\"id\":\"c\"}\nbad\n"[..], 23, 3);
        let (mut out, mut rejects) = (Vec::new(), Vec::new());
        while !resumed.read_batch(&mut out, &mut rejects, 10, false).expect("read") {}
        assert_eq!((out.len(), rejects[0].line_no), (1, 5), "line numbers go on");
        assert_eq!(resumed.resume_point(), (23 + 15, 5));
    }

    #[test]
    fn invalid_utf8_is_a_reject_not_a_crash() {
        let (events, rejects) = read_all(b"{\"id\":\"\xff\xfe\"}\n{\"id\":\"ok\"}\n", MAX_LINE_BYTES);
        assert_eq!(events.iter().map(Event::id).collect::<Vec<_>>(), ["ok"], "the next line is read");
        assert_eq!(rejects.len(), 1);
        assert_eq!((rejects[0].line_no, rejects[0].reason.as_str()), (1, "invalid UTF-8 at byte 7"));
    }
}
