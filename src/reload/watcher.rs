//! Watches module files for replacement. It watches each file's *directory*,
//! not the file, because editors and deploy tools replace files by
//! write-then-rename or by swapping a symlink, which a watch on the old inode
//! would never see. Events are debounced, and a change is reported only when
//! the content hash differs from the last one seen, so touching or rewriting a
//! file with the same bytes does nothing. Opening or reading a file is not
//! an event here: the watcher's own reads would otherwise keep it re-reading
//! every module once per debounce, for as long as the pipeline runs.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::Duration;

use crossbeam_channel::{Receiver, Sender};
use notify::event::{AccessKind, AccessMode};
use notify::{EventKind, RecommendedWatcher, RecursiveMode, Watcher};
use sha2::{Digest, Sha256};

/// A file to watch, under a key the caller chooses (e.g. `processor/version`).
#[derive(Debug, Clone)]
pub struct WatchedFile {
    pub key: String,
    pub path: PathBuf,
    /// Hash of the bytes the caller already runs. A file that differs from it
    /// when the watch starts is reported at once (it changed between the load
    /// and the watch); `None` = take the file as it is now.
    pub known_sha256: Option<String>,
}

/// A watched file now holds different bytes.
#[derive(Debug, Clone)]
pub struct FileChange {
    pub key: String,
    pub path: PathBuf,
    pub bytes: Vec<u8>,
    /// Hex SHA-256 of `bytes`.
    pub sha256: String,
}

#[derive(Debug, thiserror::Error)]
pub enum WatchError {
    #[error("cannot watch {path}: {source}")]
    Watch { path: PathBuf, source: notify::Error },
    #[error("cannot start the file watcher: {0}")]
    Start(String),
}

/// Runs until dropped; reports changes to the callback on a thread of its own.
pub struct ModuleWatcher {
    watcher: Option<Arc<Mutex<RecommendedWatcher>>>,
    stop: Sender<()>,
    thread: Option<JoinHandle<()>>,
}

impl ModuleWatcher {
    /// Starts watching. `debounce` is the quiet time after the last file system
    /// event before files are re-read (writes arrive in several events).
    pub fn start(
        files: Vec<WatchedFile>,
        debounce: Duration,
        mut on_change: impl FnMut(FileChange) + Send + 'static,
    ) -> Result<Self, WatchError> {
        let (fs_tx, fs_rx) = crossbeam_channel::unbounded::<()>();
        // Only events that name a watched file (or its link target) count: a
        // busy neighbour in the same directory (an output file, a log) must
        // not hold the debounce open forever.
        let names = Arc::new(Mutex::new(names_to_watch(&files)));
        let relevant = names.clone();
        let mut watcher = notify::recommended_watcher(move |res: notify::Result<notify::Event>| {
            let Ok(event) = res else { return };
            if !may_change_content(&event.kind) {
                return;
            }
            let names = relevant.lock().unwrap_or_else(PoisonError::into_inner);
            if event.paths.iter().any(|p| p.file_name().is_some_and(|n| names.contains(n))) {
                let _ = fs_tx.send(());
            }
        })
        .map_err(|e| WatchError::Start(e.to_string()))?;
        let mut watching = directories_to_watch(&files);
        for dir in &watching {
            watcher
                .watch(dir, RecursiveMode::NonRecursive)
                .map_err(|source| WatchError::Watch { path: dir.clone(), source })?;
        }
        let watcher = Arc::new(Mutex::new(watcher));
        let mut last_hash: HashMap<String, String> = files
            .iter()
            .filter_map(|f| Some((f.key.clone(), f.known_sha256.clone().or_else(|| Some(read_hashed(&f.path)?.1))?)))
            .collect();
        let (stop, stopped) = crossbeam_channel::bounded::<()>(1);
        let for_thread = watcher.clone();
        let thread = std::thread::Builder::new()
            .name("flowctl-reload-watch".into())
            .spawn(move || {
                let mut pass = |last_hash: &mut HashMap<String, String>| {
                    let mut changes = Vec::new();
                    for file in &files {
                        let Some((bytes, sha256)) = read_hashed(&file.path) else { continue };
                        if last_hash.get(&file.key) == Some(&sha256) {
                            continue;
                        }
                        last_hash.insert(file.key.clone(), sha256.clone());
                        changes.push(FileChange { key: file.key.clone(), path: file.path.clone(), bytes, sha256 });
                    }
                    // A symlink may now point into a directory not watched yet;
                    // watched before reporting, so no later edit there is missed.
                    *names.lock().unwrap_or_else(PoisonError::into_inner) = names_to_watch(&files);
                    for dir in directories_to_watch(&files) {
                        if !watching.contains(&dir) {
                            let mut w = for_thread.lock().unwrap_or_else(PoisonError::into_inner);
                            if w.watch(&dir, RecursiveMode::NonRecursive).is_ok() {
                                watching.insert(dir);
                            }
                        }
                    }
                    changes.into_iter().for_each(&mut on_change);
                };
                pass(&mut last_hash);
                while wait_for_quiet(&fs_rx, &stopped, debounce) {
                    pass(&mut last_hash);
                }
            })
            .map_err(|e| WatchError::Start(e.to_string()))?;
        Ok(Self { watcher: Some(watcher), stop, thread: Some(thread) })
    }
}

