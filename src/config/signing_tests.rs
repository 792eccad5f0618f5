//! `settings.trusted_keys` and `wasm.require_signature`: read right, and each problem at its line.

#![allow(clippy::unwrap_used)] // tests: a failed unwrap is a failed test

use super::tests::{Dir, MINIMAL};

/// MINIMAL with `settings` lines (indented 4, from line 5) and `p`'s wasm block given `require_signature`.
fn pipeline(settings: &str, require: Option<bool>) -> String {
    let body = &MINIMAL["spec:\n".len()..];
    let body = match require {
        Some(r) => body.replace("{module: m.wasm}", &format!("{{module: m.wasm, require_signature: {r}}}")),
        None => body.to_string(),
    };
    match settings {
        "" => format!("spec:\n{body}"),
        _ => format!("spec:\n  settings:\n{settings}{body}"),
    }
}

fn keygen(dir: &Dir, name: &str) -> crate::signing::KeyId {
    crate::signing::keys::generate(&dir.dir.path().join(name)).unwrap().id
}

#[test]
fn signatures_are_off_by_default() {
    let dir = Dir::new();
    let p = dir.parse(MINIMAL).unwrap();
    assert!(p.settings.trusted_keys.is_empty());
    assert!(!p.processors[0].wasm().unwrap().require_signature);
}

#[test]
fn trusted_keys_are_read_relative_to_the_file() {
    let dir = Dir::new();
    std::fs::create_dir(dir.dir.path().join("keys")).unwrap();
    let old = keygen(&dir, "keys/old");
    let new = keygen(&dir, "keys/new");
    let p = dir.parse(&pipeline("    trusted_keys: [keys/old.pub, keys/new.pub]\n", Some(true))).unwrap();
    let keys: Vec<_> = p.settings.trusted_keys.iter().map(|k| (k.key.id(), k.file.clone())).collect();
    assert_eq!(
        keys,
        [(old, dir.dir.path().join("keys/old.pub")), (new, dir.dir.path().join("keys/new.pub"))]
            .map(|(id, file)| (id, std::path::absolute(file).unwrap()))
    );
    assert!(p.processors[0].wasm().unwrap().require_signature);
    let off = dir.parse(&pipeline("    trusted_keys: [keys/old.pub]\n", Some(false))).unwrap();
    assert!(!off.processors[0].wasm().unwrap().require_signature);
}

#[test]
fn require_signature_needs_a_trusted_key() {
    let dir = Dir::new();
    let expected = "9: spec.processors[0].wasm.require_signature: no key could verify the signature: list public key files in spec.settings.trusted_keys (from `flowctl keygen`)";
    assert_eq!(dir.problems(&pipeline("", Some(true))), [expected.replace("9:", "7:")]);
    assert_eq!(dir.problems(&pipeline("    trusted_keys: []\n", Some(true))), [expected]);
    assert!(dir.parse(&pipeline("", Some(false))).is_ok());
}

#[test]
fn unreadable_wrong_and_repeated_keys_are_named() {
    let dir = Dir::new();
    let id = keygen(&dir, "k");
    std::fs::write(dir.dir.path().join("junk.pub"), "hello").unwrap();
    let settings =
        "    trusted_keys:\n      - k.pub\n      - missing.pub\n      - junk.pub\n      - k\n      - k.pub\n";
    let problems = dir.problems(&pipeline(settings, Some(true)));
    assert_eq!(problems.len(), 4, "{problems:#?}");
    assert!(problems[0].starts_with("8: spec.settings.trusted_keys[1]: cannot read missing.pub: "), "{}", problems[0]);
    assert_eq!(
        problems[1..],
        [
            "9: spec.settings.trusted_keys[2]: junk.pub: not a PEM file with a `-----BEGIN PUBLIC KEY-----` line"
                .to_string(),
            "10: spec.settings.trusted_keys[3]: k: this is a private key; give the public key (the `.pub` file)".into(),
            format!("11: spec.settings.trusted_keys[4]: the same key as spec.settings.trusted_keys[0] (key id {id})"),
        ]
    );
}
