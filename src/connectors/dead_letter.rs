//! Dead letters: events a processor failed on (and source lines that were not
//! events), each written as one JSON line with who failed, why, and the
//! original event, to a JSONL file (appended, fsynced on flush) or stderr.
//! The format is documented in `docs/dead-letters.md`.

use std::fs::File;
use std::io::{BufWriter, Stderr, Write};
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::file_sink::open_append;
use super::ConnectorError;
use crate::config::DeadLetterSpec;
use crate::event::Event;

const CONNECTOR: &str = "dead letters";
const BUFFER_BYTES: usize = 64 * 1024;

/// One failed event. Field order is the order of the JSON line.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeadLetter {
    /// Id of the processor (or source) that failed on the event.
    pub processor: String,
    /// Module version that failed (empty for a source).
    pub version: String,
    /// Short, stable failure class, e.g. `trap`, `timeout`, `malformed_event`.
    pub error_kind: String,
    /// Human-readable reason.
    pub message: String,
    /// When it was dead-lettered, unix milliseconds.
    pub at: i64,
    /// The event as the processor received it.
    pub event: Event,
}

/// Appends dead letters to their destination.
pub struct DeadLetterWriter {
    out: Output,
}

enum Output {
    File { path: PathBuf, out: BufWriter<File> },
    Stderr(BufWriter<Stderr>),
}

impl DeadLetterWriter {
    pub fn open(spec: &DeadLetterSpec) -> Result<Self, ConnectorError> {
        let out = match spec {
            DeadLetterSpec::File(path) => {
                let file = open_append(CONNECTOR, path)?;
                Output::File { path: path.clone(), out: BufWriter::with_capacity(BUFFER_BYTES, file) }
            }
            DeadLetterSpec::Stderr => Output::Stderr(BufWriter::with_capacity(BUFFER_BYTES, std::io::stderr())),
        };
        Ok(Self { out })
    }

    fn io_error(&self, e: std::io::Error) -> ConnectorError {
        match &self.out {
            Output::File { path, .. } => ConnectorError::io(CONNECTOR, path.display(), e),
            Output::Stderr(_) => ConnectorError::io(CONNECTOR, "<stderr>", e),
        }
    }

    pub fn write(&mut self, letters: &[DeadLetter]) -> Result<(), ConnectorError> {
        let result = match &mut self.out {
            Output::File { out, .. } => write_letters(out, letters),
            Output::Stderr(out) => write_letters(out, letters),
        };
        result.map_err(|e| self.io_error(e))
    }

    /// Makes everything written visible and, for a file, durable.
    pub fn flush(&mut self) -> Result<(), ConnectorError> {
        let result = match &mut self.out {
            Output::File { out, .. } => out.flush().and_then(|()| out.get_ref().sync_data()),
            Output::Stderr(out) => out.flush(),
        };
        result.map_err(|e| self.io_error(e))
    }
}

fn write_letters(out: &mut impl Write, letters: &[DeadLetter]) -> std::io::Result<()> {
    for letter in letters {
        serde_json::to_writer(&mut *out, letter)?;
        out.write_all(b"\n")?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::connectors::Rejected;

    fn letter(id: &str) -> DeadLetter {
        DeadLetter {
            processor: "ttp".into(),
            version: "v2".into(),
            error_kind: "trap".into(),
            message: "unreachable executed".into(),
            at: 1_700_000_000_123,
            event: Event::new(id, "t.v1", 5, serde_json::json!({"k": [1, 2]})),
        }
    }

    #[test]
    fn line_format_is_stable() {
        let mut buf = Vec::new();
        write_letters(&mut buf, &[letter("e1")]).expect("write");
        assert_eq!(
            String::from_utf8(buf).expect("utf8"),
            concat!(
                r#"{"processor":"ttp","version":"v2","error_kind":"trap","message":"unreachable executed","#,
                r#""at":1700000000123,"event":{"id":"e1","type":"t.v1","timestamp":5,"data":{"k":[1,2]},"metadata":{}}}"#,
                "\n"
            )
        );
    }

    #[test]
    fn file_writer_appends_and_round_trips() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("dead.jsonl");
        let spec = DeadLetterSpec::File(path.clone());
        let mut w = DeadLetterWriter::open(&spec).expect("open");
        w.write(&[letter("a"), letter("b")]).expect("write");
        w.flush().expect("flush");
        drop(w);
        let mut w = DeadLetterWriter::open(&spec).expect("reopen");
        w.write(&[letter("c")]).expect("write");
        w.flush().expect("flush");
        let back: Vec<DeadLetter> = std::fs::read_to_string(&path)
            .expect("read")
            .lines()
            .map(|l| serde_json::from_str(l).expect("parse"))
            .collect();
        assert_eq!(back, vec![letter("a"), letter("b"), letter("c")]);
    }

    #[test]
    fn missing_directory_is_an_error() {
        let dir = tempfile::tempdir().expect("tempdir");
        let spec = DeadLetterSpec::File(dir.path().join("nope").join("dead.jsonl"));
        assert!(DeadLetterWriter::open(&spec).is_err());
    }

    #[test]
    fn rejected_line_becomes_a_malformed_event_letter() {
        let r = Rejected { line_no: 7, reason: "expected value".into(), raw: "{oops".into() };
        let l = r.into_dead_letter("input");
        assert_eq!((l.processor.as_str(), l.error_kind.as_str()), ("input", "malformed_event"));
        assert_eq!(l.event.id(), "input:line:7");
        assert_eq!(l.event.data(), serde_json::json!("{oops"));
        assert!(l.message.contains("line 7") && l.message.contains("expected value"));
    }
}
