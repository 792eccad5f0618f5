//! Whether a module cache directory may be trusted with native code, and the
//! per-user key its artifacts are sealed with.
//!
//! Cached artifacts are loaded as machine code, so the directory must be this
//! user's alone: owned by the current user and writable by nobody else, and
//! reached only through directories no other user can rename entries in
//! (owned by this user or root, and not group/world-writable unless sticky,
//! as `/tmp` is). The key is 32 random bytes in `cache.key` inside it, mode
//! 0600: whoever else writes an artifact there cannot make it pass the HMAC.

use std::io::{Read, Write};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use ring::hmac;
use ring::rand::SecureRandom;

/// The key file, inside the cache directory.
pub const KEY_FILE: &str = "cache.key";
const KEY_LEN: usize = 32;
const STICKY: u32 = 0o1000;

/// Why the cache directory is not used.
#[derive(Debug, thiserror::Error)]
pub enum Untrusted {
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("{path} is writable by its group or by others (mode {mode:04o})")]
    Writable { path: PathBuf, mode: u32 },
    #[error("{path} belongs to uid {owner}, not to this user (uid {euid})")]
    Owner { path: PathBuf, owner: u32, euid: u32 },
    #[error("{path} is not a regular file")]
    NotAFile { path: PathBuf },
    #[error("{path} may be read by its group or by others (mode {mode:04o}); it must be 0600")]
    LooseKey { path: PathBuf, mode: u32 },
    #[error("{path} holds {len} bytes, not a {KEY_LEN}-byte key")]
    KeySize { path: PathBuf, len: u64 },
    #[error("cannot make a cache key: the system's random number generator failed")]
    Random,
}

/// Which rule a directory is held to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    /// The cache directory itself: this user's, writable by nobody else.
    Cache,
    /// A directory above it: this user's or root's, and nobody else may
    /// rename entries in it (not group/world-writable, or sticky).
    Ancestor,
}

/// Creates `dir` if needed (mode 0700), checks it and the directories above
/// it, and returns the key its artifacts are sealed with.
pub fn open(dir: &Path) -> Result<hmac::Key, Untrusted> {
    std::fs::DirBuilder::new().recursive(true).mode(0o700).create(dir).map_err(io(dir))?;
    let real = std::fs::canonicalize(dir).map_err(io(dir))?;
    let euid = current_uid();
    for (index, path) in real.ancestors().enumerate() {
        let meta = std::fs::metadata(path).map_err(io(path))?;
        let role = if index == 0 { Role::Cache } else { Role::Ancestor };
        check_dir(path, meta.uid(), meta.mode(), euid, role)?;
    }
    read_or_create_key(&real.join(KEY_FILE), euid)
}

fn check_dir(path: &Path, owner: u32, mode: u32, euid: u32, role: Role) -> Result<(), Untrusted> {
    if owner != euid && !(role == Role::Ancestor && owner == 0) {
        return Err(Untrusted::Owner { path: path.to_owned(), owner, euid });
    }
    let sticky_ancestor = role == Role::Ancestor && mode & STICKY != 0;
    if mode & 0o022 != 0 && !sticky_ancestor {
        return Err(Untrusted::Writable { path: path.to_owned(), mode: mode & 0o7777 });
    }
    Ok(())
}

fn read_or_create_key(path: &Path, euid: u32) -> Result<hmac::Key, Untrusted> {
    let file = match open_no_follow(path) {
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
            create_key(path)?;
            open_no_follow(path)
        }
        other => other,
    };
    let mut file = file.map_err(io(path))?;
    let meta = file.metadata().map_err(io(path))?;
    if !meta.is_file() {
        return Err(Untrusted::NotAFile { path: path.to_owned() });
    }
    if meta.uid() != euid {
        return Err(Untrusted::Owner { path: path.to_owned(), owner: meta.uid(), euid });
    }
    if crate::secret_file::exposed_mode(&meta).is_some() {
        return Err(Untrusted::LooseKey { path: path.to_owned(), mode: meta.mode() & 0o7777 });
    }
    if meta.len() != KEY_LEN as u64 {
        return Err(Untrusted::KeySize { path: path.to_owned(), len: meta.len() });
    }
    let mut secret = [0; KEY_LEN];
    file.read_exact(&mut secret).map_err(io(path))?;
    Ok(hmac::Key::new(hmac::HMAC_SHA256, &secret))
}

/// Writes a new key under a unique name and links it into place, so a
/// concurrent flowctl never reads half a key and the first one in wins.
fn create_key(path: &Path) -> Result<(), Untrusted> {
    let mut secret = [0; KEY_LEN];
    ring::rand::SystemRandom::new().fill(&mut secret).map_err(|_| Untrusted::Random)?;
    let tmp = unique_sibling(path);
    let written = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW)
        .open(&tmp)
        .and_then(|mut file| file.write_all(&secret).and_then(|()| file.sync_all()));
    let placed = written.and_then(|()| match std::fs::hard_link(&tmp, path) {
        Err(err) if err.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        // A file system without hard links: the last writer's key wins, which
        // costs the other writer's artifacts a recompile, nothing more.
        Err(_) => std::fs::rename(&tmp, path),
        Ok(()) => Ok(()),
    });
    let _ = std::fs::remove_file(&tmp);
    placed.map_err(io(path))
}

