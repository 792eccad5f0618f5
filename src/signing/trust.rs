//! Signing a module, and checking a module's signature against trusted keys.
//!
//! The signature covers the module without its `flowctl.signature` section:
//! Ed25519 over [`DOMAIN`] followed by the SHA-256 of those bytes. So a
//! module can be signed again (a new key replaces the old signature), and
//! every other byte, custom sections included, is covered.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use sha2::{Digest, Sha256};

use super::keys::{KeyError, KeyId, PublicKey, SigningKey};
use super::section::{self, FormatError, Payload};

/// Prefix of the signed message, so a flowctl module signature can never be
/// taken for the same key's signature of anything else.
const DOMAIN: &[u8] = b"flowctl module signature v1\0";

/// Why a module's signature is not accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("the module is not signed (`flowctl sign` it with a trusted key)")]
    Unsigned,
    #[error("signed with key {key_id}, which is not a trusted key")]
    UnknownKey { key_id: KeyId },
    #[error("the module was modified after it was signed with key {key_id}")]
    Tampered { key_id: KeyId },
    #[error("bad signature: it does not verify with trusted key {key_id}")]
    BadSignature { key_id: KeyId },
    #[error(transparent)]
    Format(#[from] FormatError),
}

/// A trusted public key and the file it came from.
#[derive(Debug, Clone)]
pub struct TrustedKey {
    pub file: PathBuf,
    pub key: PublicKey,
}

/// The keys a module's signature may verify with. Cheap to clone.
#[derive(Debug, Clone, Default)]
pub struct TrustedKeys(Arc<[TrustedKey]>);

/// A signature that verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    pub key_id: KeyId,
    /// The trusted key's file.
    pub key_file: PathBuf,
}

impl TrustedKeys {
    pub fn new(keys: Vec<TrustedKey>) -> Self {
        Self(keys.into())
    }

