//! The event: the unit of data that flows from sources through processors to sinks.
//!
//! An event *is* its JSON (the guest ABI's wire format, see `docs/abi.md`,
//! and what JSONL files, stdout and dead letters hold), carried as shared
//! bytes plus where its header fields sit in them. Handing an event to a
//! guest, a sink or a second subscriber copies or shares those bytes; it never
//! serializes a tree. `data` is parsed only by whoever needs a value from it
//! ([`Event::data_at`] parses one path). Changing a field writes new bytes.

mod compose;
mod envelope;
mod path;
#[cfg(test)]
mod tests;

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use bytes::Bytes;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::value::RawValue;

use crate::progress::Ticket;

pub use compose::Parts;
pub use envelope::{metadata_pairs, scan, utf8_text, Envelope, InvalidUtf8, Pairs, Str};

/// Metadata key under which the host records which module version produced an event.
pub const MODULE_VERSION_KEY: &str = "flowctl.module_version";

/// A byte range of the event's JSON.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Span {
    start: u32,
    end: u32,
}

impl Span {
    fn new(start: usize, end: usize) -> Span {
        // Events are far below 4 GiB (`limits.max_input`, source line limits).
        Span { start: start as u32, end: end as u32 }
    }

    /// Where `part`, a slice of `whole`, sits in it.
    fn of(whole: &[u8], part: &[u8]) -> Span {
        let start = part.as_ptr() as usize - whole.as_ptr() as usize;
        Span::new(start, start + part.len())
    }

    fn get(self, json: &[u8]) -> &[u8] {
        &json[self.start as usize..self.end as usize]
    }
}

/// A header string: in the JSON as written, or (when it needed escaping) kept aside.
#[derive(Debug, Clone)]
enum Text {
    Span(Span),
    Owned(Arc<str>),
}

/// One event. Cloning shares its bytes.
#[derive(Clone)]
pub struct Event {
    json: Bytes,
    id: Text,
    event_type: Text,
    timestamp: i64,
    data: Span,
    metadata: Span,
    /// The source input this event derives from (see [`crate::progress`]);
    /// not part of the event's data, and kept by everything derived from it.
    ticket: Option<Ticket>,
}

impl Event {
    /// A new event with empty metadata.
    pub fn new(id: impl AsRef<str>, event_type: impl AsRef<str>, timestamp: i64, data: serde_json::Value) -> Self {
        // Serializing a JSON value into a Vec cannot fail.
        let data = serde_json::to_vec(&data).unwrap_or_else(|_| b"null".to_vec());
        Self::from_parts(Parts {
            id: id.as_ref(),
            event_type: event_type.as_ref(),
            timestamp,
            data: Some(&data),
            metadata: Vec::new(),
        })
    }

    /// An event from its parts; `data` must be one valid JSON value (a
    /// `RawValue`'s text, or serde's output).
    pub fn from_parts(parts: Parts<'_>) -> Self {
        compose::compose(parts)
    }

    /// Reads one event from a JSON object, with a message that says what is
    /// wrong. JSON already in flowctl's form (one line, the five fields in
    /// order) is kept byte for byte; anything else is rewritten into it.
    pub fn from_json(json: &[u8]) -> Result<Self, serde_json::Error> {
        Self::from_bytes(Bytes::copy_from_slice(json.trim_ascii()))
    }

