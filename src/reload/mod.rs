//! Hot reload: noticing that a module file was replaced ([`watcher`]) and
//! swapping the new module in once it loaded ([`reloader`]).

pub mod reloader;
pub mod watcher;

pub use reloader::{ReloadTarget, Reloader, DEBOUNCE};
pub use watcher::{FileChange, ModuleWatcher, WatchError, WatchedFile};
