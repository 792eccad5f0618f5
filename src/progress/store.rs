//! The embedded state store: one [redb](https://docs.rs/redb) file per
//! pipeline (`<state_dir>/<pipeline>.redb`). redb commits each transaction
//! atomically and durably (fsync, copy-on-write B-trees), so source positions
//! and the processor state they account for are always saved together: a
//! crash leaves the previous checkpoint or the next, never a mix.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use redb::{Database, ReadableDatabase, ReadableTable, ReadableTableMetadata, TableDefinition};
use serde::{Deserialize, Serialize};

use super::SourcePosition;

/// Written once into every store; a store with another value is refused.
pub const FORMAT: &str = "flowctl-state/1";

const META: TableDefinition<&str, &str> = TableDefinition::new("meta");
/// Source id -> [`Saved`] as JSON.
const POSITIONS: TableDefinition<&str, &[u8]> = TableDefinition::new("positions");
/// (processor id, key) -> value.
const STATE: TableDefinition<(&str, &[u8]), &[u8]> = TableDefinition::new("processor_state");

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("state store {}: {message}", path.display())]
    Open { path: PathBuf, message: String },
    #[error("state store {} is in use by another flowctl process (one process per pipeline and state_dir)", path.display())]
    InUse { path: PathBuf },
    #[error("state store {} belongs to {found}, not to {expected}; point settings.state_dir elsewhere or remove it with `flowctl state reset`", path.display())]
    Foreign { path: PathBuf, found: String, expected: String },
    #[error("state store {}: {message}; it is damaged: remove it with `flowctl state reset` (the pipeline then starts from the beginning)", path.display())]
    Corrupt { path: PathBuf, message: String },
    #[error("state store {}: {source}", path.display())]
    Io { path: PathBuf, source: std::io::Error },
}

/// A source position as saved, with when.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Saved {
    pub position: SourcePosition,
    /// Unix milliseconds of the commit.
    pub saved_at: i64,
}

/// One change to a processor's state, committed with the positions.
#[derive(Debug, Clone, PartialEq)]
pub struct StateWrite {
    pub processor: String,
    pub key: Vec<u8>,
    /// `None` deletes the key.
    pub value: Option<Vec<u8>>,
}

/// One key of a processor's state and its value.
pub type StateEntry = (Vec<u8>, Vec<u8>);

/// How much state a processor keeps.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct StateSize {
    pub keys: u64,
    pub bytes: u64,
}

pub struct StateStore {
    db: Database,
    path: PathBuf,
}

/// The file for `pipeline` in `dir` (names are kept to safe file-name characters).
pub fn store_path(dir: &Path, pipeline: &str) -> PathBuf {
    let name: String =
        pipeline.chars().map(|c| if c.is_ascii_alphanumeric() || "._-".contains(c) { c } else { '_' }).collect();
    dir.join(format!("{name}.redb"))
}

impl StateStore {
    /// Opens (creating `dir` and the file if needed) the store of `pipeline`.
    pub fn open(dir: &Path, pipeline: &str) -> Result<StateStore, StoreError> {
        if dir.exists() && !dir.is_dir() {
            return Err(StoreError::Open { path: dir.to_owned(), message: "is not a directory".into() });
        }
        std::fs::create_dir_all(dir).map_err(|source| StoreError::Io { path: dir.to_owned(), source })?;
        let path = store_path(dir, pipeline);
        let db = Database::create(&path).map_err(|e| open_error(&path, e))?;
        let store = StateStore { db, path };
        store.claim(pipeline)?;
        Ok(store)
    }

