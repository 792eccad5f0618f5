//! Reads the one value `filter` tests straight from an event's JSON, in one
//! borrowed pass: the envelope fields are checked as the SDK's `Event`
//! checks them (same types, same messages, duplicates refused), the path's
//! value is built as a `Value`, and everything else is skipped with
//! `IgnoredAny` (its JSON syntax checked, nothing built). So a kept event
//! costs one parse and a copy of its bytes, and the answer is the one
//! `Event::get` gives on the parsed event (the tests hold the two together).

use std::borrow::Cow;
use std::fmt;

use flowctl_sdk::Value;
use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;

/// A `field` of the config, resolved once: the same paths `Event::get` reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Path {
    Id,
    Type,
    Timestamp,
    /// `metadata.<key>`: the key is the whole rest, dots included.
    Metadata(String),
    /// `data` (no segments) or `data.<a>.<b>`: keys, or indexes into arrays.
    Data(Vec<String>),
    /// Anything else: no event has a value there.
    Nowhere,
}

impl Path {
    pub fn parse(field: &str) -> Path {
        let (head, rest) = field.split_once('.').map_or((field, None), |(h, r)| (h, Some(r)));
        match (head, rest) {
            ("id", None) => Path::Id,
            ("type", None) => Path::Type,
            ("timestamp", None) => Path::Timestamp,
            ("metadata", Some(key)) => Path::Metadata(key.to_string()),
            ("data", None) => Path::Data(Vec::new()),
            ("data", Some(rest)) => Path::Data(rest.split('.').map(String::from).collect()),
            _ => Path::Nowhere,
        }
    }
}

/// The value at `path` in the event `json`, as `Event::get` gives it, or
/// serde's error when the text is not an event.
pub fn value_at(json: &[u8], path: &Path) -> Result<Option<Value>, serde_json::Error> {
    let mut de = serde_json::Deserializer::from_slice(json);
    let found = EventSeed(path).deserialize(&mut de)?;
    de.end()?;
    Ok(found)
}

/// The value at the path [`with_tested_path`] set, read from one event as
/// part of a batch: `flowctl_sdk::batch::each` takes a `Deserialize` type,
/// not a seed, and this lets it hand the filter each event's tested value
/// and text from its one pass over the batch, so an event is parsed once.
pub struct Tested(pub Option<Value>);

thread_local! {
    /// The path [`Tested`] reads. A module instance runs on one thread.
    static TESTED_PATH: std::cell::RefCell<Path> = const { std::cell::RefCell::new(Path::Nowhere) };
}

/// Runs `f` with `path` as the one [`Tested`] reads.
pub fn with_tested_path<R>(path: &Path, f: impl FnOnce() -> R) -> R {
    TESTED_PATH.with(|tested| tested.replace(path.clone()));
    f()
}

impl<'de> Deserialize<'de> for Tested {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        TESTED_PATH.with(|tested| EventSeed(&tested.borrow()).deserialize(d)).map(Tested)
    }
}

/// A string, borrowed from the input unless it had escapes.
struct Text<'de>(Cow<'de, str>);

impl<'de> Deserialize<'de> for Text<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Text<'de>;
            // `String`'s wording, so errors read as the SDK's parse words them.
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E>(self, s: &'de str) -> Result<Text<'de>, E> {
                Ok(Text(Cow::Borrowed(s)))
            }
            fn visit_str<E>(self, s: &str) -> Result<Text<'de>, E> {
                Ok(Text(Cow::Owned(s.to_string())))
            }
        }
        d.deserialize_str(V)
    }
}

/// The event object; its value is the one at the path.
struct EventSeed<'p>(&'p Path);

/// The SDK's `Event` fields, for serde's `deserialize_struct`.
const FIELDS: &[&str] = &["id", "type", "timestamp", "data", "metadata"];

impl<'de> DeserializeSeed<'de> for EventSeed<'_> {
    type Value = Option<Value>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Option<Value>, D::Error> {
        d.deserialize_struct("Event", FIELDS, self)
    }
}

