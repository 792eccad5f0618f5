//! The `file` sink: JSONL appended to a file through a large buffer; `flush`
//! also `fsync`s the data, so what the engine flushed at shutdown survives a
//! crash of the machine. The directory must exist: a typo in a path should
//! fail loudly, not create a tree somewhere unexpected.

use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use super::stdout::write_events;
use super::{ConnectorError, Sink};
use crate::event::Event;

const CONNECTOR: &str = "file sink";
const BUFFER_BYTES: usize = 256 * 1024;

pub struct FileSink {
    path: PathBuf,
    out: BufWriter<File>,
    written: u64,
}

impl FileSink {
    pub fn open(sink_id: &str, path: &Path) -> Result<Self, ConnectorError> {
        let file = open_append(CONNECTOR, path)?;
        tracing::debug!(sink = sink_id, path = %path.display(), "file sink opened");
        Ok(Self { path: path.to_path_buf(), out: BufWriter::with_capacity(BUFFER_BYTES, file), written: 0 })
    }

    fn io_error(&self, e: std::io::Error) -> ConnectorError {
        ConnectorError::io(CONNECTOR, self.path.display(), e)
    }
}

/// Opens `path` for appending, creating the file but not its directory. A
/// last line without its newline was torn by a crash in the middle of a
/// write: it is cut off (its event was not committed, so it comes again)
/// rather than glued to the next line.
pub(crate) fn open_append(connector: &str, path: &Path) -> Result<File, ConnectorError> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        if !dir.is_dir() {
            return Err(ConnectorError::Other {
                connector: connector.into(),
                message: format!("{}: directory {} does not exist", path.display(), dir.display()),
            });
        }
    }
    let file = OpenOptions::new()
        .create(true)
        .append(true)
        .read(true)
        .open(path)
        .map_err(|e| ConnectorError::io(connector, path.display(), e))?;
    let torn = cut_torn_line(&file).map_err(|e| ConnectorError::io(connector, path.display(), e))?;
    if torn > 0 {
        tracing::warn!(path = %path.display(), bytes = torn, "removed a torn last line left by an interrupted write");
    }
    Ok(file)
}

/// Truncates `file` after its last newline; returns the bytes cut.
fn cut_torn_line(file: &File) -> std::io::Result<u64> {
    use std::os::unix::fs::FileExt;
    let len = file.metadata()?.len();
    let mut end = len;
    let mut chunk = vec![0; 64 * 1024];
    while end > 0 {
        let start = end.saturating_sub(chunk.len() as u64);
        let buf = &mut chunk[..(end - start) as usize];
        file.read_exact_at(buf, start)?;
        if let Some(newline) = memchr::memrchr(b'\n', buf) {
            let keep = start + newline as u64 + 1;
            if keep < len {
                file.set_len(keep)?;
            }
            return Ok(len - keep);
        }
        end = start;
    }
    if len > 0 {
        file.set_len(0)?;
    }
    Ok(len)
}

impl Sink for FileSink {
    fn write(&mut self, events: &[Event]) -> Result<(), ConnectorError> {
        self.written += write_events(&mut self.out, events, false).map_err(|e| self.io_error(e))?;
        Ok(())
    }

    fn bytes_written(&self) -> Option<u64> {
        Some(self.written)
    }

    fn flush(&mut self) -> Result<(), ConnectorError> {
        self.out.flush().map_err(|e| self.io_error(e))?;
        self.out.get_ref().sync_data().map_err(|e| self.io_error(e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn events(ids: &[&str]) -> Vec<Event> {
        ids.iter().map(|id| Event::new(*id, "t", 1, serde_json::json!({"id": id}))).collect()
    }

    #[test]
    fn a_torn_last_line_is_cut_before_appending() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("out.jsonl");
        std::fs::write(&path, "{\"id\":\"a\"}\n{\"id\":\"b\"}\n{\"id\":\"c").expect("write");
        let mut sink = FileSink::open("out", &path).expect("open");
        sink.write(&events(&["d"])).expect("write");
        sink.flush().expect("flush");
        assert_eq!(read_ids(&path), ["a", "b", "d"]);
        std::fs::write(&path, "no newline at all").expect("write");
        drop(FileSink::open("out", &path).expect("open"));
        assert_eq!(std::fs::read(&path).expect("read"), b"");
    }

    fn read_ids(path: &Path) -> Vec<String> {
        std::fs::read_to_string(path)
            .expect("read")
            .lines()
            .map(|l| Event::from_json(l.as_bytes()).expect("parse").id().to_owned())
            .collect()
    }

    #[test]
    fn appends_across_opens_and_flush_makes_data_visible() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("out.jsonl");
        let mut sink = FileSink::open("out", &path).expect("open");
        sink.write(&events(&["a", "b"])).expect("write");
        sink.flush().expect("flush");
        assert_eq!(read_ids(&path), ["a", "b"]);
        drop(sink);

        let mut sink = FileSink::open("out", &path).expect("reopen");
        sink.write(&events(&["c"])).expect("write");
        sink.flush().expect("flush");
        assert_eq!(read_ids(&path), ["a", "b", "c"], "reopening appends, never truncates");
    }

    #[test]
    fn missing_directory_is_a_clear_error() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("no-such-dir").join("out.jsonl");
        let err = FileSink::open("out", &path).err().expect("must fail");
        assert!(err.to_string().contains("does not exist"), "{err}");
        assert!(!path.parent().expect("parent").exists(), "the directory is not created");
    }
}
