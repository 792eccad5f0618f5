//! Module signatures in `flowctl.yaml`: `settings.trusted_keys`, read and
//! parsed here so a missing or wrong key file is a `file:line` problem rather
//! than a refused start, and each processor's `wasm.require_signature`, which
//! needs at least one trusted key.

use serde_saphyr::Spanned;

use super::raw::{RawProcessor, RawSettings};
use super::resolve::Resolver;
use crate::signing::{KeyError, PublicKey, TrustedKey, TrustedKeys};

const KEY: &str = "spec.settings.trusted_keys";

pub(crate) fn trusted_keys(r: &mut Resolver, raw: Option<&Spanned<Vec<Spanned<String>>>>) -> TrustedKeys {
    let Some(list) = raw else { return TrustedKeys::default() };
    // With their index in the list, to name the first of two equal keys.
    let mut keys: Vec<(usize, TrustedKey)> = Vec::new();
    for (index, written) in list.value.iter().enumerate() {
        let key = format!("{KEY}[{index}]");
        let file = r.path(&written.value);
        match PublicKey::read(&file) {
            Ok(public) => match keys.iter().find(|(_, k)| k.key == public) {
                Some((first, _)) => {
                    let message = format!("the same key as {KEY}[{first}] (key id {})", public.id());
                    r.problems.on(written, key, message);
                }
                None => keys.push((index, TrustedKey { file, key: public })),
            },
            Err(KeyError::Read { source, .. }) => {
                r.problems.on(written, key, format!("cannot read {}: {source}", written.value));
            }
            Err(KeyError::Format { message, .. }) => {
                r.problems.on(written, key, format!("{}: {message}", written.value));
            }
            Err(other) => r.problems.on(written, key, other.to_string()),
        }
    }
    TrustedKeys::new(keys.into_iter().map(|(_, k)| k).collect())
}

/// `require_signature: true` with no trusted key listed could never load a module.
pub(crate) fn check_required(r: &mut Resolver, settings: Option<&RawSettings>, processors: &[RawProcessor]) {
    let listed = settings.and_then(|s| s.trusted_keys.as_ref()).is_some_and(|list| !list.value.is_empty());
    if listed {
        return;
    }
    for (index, processor) in processors.iter().enumerate() {
        let required = processor.wasm.as_ref().and_then(|wasm| wasm.value.require_signature.as_ref());
        if let Some(required) = required.filter(|required| required.value) {
            r.problems.on(
                required,
                format!("spec.processors[{index}].wasm.require_signature"),
                format!("no key could verify the signature: list public key files in {KEY} (from `flowctl keygen`)"),
            );
        }
    }
}
