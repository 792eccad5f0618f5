//! The module's top-level sections, walked by their headers only (id, LEB128
//! size), and the `flowctl.signature` custom section: its payload format and
//! how it is appended. Nothing here interprets code; the walk only needs to
//! know where each section starts and ends.

use std::ops::Range;

use super::keys::KeyId;

/// Name of the custom section that carries the signature.
pub const SECTION_NAME: &str = "flowctl.signature";
/// `\0asm` and binary format version 1: a core module (components are not signed).
const MODULE_HEADER: [u8; 8] = *b"\0asm\x01\0\0\0";
const PAYLOAD_FORMAT: u8 = 1;
/// Format byte, key id, SHA-256 of the unsigned module, Ed25519 signature.
const PAYLOAD_LEN: usize = 1 + 8 + 32 + 64;

/// Why the bytes cannot carry (or be given) a signature.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FormatError {
    #[error("not a binary WebAssembly module (WAT text and components cannot be signed; sign the compiled .wasm)")]
    NotAModule,
    #[error("malformed WebAssembly: {0}")]
    Malformed(&'static str),
    #[error("more than one `flowctl.signature` section")]
    SeveralSignatures,
    #[error("the `flowctl.signature` section is not in a format this flowctl reads")]
    BadPayload,
}

/// A parsed `flowctl.signature` payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Payload {
    pub key_id: KeyId,
    /// What the signer hashed; only for telling "modified" from "bad signature" apart.
    pub module_sha256: [u8; 32],
    pub signature: [u8; 64],
}

impl Payload {
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(PAYLOAD_LEN);
        out.push(PAYLOAD_FORMAT);
        out.extend_from_slice(&self.key_id.0);
        out.extend_from_slice(&self.module_sha256);
        out.extend_from_slice(&self.signature);
        out
    }

    fn decode(bytes: &[u8]) -> Result<Self, FormatError> {
        if bytes.len() != PAYLOAD_LEN || bytes[0] != PAYLOAD_FORMAT {
            return Err(FormatError::BadPayload);
        }
        let mut payload = Payload { key_id: KeyId([0; 8]), module_sha256: [0; 32], signature: [0; 64] };
        payload.key_id.0.copy_from_slice(&bytes[1..9]);
        payload.module_sha256.copy_from_slice(&bytes[9..41]);
        payload.signature.copy_from_slice(&bytes[41..]);
        Ok(payload)
    }
}

/// A module split into what the signature covers and the signature itself.
#[derive(Debug)]
pub struct Split<'a> {
    /// The module header and every section but the signature, in order.
    pub covered: Vec<&'a [u8]>,
    pub signature: Option<Payload>,
}

/// Splits `bytes` around its `flowctl.signature` section (at most one).
pub fn split(bytes: &[u8]) -> Result<Split<'_>, FormatError> {
    if bytes.get(..8) != Some(&MODULE_HEADER[..]) {
        return Err(FormatError::NotAModule);
    }
    let mut covered = vec![&bytes[..8]];
    let mut signature = None;
    let mut pos = 8;
    while pos < bytes.len() {
        let section = next_section(bytes, pos)?;
        pos = section.whole.end;
        match signature_payload(bytes, &section)? {
            Some(_) if signature.is_some() => return Err(FormatError::SeveralSignatures),
            Some(payload) => signature = Some(payload),
            None => covered.push(&bytes[section.whole]),
        }
    }
    Ok(Split { covered, signature })
}

/// `covered` (the module without its signature) with a signature section appended.
pub fn append(covered: &[&[u8]], payload: &Payload) -> Vec<u8> {
    let payload = payload.encode();
    let mut content = leb128(SECTION_NAME.len());
    content.extend_from_slice(SECTION_NAME.as_bytes());
    content.extend_from_slice(&payload);
    let mut out = covered.concat();
    out.push(0); // custom section
    out.extend_from_slice(&leb128(content.len()));
    out.extend_from_slice(&content);
    out
}

struct Section {
    id: u8,
    whole: Range<usize>,
    content: Range<usize>,
}

fn next_section(bytes: &[u8], start: usize) -> Result<Section, FormatError> {
    let id = bytes[start];
    let (size, after_size) = read_leb128(bytes, start + 1)?;
    let end = after_size.checked_add(size).filter(|end| *end <= bytes.len());
    let end = end.ok_or(FormatError::Malformed("a section runs past the end of the file"))?;
    Ok(Section { id, whole: start..end, content: after_size..end })
}

