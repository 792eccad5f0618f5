//! Hot reload: noticing that a module file was replaced.

pub mod watcher;

pub use watcher::{FileChange, ModuleWatcher, WatchError, WatchedFile};