    /// The store of `pipeline` if one was ever written (`flowctl state`).
    pub fn open_existing(dir: &Path, pipeline: &str) -> Result<Option<StateStore>, StoreError> {
        match store_path(dir, pipeline).is_file() {
            true => Self::open(dir, pipeline).map(Some),
            false => Ok(None),
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Marks a new store as `pipeline`'s, or checks that it is.
    fn claim(&self, pipeline: &str) -> Result<(), StoreError> {
        if self.owned_by(pipeline)? {
            return Ok(());
        }
        let txn = self.db.begin_write().map_err(|e| self.corrupt(e))?;
        {
            let mut meta = txn.open_table(META).map_err(|e| self.corrupt(e))?;
            let format = meta.get("format").map_err(|e| self.corrupt(e))?.map(|v| v.value().to_owned());
            let owner = meta.get("pipeline").map_err(|e| self.corrupt(e))?.map(|v| v.value().to_owned());
            match (format, owner) {
                (None, None) => {
                    meta.insert("format", FORMAT).map_err(|e| self.corrupt(e))?;
                    meta.insert("pipeline", pipeline).map_err(|e| self.corrupt(e))?;
                }
                (Some(format), _) if format != FORMAT => {
                    return Err(self.foreign(format!("format {format:?}"), format!("format {FORMAT:?}")))
                }
                (_, Some(owner)) if owner != pipeline => {
                    return Err(self.foreign(format!("pipeline {owner:?}"), format!("pipeline {pipeline:?}")))
                }
                (Some(_), Some(_)) => {}
                _ => return Err(self.corrupt("its meta table is incomplete")),
            }
        }
        txn.commit().map_err(|e| self.corrupt(e))
    }

    /// Whether the store is already marked as `pipeline`'s, in this format
    /// (a read: no commit, no fsync at every start).
    fn owned_by(&self, pipeline: &str) -> Result<bool, StoreError> {
        let txn = self.db.begin_read().map_err(|e| self.corrupt(e))?;
        let meta = match txn.open_table(META) {
            Ok(meta) => meta,
            Err(redb::TableError::TableDoesNotExist(_)) => return Ok(false),
            Err(e) => return Err(self.corrupt(e)),
        };
        let value = |key| meta.get(key).map(|v| v.map(|v| v.value().to_owned())).map_err(|e| self.corrupt(e));
        Ok(value("format")?.as_deref() == Some(FORMAT) && value("pipeline")?.as_deref() == Some(pipeline))
    }

    /// Saved positions by source id.
    pub fn positions(&self) -> Result<BTreeMap<String, Saved>, StoreError> {
        let txn = self.db.begin_read().map_err(|e| self.corrupt(e))?;
        let table = match txn.open_table(POSITIONS) {
            Ok(table) => table,
            Err(redb::TableError::TableDoesNotExist(_)) => return Ok(BTreeMap::new()),
            Err(e) => return Err(self.corrupt(e)),
        };
        let mut saved = BTreeMap::new();
        for entry in table.iter().map_err(|e| self.corrupt(e))? {
            let (id, json) = entry.map_err(|e| self.corrupt(e))?;
            let position = serde_json::from_slice(json.value())
                .map_err(|e| self.corrupt(format!("position of source {:?}: {e}", id.value())))?;
            saved.insert(id.value().to_owned(), position);
        }
        Ok(saved)
    }

    /// Every key and value of `processor`'s state.
    pub fn state_of(&self, processor: &str) -> Result<Vec<StateEntry>, StoreError> {
        let txn = self.db.begin_read().map_err(|e| self.corrupt(e))?;
        let table = match txn.open_table(STATE) {
            Ok(table) => table,
            Err(redb::TableError::TableDoesNotExist(_)) => return Ok(Vec::new()),
            Err(e) => return Err(self.corrupt(e)),
        };
        let range = table.range((processor, &[][..])..).map_err(|e| self.corrupt(e))?;
        let mut entries = Vec::new();
        for entry in range {
            let (key, value) = entry.map_err(|e| self.corrupt(e))?;
            let (owner, key) = key.value();
            if owner != processor {
                break;
            }
            entries.push((key.to_vec(), value.value().to_vec()));
        }
        Ok(entries)
    }

    /// Keys and bytes of state per processor.
    pub fn state_sizes(&self) -> Result<BTreeMap<String, StateSize>, StoreError> {
        let txn = self.db.begin_read().map_err(|e| self.corrupt(e))?;
        let table = match txn.open_table(STATE) {
            Ok(table) => table,
            Err(redb::TableError::TableDoesNotExist(_)) => return Ok(BTreeMap::new()),
            Err(e) => return Err(self.corrupt(e)),
        };
        let mut sizes: BTreeMap<String, StateSize> = BTreeMap::new();
        if table.len().map_err(|e| self.corrupt(e))? == 0 {
            return Ok(sizes);
        }
        for entry in table.iter().map_err(|e| self.corrupt(e))? {
            let (key, value) = entry.map_err(|e| self.corrupt(e))?;
            let (owner, key) = key.value();
            let size = sizes.entry(owner.to_owned()).or_default();
            size.keys += 1;
            size.bytes += (key.len() + value.value().len()) as u64;
        }
        Ok(sizes)
    }

    /// Saves `positions` and applies `state` in one durable transaction.
    pub fn commit(&self, positions: &[(&str, &SourcePosition)], state: &[StateWrite]) -> Result<(), StoreError> {
        let txn = self.db.begin_write().map_err(|e| self.corrupt(e))?;
        {
            let saved_at = crate::event::Event::now_millis();
            let mut table = txn.open_table(POSITIONS).map_err(|e| self.corrupt(e))?;
            for (id, position) in positions {
                let saved = Saved { position: (*position).clone(), saved_at };
                let json = serde_json::to_vec(&saved).map_err(|e| self.corrupt(e))?;
                table.insert(*id, json.as_slice()).map_err(|e| self.corrupt(e))?;
            }
            let mut table = txn.open_table(STATE).map_err(|e| self.corrupt(e))?;
            for write in state {
                let key = (write.processor.as_str(), write.key.as_slice());
                match &write.value {
                    Some(value) => table.insert(key, value.as_slice()).map(drop),
                    None => table.remove(key).map(drop),
                }
                .map_err(|e| self.corrupt(e))?;
            }
        }
        txn.commit().map_err(|e| self.corrupt(e))
    }

    fn corrupt(&self, message: impl std::fmt::Display) -> StoreError {
        StoreError::Corrupt { path: self.path.clone(), message: message.to_string() }
    }

    fn foreign(&self, found: String, expected: String) -> StoreError {
        StoreError::Foreign { path: self.path.clone(), found, expected }
    }
}

/// Removes `pipeline`'s store; `false` when there was none.
pub fn reset(dir: &Path, pipeline: &str) -> Result<bool, StoreError> {
    let path = store_path(dir, pipeline);
    // Opening first: refuses while a run holds the store.
    drop(StateStore::open_existing(dir, pipeline).or_else(|e| match e {
        StoreError::Corrupt { .. } | StoreError::Foreign { .. } | StoreError::Open { .. } => Ok(None),
        other => Err(other),
    })?);
    match std::fs::remove_file(&path) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
        Err(source) => Err(StoreError::Io { path, source }),
    }
}

fn open_error(path: &Path, error: redb::DatabaseError) -> StoreError {
    let path = path.to_owned();
    match error {
        redb::DatabaseError::DatabaseAlreadyOpen => StoreError::InUse { path },
        redb::DatabaseError::Storage(redb::StorageError::Io(source))
            if source.kind() != std::io::ErrorKind::InvalidData =>
        {
            StoreError::Io { path, source }
        }
        other => StoreError::Corrupt { path, message: format!("not a readable flowctl state store ({other})") },
    }
}

#[cfg(test)]
#[path = "store_tests.rs"]
mod tests;