    /// [`Event::from_json`] keeping `json` itself (shared, not copied) when it
    /// is already in flowctl's form.
    pub fn from_bytes(json: Bytes) -> Result<Self, serde_json::Error> {
        let json = trim(json);
        let env = scan(&json)?;
        let Some(Str(id)) = &env.id else {
            return Err(serde::de::Error::missing_field("id"));
        };
        if env.canonical && memchr::memchr2(b'\n', b'\r', &json).is_none() {
            let text = |s: &Option<Str<'_>>| match s.as_ref().map(|s| &s.0) {
                Some(Cow::Borrowed(b)) => Text::Span(Span::of(&json, b.as_bytes())),
                Some(Cow::Owned(o)) => Text::Owned(Arc::from(o.as_str())),
                None => Text::Owned(Arc::from("")),
            };
            let raw = |r: Option<&RawValue>| r.map(|r| Span::of(&json, r.get().as_bytes()));
            let (Some(data), Some(metadata)) = (raw(env.data), raw(env.metadata)) else {
                return Err(serde::de::Error::custom("canonical event without data or metadata"));
            };
            let (id, event_type) = (text(&env.id), text(&env.event_type));
            let timestamp = env.timestamp.unwrap_or(0);
            return Ok(Event { id, event_type, timestamp, data, metadata, json, ticket: None });
        }
        let metadata = match env.metadata {
            Some(raw) => metadata_pairs(raw.get())?,
            None => Vec::new(),
        };
        Ok(Self::from_parts(Parts {
            id,
            event_type: env.event_type.as_ref().map_or("", |s| &s.0),
            timestamp: env.timestamp.unwrap_or(0),
            data: env.data.map(|d| d.get().as_bytes()),
            metadata,
        }))
    }

    /// The event's JSON: what a guest, a JSONL file or stdout gets.
    pub fn as_json(&self) -> &[u8] {
        &self.json
    }

    /// The event's JSON, shared.
    pub fn json(&self) -> Bytes {
        self.json.clone()
    }

    /// A copy of the JSON (prefer [`Event::as_json`]).
    pub fn to_json(&self) -> Vec<u8> {
        self.json.to_vec()
    }

    /// The JSON indented over several lines, for people to read.
    pub fn to_pretty_json(&self) -> Vec<u8> {
        #[derive(Serialize)]
        struct Fields<'a> {
            id: &'a str,
            #[serde(rename = "type")]
            event_type: &'a str,
            timestamp: i64,
            data: serde_json::Value,
            metadata: BTreeMap<String, String>,
        }
        let fields = Fields {
            id: self.id(),
            event_type: self.event_type(),
            timestamp: self.timestamp,
            data: self.data(),
            metadata: self.metadata_map(),
        };
        serde_json::to_vec_pretty(&fields).unwrap_or_else(|_| self.to_json())
    }

    /// Unique id given by the source; processors that split an event derive new ids.
    pub fn id(&self) -> &str {
        self.text(&self.id)
    }

    /// Schema name, e.g. `stellar.transaction.v1` (empty when none was given).
    pub fn event_type(&self) -> &str {
        self.text(&self.event_type)
    }

    /// Unix milliseconds.
    pub fn timestamp(&self) -> i64 {
        self.timestamp
    }

    /// The payload's JSON text (`null` when there is none).
    pub fn data_json(&self) -> &[u8] {
        self.data.get(&self.json)
    }

    /// The payload, parsed (a whole tree: for code that transforms it).
    pub fn data(&self) -> serde_json::Value {
        serde_json::from_slice(self.data_json()).unwrap_or(serde_json::Value::Null)
    }

    /// The JSON of the value at `path` inside `data` (object keys only),
    /// parsing nothing else; `None` when the path is absent.
    pub fn data_at<S: AsRef<str>>(&self, path: &[S]) -> Option<&RawValue> {
        path::lookup(self.data_json(), path)
    }

    /// The metadata object's JSON.
    pub fn metadata_json(&self) -> &[u8] {
        self.metadata.get(&self.json)
    }

    /// Metadata pairs, in key order, borrowed where no escapes were written.
    pub fn metadata(&self) -> Pairs<'_> {
        // The span holds an object of strings flowctl wrote or checked.
        metadata_pairs(self.metadata_str()).unwrap_or_default()
    }

    /// One metadata value.
    pub fn metadata_get(&self, key: &str) -> Option<Cow<'_, str>> {
        // Most lookups miss: a key absent from unescaped bytes needs no parse.
        let meta = self.metadata_json();
        if memchr::memchr(b'\\', meta).is_none() && memchr::memmem::find(meta, key.as_bytes()).is_none() {
            return None;
        }
        self.metadata().into_iter().find(|(k, _)| k == key).map(|(_, v)| v)
    }

    /// Metadata as an owned map.
    pub fn metadata_map(&self) -> BTreeMap<String, String> {
        self.metadata().into_iter().map(|(k, v)| (k.into_owned(), v.into_owned())).collect()
    }

    /// This event with `key` set to `value` in its metadata (new bytes).
    pub fn with_metadata(&self, key: &str, value: &str) -> Event {
        compose::splice_metadata(self, key, value).unwrap_or_else(|| self.with_metadata_entries([(key, value)]))
    }

    /// This event with each `(key, value)` set in its metadata (new bytes).
    pub fn with_metadata_entries<'a>(&self, entries: impl IntoIterator<Item = (&'a str, &'a str)>) -> Event {
        let mut metadata = self.metadata();
        metadata.extend(entries.into_iter().map(|(k, v)| (Cow::Borrowed(k), Cow::Borrowed(v))));
        self.rebuild(metadata)
    }

    /// The same id, type, timestamp and data with other metadata.
    fn rebuild(&self, metadata: Pairs<'_>) -> Event {
        Self::from_parts(Parts {
            id: self.id(),
            event_type: self.event_type(),
            timestamp: self.timestamp,
            data: Some(self.data_json()),
            metadata,
        })
        .with_ticket(self.ticket.clone())
    }

    /// The source input this event derives from, when its progress is tracked.
    pub fn ticket(&self) -> Option<&Ticket> {
        self.ticket.as_ref()
    }

    /// This event, accounted to `ticket`'s source input.
    pub fn with_ticket(mut self, ticket: Option<Ticket>) -> Event {
        self.ticket = ticket;
        self
    }

    pub fn set_ticket(&mut self, ticket: Option<Ticket>) {
        self.ticket = ticket;
    }

    /// Current time in unix milliseconds, the unit of `timestamp`.
    pub fn now_millis() -> i64 {
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0)
    }

    fn text<'a>(&'a self, text: &'a Text) -> &'a str {
        match text {
            // SAFETY: a span only ever covers the text of a `&str` that
            // `compose` wrote or that serde handed out borrowed from JSON it
            // checked as UTF-8, in these same immutable bytes.
            Text::Span(span) => unsafe { std::str::from_utf8_unchecked(span.get(&self.json)) },
            Text::Owned(s) => s,
        }
    }

    fn metadata_str(&self) -> &str {
        std::str::from_utf8(self.metadata_json()).unwrap_or("{}")
    }
}