    /// Reads public key files.
    pub fn read(files: &[PathBuf]) -> Result<Self, KeyError> {
        let keys = files.iter().map(|file| Ok(TrustedKey { file: file.clone(), key: PublicKey::read(file)? }));
        Ok(Self::new(keys.collect::<Result<_, KeyError>>()?))
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn iter(&self) -> impl Iterator<Item = &TrustedKey> {
        self.0.iter()
    }

    /// Checks `module`'s embedded signature: it must be made by one of these
    /// keys over exactly these bytes (its signature section aside).
    pub fn verify(&self, module: &[u8]) -> Result<Verified, SignatureError> {
        let split = section::split(module)?;
        let payload = split.signature.as_ref().ok_or(SignatureError::Unsigned)?;
        let key_id = payload.key_id;
        let candidates: Vec<&TrustedKey> = self.iter().filter(|k| k.key.id() == key_id).collect();
        if candidates.is_empty() {
            return Err(SignatureError::UnknownKey { key_id });
        }
        let digest = digest(&split.covered);
        if digest != payload.module_sha256 {
            return Err(SignatureError::Tampered { key_id });
        }
        let message = message(&digest);
        let signer = candidates.into_iter().find(|k| k.key.verifies(&message, &payload.signature));
        let signer = signer.ok_or(SignatureError::BadSignature { key_id })?;
        Ok(Verified { key_id, key_file: signer.file.clone() })
    }
}

/// A module with a new signature.
#[derive(Debug)]
pub struct Signed {
    pub bytes: Vec<u8>,
    pub key_id: KeyId,
    /// The key of the signature it replaced, if it had one.
    pub replaced: Option<KeyId>,
}

/// Signs `module` with `key`, replacing any signature it carries.
pub fn sign(module: &[u8], key: &SigningKey) -> Result<Signed, FormatError> {
    let split = section::split(module)?;
    let module_sha256 = digest(&split.covered);
    let key_id = key.public_key().id();
    let payload = Payload { key_id, module_sha256, signature: key.sign(&message(&module_sha256)) };
    let bytes = section::append(&split.covered, &payload);
    Ok(Signed { bytes, key_id, replaced: split.signature.map(|p| p.key_id) })
}

/// The key id of `module`'s signature, without checking it (`None`: unsigned).
pub fn signer(module: &[u8]) -> Result<Option<KeyId>, FormatError> {
    Ok(section::split(module)?.signature.map(|p| p.key_id))
}

/// Writes `bytes` to `path` through a temporary file and a rename, so a
/// pipeline watching `path` sees the old or the new module, never half of one.
/// A symlink is followed: the file it points to is replaced, the link stays.
pub fn replace_file(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let is_link = path.symlink_metadata().is_ok_and(|m| m.file_type().is_symlink());
    let resolved = if is_link { std::fs::canonicalize(path)? } else { path.to_owned() };
    let path = resolved.as_path();
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(format!(".flowctl-sign.{}", std::process::id()));
    let tmp = PathBuf::from(tmp);
    let result = std::fs::write(&tmp, bytes).and_then(|()| {
        if let Ok(meta) = std::fs::metadata(path) {
            std::fs::set_permissions(&tmp, meta.permissions())?;
        }
        std::fs::rename(&tmp, path)
    });
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

fn digest(parts: &[&[u8]]) -> [u8; 32] {
    let mut hasher = Sha256::new();
    parts.iter().for_each(|part| hasher.update(part));
    hasher.finalize().into()
}

fn message(digest: &[u8; 32]) -> Vec<u8> {
    [DOMAIN, &digest[..]].concat()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::signing::keys::generate;

    struct Keys {
        _dir: tempfile::TempDir,
        a: SigningKey,
        b: SigningKey,
        trusted_a: TrustedKeys,
    }

    fn keys() -> Keys {
        let dir = tempfile::tempdir().unwrap();
        let a = generate(&dir.path().join("a")).unwrap();
        let b = generate(&dir.path().join("b")).unwrap();
        let trusted_a = TrustedKeys::read(std::slice::from_ref(&a.public)).unwrap();
        Keys {
            a: SigningKey::read(&a.private).unwrap(),
            b: SigningKey::read(&b.private).unwrap(),
            trusted_a,
            _dir: dir,
        }
    }

    fn module() -> Vec<u8> {
        wat::parse_str(r#"(module (func (export "f") (result i32) i32.const 7))"#).unwrap()
    }

    #[test]
    fn a_signed_module_verifies_with_its_key() {
        let k = keys();
        let signed = sign(&module(), &k.a).unwrap();
        assert_eq!(signed.replaced, None);
        let verified = k.trusted_a.verify(&signed.bytes).unwrap();
        assert_eq!(verified.key_id, k.a.public_key().id());
        assert_eq!(signed.key_id, verified.key_id);
        assert!(verified.key_file.ends_with("a.pub"));
        assert_eq!(signer(&signed.bytes).unwrap(), Some(verified.key_id));
    }

    #[test]
    fn unsigned_and_foreign_modules_are_refused() {
        let k = keys();
        assert_eq!(k.trusted_a.verify(&module()), Err(SignatureError::Unsigned));
        let by_b = sign(&module(), &k.b).unwrap();
        let key_id = k.b.public_key().id();
        assert_eq!(k.trusted_a.verify(&by_b.bytes), Err(SignatureError::UnknownKey { key_id }));
        assert_eq!(TrustedKeys::default().verify(&by_b.bytes), Err(SignatureError::UnknownKey { key_id }));
        let text = b"(module)";
        assert_eq!(k.trusted_a.verify(text), Err(SignatureError::Format(FormatError::NotAModule)));
    }

    #[test]
    fn any_changed_byte_is_detected() {
        let k = keys();
        let signed = sign(&module(), &k.a).unwrap().bytes;
        let key_id = k.a.public_key().id();
        for at in 0..signed.len() {
            let mut tampered = signed.clone();
            tampered[at] ^= 0x01;
            assert!(k.trusted_a.verify(&tampered).is_err(), "byte {at} changed unnoticed");
        }
        // The code itself: `i32.const 7` made `i32.const 6`.
        let at = signed.windows(2).position(|w| w == [0x41, 0x07]).unwrap() + 1;
        let mut patched = signed.clone();
        patched[at] = 0x06;
        assert_eq!(k.trusted_a.verify(&patched), Err(SignatureError::Tampered { key_id }));
        // The signature bytes themselves (the payload's last 64 bytes).
        let mut forged = signed.clone();
        let last = forged.len() - 1;
        forged[last] ^= 0x01;
        assert_eq!(k.trusted_a.verify(&forged), Err(SignatureError::BadSignature { key_id }));
        // Bytes appended after signing (another custom section) are covered too.
        let mut appended = signed;
        appended.extend_from_slice(b"\0\x03\x02hi");
        assert_eq!(k.trusted_a.verify(&appended), Err(SignatureError::Tampered { key_id }));
    }

    #[test]
    fn signing_again_replaces_the_signature() {
        let k = keys();
        let by_b = sign(&module(), &k.b).unwrap();
        let by_a = sign(&by_b.bytes, &k.a).unwrap();
        assert_eq!(by_a.replaced, Some(k.b.public_key().id()));
        assert_eq!(by_a.bytes, sign(&module(), &k.a).unwrap().bytes, "same bytes as signing the original");
        assert_eq!(k.trusted_a.verify(&by_a.bytes).unwrap().key_id, k.a.public_key().id());
        assert_eq!(section::split(&by_a.bytes).unwrap().covered.concat(), module());
    }

    #[test]
    fn a_key_in_rotation_verifies_alongside_the_old_one() {
        let k = keys();
        let both = TrustedKeys::new(
            k.trusted_a.iter().cloned().chain([TrustedKey { file: "b.pub".into(), key: k.b.public_key() }]).collect(),
        );
        for key in [&k.a, &k.b] {
            let signed = sign(&module(), key).unwrap();
            assert_eq!(both.verify(&signed.bytes).unwrap().key_id, key.public_key().id());
        }
    }

    #[test]
    fn replace_file_swaps_the_whole_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("m.wasm");
        std::fs::write(&path, b"old").unwrap();
        replace_file(&path, b"new bytes").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"new bytes");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1, "no temporary file left");
        let link = dir.path().join("current.wasm");
        std::os::unix::fs::symlink(&path, &link).unwrap();
        replace_file(&link, b"through the link").unwrap();
        assert!(link.symlink_metadata().unwrap().file_type().is_symlink(), "the link stays a link");
        assert_eq!(std::fs::read(&path).unwrap(), b"through the link");
    }
}
