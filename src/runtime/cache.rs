//! On-disk cache of compiled modules. An artifact is keyed by the SHA-256 of
//! the module bytes and the engine's compatibility hash (wasmtime version,
//! target, and settings such as fuel metering), so a stale or foreign
//! artifact is never even looked up.
//!
//! Artifacts are native code, so the cache is only used when [`cache_trust`]
//! finds the directory private to this user, and each artifact is sealed: an
//! 8-byte header, an HMAC-SHA256 tag under the user's cache key (bound to the
//! artifact's name, so an artifact cannot stand in for another module's), then
//! wasmtime's serialized module. An artifact whose tag is missing or wrong is
//! recompiled and replaced.

use std::collections::HashSet;
use std::hash::{Hash, Hasher};
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};

use ring::hmac;
use wasmtime::{Engine, Module, Precompiled};

use super::cache_trust::{self, unique_sibling, Untrusted};
use super::error::RuntimeError;
use super::metrics::MODULE_CACHE;

/// First bytes of a sealed artifact (format version 1).
const HEADER: &[u8; 8] = b"flowctl1";
const TAG_LEN: usize = 32;

/// Where a compiled module came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CacheOutcome {
    /// Read from the disk cache.
    Hit,
    /// Compiled (and written to the cache when possible).
    Miss,
    /// Compiled; no cache directory configured.
    Disabled,
    /// Compiled; the cache directory (or its key) is not private to this user.
    Untrusted,
}

impl CacheOutcome {
    pub fn label(self) -> &'static str {
        match self {
            Self::Hit => "hit",
            Self::Miss => "miss",
            Self::Disabled => "disabled",
            Self::Untrusted => "untrusted",
        }
    }
}

/// The artifact path for a module with content hash `sha256_hex` on `engine`.
pub fn artifact_path(dir: &Path, engine: &Engine, sha256_hex: &str) -> PathBuf {
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    engine.precompile_compatibility_hash().hash(&mut hasher);
    dir.join(format!("{sha256_hex}-{:016x}.cwasm", hasher.finish()))
}

/// The compiled module, from the cache when possible. Cache trouble of any
/// kind falls back to compiling; only a module that does not compile fails.
pub fn load_or_compile(
    engine: &Engine,
    dir: Option<&Path>,
    bytes: &[u8],
    sha256_hex: &str,
) -> Result<(Module, CacheOutcome), RuntimeError> {
    let Some(dir) = dir else {
        let module = compile(engine, bytes)?;
        count(CacheOutcome::Disabled);
        return Ok((module, CacheOutcome::Disabled));
    };
    let cache_key = match cache_trust::open(dir) {
        Ok(key) => key,
        Err(why) => {
            warn_once(dir, &why);
            let module = compile(engine, bytes)?;
            count(CacheOutcome::Untrusted);
            return Ok((module, CacheOutcome::Untrusted));
        }
    };
    let path = artifact_path(dir, engine, sha256_hex);
    let key = artifact_key(&cache_key, &path);
    if let Some(module) = read_artifact(engine, &path, &key) {
        count(CacheOutcome::Hit);
        return Ok((module, CacheOutcome::Hit));
    }
    let module = compile(engine, bytes)?;
    if let Err(err) = write_artifact(&module, &path, &key) {
        tracing::debug!(path = %path.display(), "not caching the compiled module: {err}");
    }
    count(CacheOutcome::Miss);
    Ok((module, CacheOutcome::Miss))
}

fn count(outcome: CacheOutcome) {
    metrics::counter!(MODULE_CACHE, "result" => outcome.label()).increment(1);
}

/// Once per directory and process: every load would repeat it.
fn warn_once(dir: &Path, why: &Untrusted) {
    static WARNED: Mutex<Option<HashSet<PathBuf>>> = Mutex::new(None);
    let mut warned = WARNED.lock().unwrap_or_else(PoisonError::into_inner);
    if warned.get_or_insert_with(HashSet::new).insert(dir.to_owned()) {
        tracing::warn!(dir = %dir.display(), reason = %why, "not using the module cache, compiling every module: {why}");
    }
}