fn trim(json: Bytes) -> Bytes {
    let start = json.iter().position(|b| !b.is_ascii_whitespace()).unwrap_or(json.len());
    let end = json.iter().rposition(|b| !b.is_ascii_whitespace()).map_or(start, |i| i + 1);
    json.slice(start..end)
}

/// Field by field: two events are equal when they say the same, whatever
/// the spacing or order of their JSON.
impl PartialEq for Event {
    fn eq(&self, other: &Self) -> bool {
        self.json == other.json
            || (self.id() == other.id()
                && self.event_type() == other.event_type()
                && self.timestamp == other.timestamp
                && self.data() == other.data()
                && self.metadata_map() == other.metadata_map())
    }
}

impl fmt::Debug for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Event({})", String::from_utf8_lossy(&self.json))
    }
}

/// Serializes as the event's JSON, as it is.
impl Serialize for Event {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let raw: &RawValue = serde_json::from_slice(&self.json).map_err(serde::ser::Error::custom)?;
        raw.serialize(s)
    }
}

impl<'de> Deserialize<'de> for Event {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        // Any serde format, not just JSON text: through a value (never on the hot path).
        let value = serde_json::Value::deserialize(d)?;
        let json = serde_json::to_vec(&value).map_err(serde::de::Error::custom)?;
        Event::from_bytes(json.into()).map_err(serde::de::Error::custom)
    }
}
