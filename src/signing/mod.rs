//! Signed modules: who built a module, checked before flowctl compiles it.
//!
//! `flowctl keygen` makes an Ed25519 key pair ([`keys`]); `flowctl sign`
//! embeds the signature in the module as a `flowctl.signature` custom section
//! ([`section`]), so module and signature are one file, replaced together by one
//! rename and never seen apart by a hot reload; `flowctl verify` and a
//! processor with `require_signature: true` check it against trusted public
//! keys ([`trust`]). wasmtime ignores custom sections: a signed module runs
//! like the unsigned one. Documented in `docs/operations.md#signing-modules`.

pub mod keys;
pub mod section;
pub mod trust;

use std::path::Path;

pub use keys::{KeyError, KeyId, PublicKey, SigningKey};
pub use section::FormatError;
pub use trust::{sign, signer, SignatureError, Signed, TrustedKey, TrustedKeys, Verified};

use crate::runtime::metrics::AUDIT_TARGET;

/// Audit line of a module refused because of its signature.
pub fn audit_refused(processor: &str, version: &str, file: &Path, why: &SignatureError) {
    tracing::warn!(
        target: AUDIT_TARGET,
        processor = %processor,
        version = %version,
        action = "load_module",
        target = %file.display(),
        allowed = false,
        reason = %why,
        "module refused: {why}"
    );
}

/// Audit line of a module whose signature verified with a trusted key.
pub fn audit_accepted(processor: &str, version: &str, file: &Path, key_id: KeyId) {
    tracing::info!(
        target: AUDIT_TARGET,
        processor = %processor,
        version = %version,
        action = "load_module",
        target = %file.display(),
        allowed = true,
        key_id = %key_id,
        "signed module accepted (key {key_id})"
    );
}