fn compile(engine: &Engine, bytes: &[u8]) -> Result<Module, RuntimeError> {
    Module::new(engine, bytes).map_err(|e| RuntimeError::Compile(format!("{e:#}")))
}

/// The cache key narrowed to one artifact name (module hash and engine), so a
/// sealed artifact renamed to another module's name fails its check.
fn artifact_key(cache_key: &hmac::Key, path: &Path) -> hmac::Key {
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let derived = hmac::sign(cache_key, format!("flowctl module cache v1\0{name}").as_bytes());
    hmac::Key::new(hmac::HMAC_SHA256, derived.as_ref())
}

fn read_artifact(engine: &Engine, path: &Path, key: &hmac::Key) -> Option<Module> {
    // Read once: the tag is checked on the very bytes that are deserialized.
    let bytes = std::fs::read(path).ok()?;
    let Some((tag, body)) =
        bytes.strip_prefix(HEADER).filter(|rest| rest.len() >= TAG_LEN).map(|r| r.split_at(TAG_LEN))
    else {
        tracing::debug!(path = %path.display(), "cached module is not sealed (an older flowctl's?): recompiling");
        return None;
    };
    if hmac::verify(key, body, tag).is_err() {
        tracing::warn!(path = %path.display(), "cached module failed its integrity check (modified, or not written by this user's flowctl): recompiling and replacing it");
        return None;
    }
    if Engine::detect_precompiled(body) != Some(Precompiled::Module) {
        return None;
    }
    // SAFETY: `deserialize` trusts its bytes to be wasmtime's own output, as
    // they would run as native code. These are: the tag verified above was
    // made, when the artifact was written, from `Module::serialize` output
    // under a key only this user can read (`cache_trust` refuses a directory
    // or key file anyone else could write or read), narrowed to this module's
    // hash and this engine, and `body` is the exact memory that was verified,
    // not a second read of the file. wasmtime still checks the header's
    // version and settings and refuses a mismatch, which we treat as a miss.
    match unsafe { Module::deserialize(engine, body) } {
        Ok(module) => Some(module),
        Err(err) => {
            tracing::debug!(path = %path.display(), "ignoring cached module: {err:#}");
            None
        }
    }
}

