//! The `file` source: JSONL, one event per line, read through a large buffer
//! (never loaded whole). With `follow: true` it keeps reading lines appended
//! later, like `tail -F`: from the start of the file, then waiting at the end,
//! and reopening the path when the file is truncated or replaced (rotation).

use std::fs::File;
use std::io::{Seek, SeekFrom};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use super::jsonl::LineReader;
use super::{ConnectorError, Rejected, Source, IDLE_POLL};
use crate::config::FileSourceConfig;
use crate::event::Event;
use crate::progress::SourcePosition;

const CONNECTOR: &str = "file source";

/// Sleep between looks at a followed file that has no new data.
const FOLLOW_POLL: Duration = Duration::from_millis(20);

pub struct FileSource {
    path: PathBuf,
    follow: bool,
    lines: LineReader<File>,
    /// Device and inode of the open file: a different pair at `path` means rotation.
    identity: (u64, u64),
    /// Length and SHA-256 of the open file's first bytes: what tells a saved
    /// position's file from another one reusing its inode.
    head: Head,
    rejects: Vec<Rejected>,
    done: bool,
    /// Bytes read from files this source switched away from (rotation).
    read_before: u64,
}

impl FileSource {
    pub fn open(source_id: &str, config: &FileSourceConfig) -> Result<Self, ConnectorError> {
        let (file, identity) = open_file(&config.path)?;
        let head = Head::of(&file, HEAD_BYTES).map_err(|e| ConnectorError::io(CONNECTOR, config.path.display(), e))?;
        tracing::debug!(source = source_id, path = %config.path.display(), follow = config.follow, "file source opened");
        Ok(Self {
            path: config.path.clone(),
            follow: config.follow,
            lines: LineReader::new(file),
            identity,
            head,
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
        self.head = Head::of(&file, HEAD_BYTES).map_err(|e| self.io_error(e))?;
        self.read_before += self.lines.consumed();
        self.lines = LineReader::new(file);
        self.identity = identity;
        Ok(true)
    }

    /// Why the file at `path` is not the one `at` was saved from, if it is not.
    fn changed_since(&self, at: &SourcePosition) -> Result<Option<String>, ConnectorError> {
        let SourcePosition::File { device, inode, head_len, head_sha256, offset, .. } = at else {
            return Ok(Some(format!("the saved position is a {} position, not a file's", at.kind())));
        };
        if (*device, *inode) != self.identity {
            let (d, i) = self.identity;
            return Ok(Some(format!("it was replaced (device:inode {d}:{i}, saved {device}:{inode})")));
        }
        let len = self.lines.get_ref().metadata().map_err(|e| self.io_error(e))?.len();
        if len < *offset {
            return Ok(Some(format!("it was truncated ({len} bytes, saved position at byte {offset})")));
        }
        let head = Head::of(self.lines.get_ref(), *head_len).map_err(|e| self.io_error(e))?;
        if head.len != *head_len || head.sha256 != *head_sha256 {
            return Ok(Some(format!("its first {head_len} bytes changed (it was rewritten)")));
        }
        Ok(None)
    }
}

/// How much of a file's beginning identifies it.
const HEAD_BYTES: u64 = 4096;

#[derive(Debug, Clone)]
struct Head {
    len: u64,
    sha256: String,
}

impl Head {
    /// Hashes the first `max` bytes of `file` (fewer if it is shorter), without moving its cursor.
    fn of(file: &File, max: u64) -> std::io::Result<Head> {
        use sha2::Digest;
        use std::os::unix::fs::FileExt;
        let mut buf = vec![0; max as usize];
        let mut len = 0;
        while len < buf.len() {
            match file.read_at(&mut buf[len..], len as u64)? {
                0 => break,
                n => len += n,
            }
        }
        Ok(Head { len: len as u64, sha256: hex::encode(sha2::Sha256::digest(&buf[..len])) })
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

    fn position(&self) -> Option<SourcePosition> {
        let (offset, line) = self.lines.resume_point();
        let (device, inode) = self.identity;
        let Head { len: head_len, sha256: head_sha256 } = self.head.clone();
        Some(SourcePosition::File { device, inode, head_len, head_sha256, offset, line })
    }

    fn resume(&mut self, at: &SourcePosition) -> Result<(), ConnectorError> {
        if let Some(why) = self.changed_since(at)? {
            return Err(ConnectorError::Other {
                connector: CONNECTOR.into(),
                message: format!(
                    "{} is not the file the saved position was taken from: {why}; \
                     run with --from-start to read it from the beginning, or clear the position with `flowctl state reset`",
                    self.path.display()
                ),
            });
        }
        let SourcePosition::File { offset, line, .. } = *at else { return Ok(()) };
        // Nothing was read yet: the same open file (checked above), at the offset.
        let mut file = self.lines.get_ref().try_clone().map_err(|e| self.io_error(e))?;
        file.seek(SeekFrom::Start(offset)).map_err(|e| self.io_error(e))?;
        self.lines = LineReader::resumed(file, offset, line);
        Ok(())
    }
}

#[cfg(test)]
#[path = "file_source_tests.rs"]
mod tests;