/// `path` with a suffix unique to this process and thread, for write-then-rename.
pub fn unique_sibling(path: &Path) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    let thread = format!("{:?}", std::thread::current().id()).replace(|c: char| !c.is_ascii_digit(), "");
    name.push(format!(".tmp.{}.{thread}", std::process::id()));
    PathBuf::from(name)
}

fn open_no_follow(path: &Path) -> std::io::Result<std::fs::File> {
    std::fs::OpenOptions::new().read(true).custom_flags(libc::O_NOFOLLOW).open(path)
}

fn current_uid() -> u32 {
    // SAFETY: geteuid(2) takes no arguments, touches no memory and cannot fail.
    unsafe { libc::geteuid() }
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> Untrusted + '_ {
    move |source| Untrusted::Io { path: path.to_owned(), source }
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    fn chmod(path: &Path, mode: u32) {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
    }

    #[test]
    fn a_new_cache_is_private_and_keeps_its_key() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("flowctl/modules");
        let first = open(&dir).unwrap();
        for made in [root.path().join("flowctl"), dir.clone()] {
            assert_eq!(std::fs::metadata(&made).unwrap().mode() & 0o777, 0o700, "{}", made.display());
        }
        let key = std::fs::metadata(dir.join(KEY_FILE)).unwrap();
        assert_eq!((key.mode() & 0o777, key.len()), (0o600, KEY_LEN as u64));
        let second = open(&dir).unwrap();
        assert_eq!(hmac::sign(&first, b"x").as_ref(), hmac::sign(&second, b"x").as_ref(), "the same key");
        let names: Vec<_> = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(names, [KEY_FILE], "no temporary file left");
    }

    #[test]
    fn loose_directories_are_not_trusted() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("modules");
        open(&dir).unwrap();
        for mode in [0o777, 0o770, 0o1777] {
            chmod(&dir, mode);
            assert!(
                matches!(open(&dir), Err(Untrusted::Writable { path, .. }) if path.ends_with("modules")),
                "{mode:o}"
            );
        }
        chmod(&dir, 0o755);
        assert!(open(&dir).is_ok(), "readable by others is fine");
        // A parent others may write to could swap the whole directory.
        chmod(root.path(), 0o777);
        let err = open(&dir).err().unwrap();
        assert!(
            matches!(&err, Untrusted::Writable { path, mode: 0o777 } if path == &std::fs::canonicalize(root.path()).unwrap()),
            "{err}"
        );
        chmod(root.path(), 0o700);
    }

    #[test]
    fn a_loose_or_odd_key_file_is_not_trusted() {
        let root = tempfile::tempdir().unwrap();
        let key = root.path().join(KEY_FILE);
        open(root.path()).unwrap();
        chmod(&key, 0o644);
        assert!(matches!(open(root.path()), Err(Untrusted::LooseKey { mode: 0o644, .. })));
        std::fs::remove_file(&key).unwrap();
        std::fs::write(root.path().join("elsewhere"), [7; KEY_LEN]).unwrap();
        chmod(&root.path().join("elsewhere"), 0o600);
        std::os::unix::fs::symlink(root.path().join("elsewhere"), &key).unwrap();
        assert!(matches!(open(root.path()), Err(Untrusted::Io { .. })), "a symlinked key is not followed");
        std::fs::remove_file(&key).unwrap();
        std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(&key).unwrap();
        assert!(matches!(open(root.path()), Err(Untrusted::KeySize { len: 0, .. })));
    }

    #[test]
    fn ownership_rules() {
        let p = Path::new("/x");
        let me = 1000;
        assert!(check_dir(p, me, 0o40700, me, Role::Cache).is_ok());
        assert!(matches!(check_dir(p, 1001, 0o40700, me, Role::Cache), Err(Untrusted::Owner { owner: 1001, .. })));
        assert!(matches!(check_dir(p, 0, 0o40700, me, Role::Cache), Err(Untrusted::Owner { .. })), "root's cache dir");
        assert!(check_dir(p, 0, 0o40755, me, Role::Ancestor).is_ok(), "/home");
        assert!(check_dir(p, 0, 0o41777, me, Role::Ancestor).is_ok(), "/tmp");
        assert!(matches!(check_dir(p, 1001, 0o40755, me, Role::Ancestor), Err(Untrusted::Owner { .. })));
        assert!(matches!(check_dir(p, 0, 0o40777, me, Role::Ancestor), Err(Untrusted::Writable { .. })));
        assert!(matches!(check_dir(p, me, 0o40775, me, Role::Ancestor), Err(Untrusted::Writable { mode: 0o775, .. })));
        assert!(check_dir(p, 0, 0o40700, 0, Role::Cache).is_ok(), "root's own cache");
    }
}