fn write_artifact(module: &Module, path: &Path, key: &hmac::Key) -> std::io::Result<()> {
    let body = module.serialize().map_err(std::io::Error::other)?;
    let tag = hmac::sign(key, &body);
    let tmp = unique_sibling(path);
    // Written under another name and renamed: a reader sees a whole artifact or none.
    let written = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&tmp)
        .and_then(|mut file| {
            file.write_all(HEADER)?;
            file.write_all(tag.as_ref())?;
            file.write_all(&body)
        })
        .and_then(|()| std::fs::rename(&tmp, path));
    written.inspect_err(|_| {
        let _ = std::fs::remove_file(&tmp);
    })
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    const WAT: &str = r#"(module (func (export "f") (result i32) i32.const 7))"#;
    const OTHER: &str = r#"(module (func (export "g") (result i32) i32.const 8))"#;

    fn load(engine: &Engine, dir: &Path, wat: &str, sha: &str) -> (Module, CacheOutcome) {
        load_or_compile(engine, Some(dir), wat.as_bytes(), sha).unwrap()
    }

    #[test]
    fn a_good_artifact_is_a_hit() {
        let dir = tempfile::tempdir().unwrap();
        let engine = Engine::default();
        let (_, first) = load(&engine, dir.path(), WAT, "abc");
        assert_eq!(first, CacheOutcome::Miss);
        let path = artifact_path(dir.path(), &engine, "abc");
        let written = std::fs::read(&path).unwrap();
        assert!(written.starts_with(HEADER), "sealed");
        assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        let (module, second) = load(&engine, dir.path(), WAT, "abc");
        assert_eq!(second, CacheOutcome::Hit);
        assert!(module.get_export("f").is_some());
    }

    #[test]
    fn a_corrupt_artifact_is_recompiled_and_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let engine = Engine::default();
        let path = artifact_path(dir.path(), &engine, "abc");
        std::fs::write(&path, b"\x7fELF garbage").unwrap();
        assert_eq!(load(&engine, dir.path(), WAT, "abc").1, CacheOutcome::Miss);
        assert_eq!(load(&engine, dir.path(), WAT, "abc").1, CacheOutcome::Hit);
    }

    #[test]
    fn a_tampered_artifact_is_recompiled_and_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let engine = Engine::default();
        load(&engine, dir.path(), WAT, "abc");
        let path = artifact_path(dir.path(), &engine, "abc");
        let mut bytes = std::fs::read(&path).unwrap();
        let last = bytes.len() - 1;
        bytes[last] ^= 1;
        std::fs::write(&path, &bytes).unwrap();
        assert_eq!(load(&engine, dir.path(), WAT, "abc").1, CacheOutcome::Miss);
        assert_ne!(std::fs::read(&path).unwrap(), bytes, "replaced");
        assert_eq!(load(&engine, dir.path(), WAT, "abc").1, CacheOutcome::Hit);
    }

    #[test]
    fn an_artifact_without_a_tag_is_recompiled() {
        // What wasmtime writes, as an older flowctl stored it: valid, but unsealed.
        let dir = tempfile::tempdir().unwrap();
        let engine = Engine::default();
        cache_trust::open(dir.path()).unwrap();
        let path = artifact_path(dir.path(), &engine, "abc");
        std::fs::write(&path, Module::new(&engine, OTHER).unwrap().serialize().unwrap()).unwrap();
        let (module, outcome) = load(&engine, dir.path(), WAT, "abc");
        assert_eq!(outcome, CacheOutcome::Miss);
        assert!(module.get_export("f").is_some(), "the module's own code, not the planted one");
        assert_eq!(load(&engine, dir.path(), WAT, "abc").1, CacheOutcome::Hit);
    }

    #[test]
    fn a_sealed_artifact_cannot_stand_in_for_another_module() {
        let dir = tempfile::tempdir().unwrap();
        let engine = Engine::default();
        load(&engine, dir.path(), OTHER, "other");
        let planted = artifact_path(dir.path(), &engine, "abc");
        std::fs::copy(artifact_path(dir.path(), &engine, "other"), &planted).unwrap();
        let (module, outcome) = load(&engine, dir.path(), WAT, "abc");
        assert_eq!(outcome, CacheOutcome::Miss);
        assert!(module.get_export("f").is_some() && module.get_export("g").is_none());
    }

    #[test]
    fn a_directory_others_can_write_is_not_used() {
        let dir = tempfile::tempdir().unwrap();
        let engine = Engine::default();
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o777)).unwrap();
        let (module, outcome) = load(&engine, dir.path(), WAT, "abc");
        assert_eq!(outcome, CacheOutcome::Untrusted);
        assert!(module.get_export("f").is_some(), "still compiled");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0, "nothing read or written there");
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o700)).unwrap();
        assert_eq!(load(&engine, dir.path(), WAT, "abc").1, CacheOutcome::Miss);
        assert_eq!(load(&engine, dir.path(), WAT, "abc").1, CacheOutcome::Hit);
    }

    #[test]
    fn engines_with_different_settings_use_different_artifacts() {
        let dir = tempfile::tempdir().unwrap();
        let plain = Engine::default();
        let fueled = Engine::new(wasmtime::Config::new().consume_fuel(true)).unwrap();
        assert_ne!(artifact_path(dir.path(), &plain, "x"), artifact_path(dir.path(), &fueled, "x"));
    }

    #[test]
    fn invalid_modules_fail_to_compile() {
        let err = load_or_compile(&Engine::default(), None, b"(module (func (result i32)))", "x").unwrap_err();
        assert!(matches!(err, RuntimeError::Compile(_)), "{err}");
    }
}
