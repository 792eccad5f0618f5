//! On-disk cache of compiled modules. An artifact is keyed by the SHA-256 of
//! the module bytes and the engine's compatibility hash (wasmtime version,
//! target, and settings such as fuel metering), so a stale or foreign
//! artifact is never even looked up.

use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};

use wasmtime::{Engine, Module, Precompiled};

use super::error::RuntimeError;
use super::metrics::MODULE_CACHE;

/// Where a compiled module came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CacheOutcome {
    /// Read from the disk cache.
    Hit,
    /// Compiled (and written to the cache when possible).
    Miss,
    /// Compiled; no cache directory configured.
    Disabled,
}

impl CacheOutcome {
    fn label(self) -> &'static str {
        match self {
            Self::Hit => "hit",
            Self::Miss => "miss",
            Self::Disabled => "disabled",
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
    let path = artifact_path(dir, engine, sha256_hex);
    if let Some(module) = read_artifact(engine, &path) {
        count(CacheOutcome::Hit);
        return Ok((module, CacheOutcome::Hit));
    }
    let module = compile(engine, bytes)?;
    if let Err(err) = write_artifact(&module, dir, &path) {
        tracing::debug!(path = %path.display(), "not caching the compiled module: {err}");
    }
    count(CacheOutcome::Miss);
    Ok((module, CacheOutcome::Miss))
}

fn count(outcome: CacheOutcome) {
    metrics::counter!(MODULE_CACHE, "result" => outcome.label()).increment(1);
}

fn compile(engine: &Engine, bytes: &[u8]) -> Result<Module, RuntimeError> {
    Module::new(engine, bytes).map_err(|e| RuntimeError::Compile(format!("{e:#}")))
}

fn read_artifact(engine: &Engine, path: &Path) -> Option<Module> {
    // Defensive header check first: a truncated or foreign file is skipped
    // without handing it to the deserializer.
    match Engine::detect_precompiled_file(path) {
        Ok(Some(Precompiled::Module)) => {}
        _ => return None,
    }
    // SAFETY: `deserialize_file` trusts the file to be wasmtime's own output.
    // We only read files this module wrote (named by content hash and the
    // engine's compatibility hash, inside flowctl's cache directory), written
    // to a temporary name and renamed into place, so a file is never seen
    // half-written or modified while mapped; wasmtime still checks the
    // header's version and settings and refuses a mismatch, which we treat as a miss.
    match unsafe { Module::deserialize_file(engine, path) } {
        Ok(module) => Some(module),
        Err(err) => {
            tracing::debug!(path = %path.display(), "ignoring cached module: {err:#}");
            None
        }
    }
}

fn write_artifact(module: &Module, dir: &Path, path: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    let bytes = module.serialize().map_err(std::io::Error::other)?;
    let tmp = path.with_extension(
        format!("tmp.{}.{:?}", std::process::id(), std::thread::current().id()).replace(['(', ')'], ""),
    );
    std::fs::write(&tmp, bytes)?;
    std::fs::rename(&tmp, path).inspect_err(|_| {
        let _ = std::fs::remove_file(&tmp);
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const WAT: &str = r#"(module (func (export "f") (result i32) i32.const 7))"#;

    #[test]
    fn second_load_reads_the_artifact() {
        let dir = tempfile::tempdir().unwrap();
        let engine = Engine::default();
        let (_, first) = load_or_compile(&engine, Some(dir.path()), WAT.as_bytes(), "abc").unwrap();
        assert_eq!(first, CacheOutcome::Miss);
        let path = artifact_path(dir.path(), &engine, "abc");
        assert!(path.exists());
        let (module, second) = load_or_compile(&engine, Some(dir.path()), WAT.as_bytes(), "abc").unwrap();
        assert_eq!(second, CacheOutcome::Hit);
        assert!(module.get_export("f").is_some());
    }

    #[test]
    fn a_corrupt_artifact_is_recompiled_and_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let engine = Engine::default();
        let path = artifact_path(dir.path(), &engine, "abc");
        std::fs::write(&path, b"\x7fELF garbage").unwrap();
        let (_, outcome) = load_or_compile(&engine, Some(dir.path()), WAT.as_bytes(), "abc").unwrap();
        assert_eq!(outcome, CacheOutcome::Miss);
        let (_, again) = load_or_compile(&engine, Some(dir.path()), WAT.as_bytes(), "abc").unwrap();
        assert_eq!(again, CacheOutcome::Hit);
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
