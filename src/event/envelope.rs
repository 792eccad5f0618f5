//! The borrowed scan of an event's JSON: one serde pass that validates the
//! whole object and returns its header fields as slices of the input (`data`
//! and `metadata` as raw JSON), building no tree and, unless a string holds
//! escapes, allocating nothing.

use std::borrow::Cow;
use std::fmt;

use serde::de::{self, Deserialize, Deserializer, IgnoredAny, MapAccess, Visitor};
use serde_json::value::RawValue;

/// A JSON string, borrowed from the input unless it held escapes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Str<'a>(pub Cow<'a, str>);

impl<'de: 'a, 'a> Deserialize<'de> for Str<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct StrVisitor;
        impl<'de> Visitor<'de> for StrVisitor {
            type Value = Str<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Str<'de>, E> {
                Ok(Str(Cow::Borrowed(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Str<'de>, E> {
                Ok(Str(Cow::Owned(v.to_owned())))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Str<'de>, E> {
                Ok(Str(Cow::Owned(v)))
            }
        }
        d.deserialize_str(StrVisitor)
    }
}

/// The fields of one event object, every one optional (guest output may leave
/// any out), plus `error` (a failed entry of `process_batch` output).
#[derive(Debug, Default)]
pub struct Envelope<'a> {
    pub id: Option<Str<'a>>,
    pub event_type: Option<Str<'a>>,
    pub timestamp: Option<i64>,
    pub data: Option<&'a RawValue>,
    pub metadata: Option<&'a RawValue>,
    pub error: Option<Str<'a>>,
    /// The fields are exactly `id, type, timestamp, data, metadata` in that
    /// order, nothing else: the form flowctl itself writes, kept as it is.
    pub canonical: bool,
}

const CANONICAL_ORDER: [&str; 5] = ["id", "type", "timestamp", "data", "metadata"];

impl<'de: 'a, 'a> Deserialize<'de> for Envelope<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_map(EnvelopeVisitor)
    }
}

pub(super) struct EnvelopeVisitor;

impl<'de> Visitor<'de> for EnvelopeVisitor {
    type Value = Envelope<'de>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an event object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Envelope<'de>, A::Error> {
        let mut env = Envelope::default();
        let mut seen = 0usize;
        let mut in_order = true;
        while let Some(Str(key)) = map.next_key::<Str<'de>>()? {
            let position = CANONICAL_ORDER.iter().position(|k| *k == key);
            in_order &= position == Some(seen);
            seen += 1;
            match key.as_ref() {
                "id" => set(&mut env.id, "id", map.next_value()?)?,
                "type" => set(&mut env.event_type, "type", map.next_value()?)?,
                "timestamp" => set(&mut env.timestamp, "timestamp", map.next_value()?)?,
                "data" => set(&mut env.data, "data", map.next_value()?)?,
                "metadata" => {
                    let raw: &RawValue = map.next_value()?;
                    check_metadata(raw).map_err(de::Error::custom)?;
                    set(&mut env.metadata, "metadata", raw)?
                }
                "error" => set(&mut env.error, "error", map.next_value()?)?,
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        env.canonical = in_order && seen == CANONICAL_ORDER.len();
        Ok(env)
    }
}

fn set<T, E: de::Error>(slot: &mut Option<T>, name: &'static str, value: T) -> Result<(), E> {
    if slot.is_some() {
        return Err(E::duplicate_field(name));
    }
    *slot = Some(value);
    Ok(())
}

/// Parses an event object, requiring nothing but well-formed JSON of the
/// right types, in UTF-8 throughout.
pub fn scan(json: &[u8]) -> Result<Envelope<'_>, serde_json::Error> {
    serde_json::from_str(utf8_text(json).map_err(de::Error::custom)?)
}

/// JSON bytes as text, checked in one pass (SIMD where the CPU has it), for
/// serde to read as `str`: reading bytes, it checks each string it meets on
/// its own, many small checks that together cost several times more.
pub fn utf8_text(json: &[u8]) -> Result<&str, InvalidUtf8> {
    simdutf8::compat::from_utf8(json).map_err(|e| InvalidUtf8 { at: e.valid_up_to() })
}

