//! One value inside `data`, found by walking object keys and skipping (still
//! validating) everything else: what `route_by` reads without a tree.

use std::fmt;

use serde::de::{DeserializeSeed, Deserializer, IgnoredAny, MapAccess, Visitor};
use serde_json::value::RawValue;

use super::envelope::Str;

/// The raw JSON at `path` (object keys) inside `json`; `None` when a key is
/// missing or a step is not an object.
pub fn lookup<'a, S: AsRef<str>>(json: &'a [u8], path: &[S]) -> Option<&'a RawValue> {
    let mut de = serde_json::Deserializer::from_slice(json);
    PathSeed { path }.deserialize(&mut de).ok().flatten()
}

struct PathSeed<'p, S> {
    path: &'p [S],
}

impl<'de, S: AsRef<str>> DeserializeSeed<'de> for PathSeed<'_, S> {
    type Value = Option<&'de RawValue>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        match self.path {
            [] => <&RawValue as serde::Deserialize>::deserialize(d).map(Some),
            _ => d.deserialize_any(self),
        }
    }
}

impl<'de, S: AsRef<str>> Visitor<'de> for PathSeed<'_, S> {
    type Value = Option<&'de RawValue>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let (head, rest) = match self.path.split_first() {
            Some(split) => split,
            None => return Ok(None),
        };
        let mut found = None;
        while let Some(Str(key)) = map.next_key::<Str<'de>>()? {
            if found.is_none() && key == head.as_ref() {
                found = map.next_value_seed(PathSeed { path: rest })?;
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(found)
    }

    // Anything but an object: the path does not continue.
    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(None)
    }
    fn visit_bool<E>(self, _: bool) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_i64<E>(self, _: i64) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_u64<E>(self, _: u64) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_f64<E>(self, _: f64) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_str<E>(self, _: &str) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_unit<E>(self) -> Result<Self::Value, E> {
        Ok(None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_nested_keys_and_nothing_else() {
        let json = br#"{"a":{"b":[1,2],"c":"x"},"d":null}"#;
        assert_eq!(lookup(json, &["a", "c"]).unwrap().get(), r#""x""#);
        assert_eq!(lookup(json, &["a", "b"]).unwrap().get(), "[1,2]");
        assert!(lookup(json, &["a", "b", "0"]).is_none(), "arrays are not walked");
        assert!(lookup(json, &["d", "e"]).is_none());
        assert!(lookup(json, &["z"]).is_none());
        assert_eq!(lookup(json, &[] as &[&str]).unwrap().get(), std::str::from_utf8(json).unwrap());
    }
}
