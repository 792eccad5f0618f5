//! Hot reload: noticing that a module file was replaced ([`watcher`]),
//! loading it off the workers' way ([`loader`]) and swapping the new module
//! in once it loaded ([`reloader`]).

pub mod loader;
pub mod reloader;
pub mod watcher;

pub use loader::Loader;
pub use reloader::{ReloadTarget, Reloader, DEBOUNCE};
pub use watcher::{FileChange, ModuleWatcher, WatchError, WatchedFile};