impl<'de> Visitor<'de> for EventSeed<'_> {
    type Value = Option<Value>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("struct Event")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Option<Value>, A::Error> {
        let (mut id, mut event_type, mut timestamp) = (None::<Text>, None::<Text>, None::<i64>);
        // The value at a data or metadata path; `Some` once the field is read.
        let (mut data, mut metadata) = (None::<Option<Value>>, None::<Option<String>>);
        while let Some(key) = map.next_key::<Text>()? {
            // As the derive does: a duplicate is refused before its value is read.
            let duplicate = match &*key.0 {
                "id" if id.is_some() => Some("id"),
                "type" if event_type.is_some() => Some("type"),
                "timestamp" if timestamp.is_some() => Some("timestamp"),
                "data" if data.is_some() => Some("data"),
                "metadata" if metadata.is_some() => Some("metadata"),
                _ => None,
            };
            if let Some(name) = duplicate {
                return Err(de::Error::duplicate_field(name));
            }
            match (&*key.0, self.0) {
                ("id", _) => id = Some(map.next_value()?),
                ("type", _) => event_type = Some(map.next_value()?),
                ("timestamp", _) => timestamp = Some(map.next_value()?),
                ("data", Path::Data(segments)) => data = Some(map.next_value_seed(Descend(segments))?),
                ("data", _) => data = Some(map.next_value::<IgnoredAny>().map(|_| None)?),
                ("metadata", path) => {
                    let key = if let Path::Metadata(key) = path { Some(key.as_str()) } else { None };
                    metadata = Some(map.next_value_seed(MetadataSeed(key))?);
                }
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        let text = |t: Option<Text>| Value::String(t.map(|t| t.0.into_owned()).unwrap_or_default());
        Ok(match self.0 {
            // Absent fields read as the SDK's defaults.
            Path::Id => Some(text(id)),
            Path::Type => Some(text(event_type)),
            Path::Timestamp => Some(Value::from(timestamp.unwrap_or_default())),
            Path::Metadata(_) => metadata.flatten().map(Value::String),
            Path::Data(segments) if segments.is_empty() => Some(data.flatten().unwrap_or(Value::Null)),
            Path::Data(_) => data.flatten(),
            Path::Nowhere => None,
        })
    }
}

/// `metadata`, checked as `BTreeMap<String, String>`; its value is the one
/// under the key (the last, if repeated, as a map keeps it).
struct MetadataSeed<'p>(Option<&'p str>);

impl<'de> DeserializeSeed<'de> for MetadataSeed<'_> {
    type Value = Option<String>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Option<String>, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for MetadataSeed<'_> {
    type Value = Option<String>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a map")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Option<String>, A::Error> {
        let mut found = None;
        while let Some((key, value)) = map.next_entry::<Text, Text>()? {
            if self.0 == Some(&*key.0) {
                found = Some(value.0.into_owned());
            }
        }
        Ok(found)
    }
}

/// Follows the remaining segments down `data`: keys in objects, indexes in
/// arrays, as `flowctl_sdk::event::lookup` does; `None` where it ends.
struct Descend<'p>(&'p [String]);

impl<'de> DeserializeSeed<'de> for Descend<'_> {
    type Value = Option<Value>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Option<Value>, D::Error> {
        if self.0.is_empty() {
            return Value::deserialize(d).map(Some);
        }
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Descend<'_> {
    type Value = Option<Value>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Option<Value>, A::Error> {
        let Some((segment, rest)) = self.0.split_first() else { return Ok(None) };
        let mut found = None;
        while let Some(key) = map.next_key::<Text>()? {
            if key.0 == segment.as_str() {
                // A repeated key: the last wins, as in a `Value` object.
                found = map.next_value_seed(Descend(rest))?;
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(found)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Option<Value>, A::Error> {
        let Some((segment, rest)) = self.0.split_first() else { return Ok(None) };
        let wanted = segment.parse::<usize>().ok();
        let mut found = None;
        for index in 0.. {
            if wanted == Some(index) {
                match seq.next_element_seed(Descend(rest))? {
                    Some(value) => found = value,
                    None => break,
                }
            } else if seq.next_element::<IgnoredAny>()?.is_none() {
                break;
            }
        }
        Ok(found)
    }

    // A scalar has no fields: the path ends there.
    fn visit_unit<E>(self) -> Result<Option<Value>, E> {
        Ok(None)
    }
    fn visit_bool<E>(self, _: bool) -> Result<Option<Value>, E> {
        Ok(None)
    }
    fn visit_i64<E>(self, _: i64) -> Result<Option<Value>, E> {
        Ok(None)
    }
    fn visit_u64<E>(self, _: u64) -> Result<Option<Value>, E> {
        Ok(None)
    }
    fn visit_f64<E>(self, _: f64) -> Result<Option<Value>, E> {
        Ok(None)
    }
    fn visit_str<E>(self, _: &str) -> Result<Option<Value>, E> {
        Ok(None)
    }
}