/// The payload when `section` is a `flowctl.signature` custom section.
fn signature_payload(bytes: &[u8], section: &Section) -> Result<Option<Payload>, FormatError> {
    if section.id != 0 {
        return Ok(None);
    }
    let (name_len, name_start) = read_leb128(bytes, section.content.start)?;
    let name_end = name_start.checked_add(name_len).filter(|end| *end <= section.content.end);
    let name_end = name_end.ok_or(FormatError::Malformed("a custom section's name runs past the section"))?;
    if &bytes[name_start..name_end] != SECTION_NAME.as_bytes() {
        return Ok(None);
    }
    Payload::decode(&bytes[name_end..section.content.end]).map(Some)
}

/// An unsigned LEB128 `u32` at `pos`: its value and the position after it.
fn read_leb128(bytes: &[u8], mut pos: usize) -> Result<(usize, usize), FormatError> {
    let mut value: u64 = 0;
    for shift in (0..35).step_by(7) {
        let byte = *bytes.get(pos).ok_or(FormatError::Malformed("truncated section header"))?;
        pos += 1;
        value |= u64::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            let value = u32::try_from(value).map_err(|_| FormatError::Malformed("a size above 4 GiB"))?;
            return Ok((value as usize, pos));
        }
    }
    Err(FormatError::Malformed("a size takes more than 5 bytes"))
}

fn leb128(mut value: usize) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let byte = (value & 0x7f) as u8;
        value >>= 7;
        if value == 0 {
            out.push(byte);
            return out;
        }
        out.push(byte | 0x80);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn payload(n: u8) -> Payload {
        Payload { key_id: KeyId([n; 8]), module_sha256: [n; 32], signature: [n; 64] }
    }

    #[test]
    fn leb128_roundtrips() {
        for value in [0, 1, 127, 128, 300, 16_384, u32::MAX as usize] {
            assert_eq!(read_leb128(&leb128(value), 0).unwrap(), (value, leb128(value).len()));
        }
        assert!(read_leb128(&[0x80, 0x80, 0x80, 0x80, 0x80, 0x01], 0).is_err());
        assert!(read_leb128(&[0xff, 0xff, 0xff, 0xff, 0x7f], 0).is_err(), "above u32");
        assert!(read_leb128(&[0x80], 0).is_err());
    }

    #[test]
    fn an_appended_signature_is_found_and_split_off() {
        let module = wat::parse_str(r#"(module (func (export "f")) (@custom "other" "x"))"#).unwrap();
        let unsigned = split(&module).unwrap();
        assert_eq!(unsigned.signature, None);
        assert_eq!(unsigned.covered.concat(), module);
        let signed = append(&unsigned.covered, &payload(7));
        let split_again = split(&signed).unwrap();
        assert_eq!(split_again.signature, Some(payload(7)));
        assert_eq!(split_again.covered.concat(), module);
        wasmtime::Module::new(&wasmtime::Engine::default(), &signed).expect("a signed module still compiles");
    }

    #[test]
    fn malformed_input_is_an_error_not_a_panic() {
        assert_eq!(split(b"(module)").unwrap_err(), FormatError::NotAModule);
        assert_eq!(split(b"\0asm\x0d\0\x01\0").unwrap_err(), FormatError::NotAModule, "component");
        assert!(matches!(split(b"\0asm\x01\0\0\0\x01\x05\0").unwrap_err(), FormatError::Malformed(_)));
        assert!(matches!(split(b"\0asm\x01\0\0\0\0\x02\x09a").unwrap_err(), FormatError::Malformed(_)));
        let once = append(&[&MODULE_HEADER[..]], &payload(1));
        let mut doubled = once.clone();
        doubled.extend_from_slice(&once[8..]);
        assert_eq!(split(&doubled).unwrap_err(), FormatError::SeveralSignatures);
        let mut short = append(&[&MODULE_HEADER[..]], &payload(1));
        short[9] -= 1; // section one byte shorter: the payload loses its last byte
        short.pop();
        assert_eq!(split(&short).unwrap_err(), FormatError::BadPayload);
    }
}