impl Drop for ModuleWatcher {
    fn drop(&mut self) {
        self.watcher.take();
        let _ = self.stop.try_send(());
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Whether an event of this kind may mean new bytes: not an open (nor any
/// other access but the close of a file opened for writing).
fn may_change_content(kind: &EventKind) -> bool {
    match kind {
        EventKind::Access(AccessKind::Close(AccessMode::Write)) => true,
        EventKind::Access(_) => false,
        _ => true,
    }
}

/// Blocks until a burst of file system events has been followed by `debounce`
/// of silence. Returns false when asked to stop, also in the middle of a burst.
fn wait_for_quiet(events: &Receiver<()>, stop: &Receiver<()>, debounce: Duration) -> bool {
    crossbeam_channel::select! {
        recv(events) -> msg => if msg.is_err() { return false },
        recv(stop) -> _ => return false,
    }
    loop {
        crossbeam_channel::select! {
            recv(events) -> msg => if msg.is_err() { return false },
            recv(stop) -> _ => return false,
            default(debounce) => return true,
        }
    }
}

/// The directory of each path, and of its symlink target when it is a link
/// (so an in-place edit of the target is seen too).
fn directories_to_watch(files: &[WatchedFile]) -> BTreeSet<PathBuf> {
    let mut dirs = BTreeSet::new();
    for file in files {
        dirs.insert(parent_dir(&file.path));
        if let Ok(target) = std::fs::canonicalize(&file.path) {
            dirs.insert(parent_dir(&target));
        }
    }
    dirs
}

/// The file names of each path, and of its symlink target when it is a link.
fn names_to_watch(files: &[WatchedFile]) -> HashSet<OsString> {
    let mut names = HashSet::new();
    for file in files {
        names.extend(file.path.file_name().map(ToOwned::to_owned));
        if let Ok(target) = std::fs::canonicalize(&file.path) {
            names.extend(target.file_name().map(ToOwned::to_owned));
        }
    }
    names
}

fn parent_dir(path: &Path) -> PathBuf {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// The file's bytes and their hex SHA-256, or `None` while it is missing
/// (between an unlink and a rename, for instance).
fn read_hashed(path: &Path) -> Option<(Vec<u8>, String)> {
    let bytes = std::fs::read(path).ok()?;
    let sha256 = hex::encode(Sha256::digest(&bytes));
    Some((bytes, sha256))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn watch(path: &Path) -> (ModuleWatcher, Receiver<FileChange>) {
        let (tx, rx) = crossbeam_channel::unbounded();
        let files = vec![WatchedFile { key: "p/v1".into(), path: path.to_path_buf(), known_sha256: None }];
        let watcher = ModuleWatcher::start(files, Duration::from_millis(50), move |c| {
            let _ = tx.send(c);
        })
        .expect("start watcher");
        (watcher, rx)
    }

    /// `m.wasm` holding `bytes`, in a directory of its own.
    fn module_file(bytes: &[u8]) -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().expect("tempdir");
        let module = dir.path().join("m.wasm");
        std::fs::write(&module, bytes).expect("write");
        (dir, module)
    }

    fn next(rx: &Receiver<FileChange>) -> Option<FileChange> {
        rx.recv_timeout(Duration::from_secs(5)).ok()
    }

    #[test]
    fn reports_rename_over_copy_over_and_symlink_swap() {
        let (dir, module) = module_file(b"one");
        let (_w, rx) = watch(&module);

        let tmp = dir.path().join("m.wasm.tmp");
        std::fs::write(&tmp, b"two").expect("write");
        std::fs::rename(&tmp, &module).expect("rename");
        assert_eq!(next(&rx).expect("rename seen").bytes, b"two");

        std::fs::write(&module, b"three").expect("copy over");
        assert_eq!(next(&rx).expect("copy seen").bytes, b"three");

        let target = dir.path().join("m-v4.wasm");
        std::fs::write(&target, b"four").expect("write");
        let link = dir.path().join("m.wasm.link");
        std::os::unix::fs::symlink(&target, &link).expect("symlink");
        std::fs::rename(&link, &module).expect("swap");
        assert_eq!(next(&rx).expect("symlink swap seen").bytes, b"four");
    }

    #[test]
    fn a_busy_neighbour_does_not_hold_the_debounce_open() {
        let (dir, module) = module_file(b"one");
        let (_w, rx) = watch(&module);
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let neighbour = dir.path().join("out.jsonl");
        let writer = {
            let stop = stop.clone();
            std::thread::spawn(move || {
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    std::fs::write(&neighbour, b"x").expect("write");
                    std::thread::sleep(Duration::from_millis(5));
                }
            })
        };
        std::fs::write(dir.path().join("m.wasm.tmp"), b"two").expect("write");
        std::fs::rename(dir.path().join("m.wasm.tmp"), &module).expect("rename");
        let seen = next(&rx);
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        writer.join().expect("writer");
        assert_eq!(seen.expect("reload seen while the neighbour kept writing").bytes, b"two");
    }

    #[test]
    fn same_bytes_are_not_a_change() {
        let (dir, module) = module_file(b"same");
        let (_w, rx) = watch(&module);
        // Replaced atomically: an in-place rewrite truncates first, and a
        // loaded machine may let the watcher read the empty file in between.
        let tmp = dir.path().join("m.wasm.tmp");
        std::fs::write(&tmp, b"same").expect("rewrite");
        std::fs::rename(&tmp, &module).expect("rename");
        std::fs::write(dir.path().join("other"), b"x").expect("write other");
        assert!(rx.recv_timeout(Duration::from_millis(500)).is_err());
        std::fs::write(&module, b"new").expect("write");
        assert_eq!(next(&rx).expect("change seen").sha256, hex::encode(Sha256::digest(b"new")));
    }

    /// Opens of `path` by anyone during `window`, seen through inotify.
    fn opens_during(path: &Path, window: Duration) -> usize {
        let opens = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let (counter, name) = (opens.clone(), path.file_name().map(ToOwned::to_owned));
        let mut spy = notify::recommended_watcher(move |res: notify::Result<notify::Event>| {
            if let Ok(event) = res {
                let ours = event.paths.iter().any(|p| p.file_name() == name.as_deref());
                if ours && matches!(event.kind, EventKind::Access(AccessKind::Open(_))) {
                    counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                }
            }
        })
        .expect("spy watcher");
        spy.watch(&parent_dir(path), RecursiveMode::NonRecursive).expect("spy watch");
        std::thread::sleep(window);
        opens.load(std::sync::atomic::Ordering::Relaxed)
    }

    #[test]
    fn an_unchanged_module_is_not_read_again_and_again() {
        let (_dir, module) = module_file(b"one");
        let (watcher, rx) = watch(&module);
        // Opened by others (the engine loading it, a backup): not a change.
        std::fs::read(&module).expect("read");
        std::thread::sleep(Duration::from_millis(300));
        // Its own reads once made the watcher read the file once per debounce
        // (10 opens in this window); one is its first pass, if that came late.
        let opens = opens_during(&module, Duration::from_millis(500));
        assert!(opens <= 1, "the watcher opened an unchanged file {opens} times");
        assert!(rx.try_recv().is_err());
        // Still watching: a real change is seen.
        std::fs::write(&module, b"two").expect("write");
        assert_eq!(next(&rx).expect("change seen").bytes, b"two");
        drop(watcher);
    }

    #[test]
    fn a_file_that_changed_before_the_watch_started_is_reported_at_once() {
        let (_dir, module) = module_file(b"newer");
        let (tx, rx) = crossbeam_channel::unbounded();
        let known = Some(hex::encode(Sha256::digest(b"loaded")));
        let files = vec![WatchedFile { key: "k".into(), path: module, known_sha256: known }];
        let _w = ModuleWatcher::start(files, Duration::from_millis(50), move |c| {
            let _ = tx.send(c);
        })
        .expect("start watcher");
        assert_eq!(next(&rx).expect("reported").bytes, b"newer");
    }

    #[test]
    fn after_a_symlink_swap_the_new_targets_directory_is_watched() {
        let dir = tempfile::tempdir().expect("tempdir");
        let releases = dir.path().join("releases");
        std::fs::create_dir(&releases).expect("mkdir");
        let module = dir.path().join("m.wasm");
        std::fs::write(&module, b"one").expect("write");
        let (_w, rx) = watch(&module);
        let target = releases.join("m-2.wasm");
        std::fs::write(&target, b"two").expect("write");
        let link = dir.path().join("m.wasm.link");
        std::os::unix::fs::symlink(&target, &link).expect("symlink");
        std::fs::rename(&link, &module).expect("swap");
        assert_eq!(next(&rx).expect("swap seen").bytes, b"two");
        // Edited in place, where the link points: seen through the new watch.
        std::fs::write(&target, b"three").expect("edit target");
        assert_eq!(next(&rx).expect("edit seen").bytes, b"three");
    }
}
