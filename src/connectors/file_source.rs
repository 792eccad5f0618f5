//! The `file` source: JSONL, one event per line, read through a large buffer
//! (never loaded whole). With `follow: true` it keeps reading lines appended
//! later, like `tail -F`: from the start of the file, then waiting at the end,
//! and reopening the path when the file is truncated or replaced (rotation).

use std::fs::File;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use super::jsonl::LineReader;
use super::{ConnectorError, Rejected, Source, IDLE_POLL};
use crate::config::FileSourceConfig;
use crate::event::Event;

const CONNECTOR: &str = "file source";

/// Sleep between looks at a followed file that has no new data.
const FOLLOW_POLL: Duration = Duration::from_millis(20);

pub struct FileSource {
    path: PathBuf,
    follow: bool,
    lines: LineReader<File>,
    /// Device and inode of the open file: a different pair at `path` means rotation.
    identity: (u64, u64),
    rejects: Vec<Rejected>,
    done: bool,
    /// Bytes read from files this source switched away from (rotation).
    read_before: u64,
}

impl FileSource {
    pub fn open(source_id: &str, config: &FileSourceConfig) -> Result<Self, ConnectorError> {
        let (file, identity) = open_file(&config.path)?;
        tracing::debug!(source = source_id, path = %config.path.display(), follow = config.follow, "file source opened");
        Ok(Self {
            path: config.path.clone(),
            follow: config.follow,
            lines: LineReader::new(file),
            identity,
            rejects: Vec::new(),
            done: false,
            read_before: 0,
        })
    }

    fn io_error(&self, e: std::io::Error) -> ConnectorError {
        ConnectorError::io(CONNECTOR, self.path.display(), e)
    }

    /// At the end of a followed file: switches to a new file at `path` if the
    /// old one was truncated or replaced. Returns whether it switched.
    fn reopen_if_replaced(&mut self, out: &mut Vec<Event>) -> Result<bool, ConnectorError> {
        let meta = match std::fs::metadata(&self.path) {
            Ok(meta) => meta,
            // Rotated away and not yet recreated: keep waiting on the old file.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(false),
            Err(e) => return Err(self.io_error(e)),
        };
        let replaced = (meta.dev(), meta.ino()) != self.identity;
        let truncated = !replaced && meta.len() < self.lines.consumed();
        if !replaced && !truncated {
            return Ok(false);
        }
        // A last line the writer never terminated is still data: parse it now.
        self.lines.finish_partial(out, &mut self.rejects);
        let (file, identity) = open_file(&self.path)?;
        tracing::info!(path = %self.path.display(), replaced, truncated, "followed file changed; reading it from the start");
        self.read_before += self.lines.consumed();
        self.lines = LineReader::new(file);
        self.identity = identity;
        Ok(true)
    }
}

fn open_file(path: &Path) -> Result<(File, (u64, u64)), ConnectorError> {
    let file = File::open(path).map_err(|e| ConnectorError::io(CONNECTOR, path.display(), e))?;
    let meta = file.metadata().map_err(|e| ConnectorError::io(CONNECTOR, path.display(), e))?;
    if meta.is_dir() {
        return Err(ConnectorError::Other {
            connector: CONNECTOR.into(),
            message: format!("{} is a directory, not a JSONL file", path.display()),
        });
    }
    Ok((file, (meta.dev(), meta.ino())))
}

impl Source for FileSource {
    fn poll_batch(&mut self, out: &mut Vec<Event>, max: usize) -> Result<bool, ConnectorError> {
        if self.done {
            return Ok(false);
        }
        let start = out.len();
        let deadline = Instant::now() + IDLE_POLL;
        loop {
            let at_end =
                self.lines.read_batch(out, &mut self.rejects, max, self.follow).map_err(|e| self.io_error(e))?;
            if !at_end {
                return Ok(true);
            }
            if !self.follow {
                self.done = true;
                return Ok(false);
            }
            if out.len() > start || !self.rejects.is_empty() {
                return Ok(true);
            }
            // The old file was read to its end just now, so switching loses nothing.
            if self.reopen_if_replaced(out)? {
                continue;
            }
            let now = Instant::now();
            if now >= deadline {
                return Ok(true);
            }
            std::thread::sleep(FOLLOW_POLL.min(deadline - now));
        }
    }

    fn take_rejects(&mut self) -> Vec<Rejected> {
        std::mem::take(&mut self.rejects)
    }

    fn bytes_read(&self) -> Option<u64> {
        Some(self.read_before + self.lines.consumed())
    }
}

#[cfg(test)]
#[path = "file_source_tests.rs"]
mod tests;