/// Bytes that are not UTF-8, from byte `at` of what was checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("invalid UTF-8 at byte {at}")]
pub struct InvalidUtf8 {
    pub at: usize,
}

/// Metadata entries, borrowed from the JSON where no escapes were written.
pub type Pairs<'a> = Vec<(Cow<'a, str>, Cow<'a, str>)>;

/// Metadata: an object of string to string, as borrowed pairs in their order.
pub fn metadata_pairs(raw: &str) -> Result<Pairs<'_>, serde_json::Error> {
    struct PairsVisitor;
    impl<'de> Visitor<'de> for PairsVisitor {
        type Value = Pairs<'de>;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("an object of strings")
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
            let mut pairs = Vec::with_capacity(map.size_hint().unwrap_or(4));
            while let Some((Str(k), Str(v))) = map.next_entry::<Str<'de>, Str<'de>>()? {
                pairs.push((k, v));
            }
            Ok(pairs)
        }
    }
    let mut de = serde_json::Deserializer::from_str(raw);
    let pairs = de.deserialize_map(PairsVisitor)?;
    de.end()?;
    Ok(pairs)
}

fn check_metadata(raw: &RawValue) -> Result<(), String> {
    metadata_pairs(raw.get()).map(drop).map_err(|e| format!("metadata: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn borrows_plain_strings_and_unescapes_others() {
        let env = scan(br#"{"id":"a\"b","type":"t","data":{"x":1}}"#).unwrap();
        assert!(matches!(env.id.unwrap().0, Cow::Owned(s) if s == "a\"b"));
        assert!(matches!(env.event_type.unwrap().0, Cow::Borrowed("t")));
        assert_eq!(env.data.unwrap().get(), r#"{"x":1}"#);
        assert!(!env.canonical);
    }

    #[test]
    fn canonical_means_the_five_fields_in_order() {
        let text = br#"{"id":"a","type":"t","timestamp":1,"data":null,"metadata":{}}"#;
        assert!(scan(text).unwrap().canonical);
        let swapped = br#"{"type":"t","id":"a","timestamp":1,"data":null,"metadata":{}}"#;
        assert!(!scan(swapped).unwrap().canonical);
        let extra = br#"{"id":"a","type":"t","timestamp":1,"data":null,"metadata":{},"x":2}"#;
        assert!(!scan(extra).unwrap().canonical);
    }

    #[test]
    fn wrong_types_and_duplicates_are_errors() {
        for bad in [
            &br#"{"id":1}"#[..],
            br#"{"id":"a","metadata":{"k":1}}"#,
            br#"{"id":"a","id":"b"}"#,
            br#"{"id":"a","timestamp":1.5}"#,
            br#"{"id":"a"} x"#,
            b"[]",
        ] {
            assert!(scan(bad).is_err(), "{}", String::from_utf8_lossy(bad));
        }
    }

    #[test]
    fn invalid_utf8_is_an_error_wherever_it_is() {
        assert!(scan(r#"{"id":"a","data":{"s":"café"},"x":"é"}"#.as_bytes()).is_ok());
        // In a string serde reads, in raw `data`, in a field it skips.
        for (bad, at) in [
            (&b"{\"id\":\"a\xff\"}"[..], 8),
            (b"{\"id\":\"a\",\"data\":{\"s\":\"\xc3(\"}}", 23),
            (b"{\"id\":\"a\",\"x\":\"\xe2\x82\"}", 15),
        ] {
            let err = scan(bad).map(|_| ()).unwrap_err().to_string();
            assert_eq!(err, format!("invalid UTF-8 at byte {at}"), "{}", String::from_utf8_lossy(bad));
        }
    }

    #[test]
    fn metadata_pairs_keep_order() {
        let pairs = metadata_pairs(r#"{"b":"1","a":"2\n"}"#).unwrap();
        assert_eq!(pairs[0], (Cow::Borrowed("b"), Cow::Borrowed("1")));
        assert_eq!(pairs[1].1, "2\n");
    }
}
