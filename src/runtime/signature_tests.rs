//! A spec with `trusted_keys`: the runtime checks the signature before it
//! compiles, and refuses with `RuntimeError::Signature`.

use sha2::{Digest, Sha256};

use super::test_guests::*;
use super::*;
use crate::signing::{keys, sign, SignatureError, SigningKey, TrustedKeys};

struct Signer {
    _dir: tempfile::TempDir,
    key: SigningKey,
    trusted: TrustedKeys,
}

fn signer() -> Signer {
    let dir = tempfile::tempdir().unwrap();
    let pair = keys::generate(&dir.path().join("k")).unwrap();
    let trusted = TrustedKeys::read(&[pair.public]).unwrap();
    Signer { key: SigningKey::read(&pair.private).unwrap(), trusted, _dir: dir }
}

fn echo() -> Vec<u8> {
    wat::parse_str(process(ECHO)).unwrap()
}

#[test]
fn a_signed_module_loads_and_runs_when_a_signature_is_required() {
    let s = signer();
    let signed = sign(&echo(), &s.key).unwrap();
    let spec = ProcessorSpec { version: None, trusted_keys: Some(s.trusted.clone()), ..spec() };
    let module = runtime().load_bytes(&signed.bytes, spec).unwrap();
    assert_eq!(module.signed_by(), Some(signed.key_id));
    assert_eq!(module.instantiate().unwrap().process_event(&event("a")).unwrap()[0].id(), "a");
    // Not required: not checked, not reported.
    assert_eq!(runtime().load_bytes(&signed.bytes, spec_without_keys()).unwrap().signed_by(), None);
}

#[test]
fn an_unsigned_or_modified_module_is_refused_with_its_version() {
    let s = signer();
    let spec = ProcessorSpec { version: None, trusted_keys: Some(s.trusted.clone()), ..spec() };
    let err = runtime().load_bytes(&echo(), spec.clone()).unwrap_err();
    let expected = hex::encode(Sha256::digest(echo()))[..12].to_string();
    assert!(
        matches!(&err, RuntimeError::Signature { version, reason: SignatureError::Unsigned } if *version == expected),
        "{err}"
    );
    assert!(err.to_string().starts_with("module signature refused: the module is not signed"), "{err}");

    let mut modified = sign(&echo(), &s.key).unwrap().bytes;
    modified[20] ^= 0x01;
    let err = runtime().load_bytes(&modified, ProcessorSpec { version: Some("v9".into()), ..spec }).unwrap_err();
    assert!(matches!(&err, RuntimeError::Signature { version, .. } if version == "v9"), "{err}");
    // The runtime still loads it when no signature is asked for (the check is the spec's).
    assert!(runtime().load_bytes(&echo(), spec_without_keys()).is_ok());
}

fn spec_without_keys() -> ProcessorSpec {
    ProcessorSpec { trusted_keys: None, ..spec() }
}
