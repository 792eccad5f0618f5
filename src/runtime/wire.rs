//! Events across the guest boundary. Input: the events' own JSON, copied
//! once, into the guest's buffer. Output: each entry read in one borrowed
//! pass, each output event completed from its input and written once. An
//! entry that is its input event byte for byte (a passthrough, a filter
//! keeping the event) is recognised by comparing bytes and costs a copy, not
//! a parse. The first entry that does need a parse has the rest of the
//! output checked as UTF-8 in one pass, so serde reads text and checks no
//! string or raw value again.

use std::borrow::Cow;
use std::cell::Cell;
use std::fmt;

use serde::de::{DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;

use super::error::ProcessError;
use crate::event::{metadata_pairs, utf8_text, Envelope, Event, InvalidUtf8, Parts, Str, MODULE_VERSION_KEY};

/// What a guest call reads: one event's JSON, a JSON array of events, or
/// other bytes (`init`'s configuration). Written straight into the buffer
/// the guest allocated for it, with no staging copy on the host.
#[derive(Clone, Copy)]
pub enum Input<'a> {
    Event(&'a Event),
    Batch(&'a [Event]),
    Bytes(&'a [u8]),
}

impl Input<'_> {
    /// Its length in bytes.
    pub fn size(&self) -> usize {
        match self {
            Input::Event(event) => event.as_json().len(),
            Input::Batch(events) => {
                2 + events.len().saturating_sub(1) + events.iter().map(|e| e.as_json().len()).sum::<usize>()
            }
            Input::Bytes(bytes) => bytes.len(),
        }
    }

    /// Writes it into `dst`, which is exactly [`Input::size`] bytes long.
    pub fn write_to(&self, dst: &mut [u8]) {
        let mut at = 0;
        let mut put = |bytes: &[u8]| {
            dst[at..at + bytes.len()].copy_from_slice(bytes);
            at += bytes.len();
        };
        match self {
            Input::Event(event) => put(event.as_json()),
            Input::Bytes(bytes) => put(bytes),
            Input::Batch(events) => {
                put(b"[");
                for (i, event) in events.iter().enumerate() {
                    if i > 0 {
                        put(b",");
                    }
                    put(event.as_json());
                }
                put(b"]");
            }
        }
    }
}

/// One entry of a guest's output: its finished events, or why the event
/// failed (the guest's own reason, or a limit its output breached).
pub type Entry = Result<Vec<Event>, ProcessError>;

/// What finishing an output event needs besides its input.
#[derive(Clone, Copy)]
pub struct Finish<'a> {
    /// Recorded under `flowctl.module_version` on every output.
    pub version: &'a str,
    /// Outputs per input event; more fail the event without being built.
    pub max_outputs: usize,
}

/// Parses `process_event` output for `input`.
pub fn parse_event_output(bytes: &[u8], input: &Event, finish: Finish<'_>) -> Result<Entry, ProcessError> {
    let trimmed = bytes.trim_ascii();
    if trimmed == input.as_json() {
        return Ok(Ok(vec![unchanged(input, finish.version)]));
    }
    parse_entry(utf8(trimmed, 0)?, input, finish)
}

/// Parses `process_batch` output: exactly one entry per input event.
pub fn parse_batch_output(bytes: &[u8], inputs: &[Event], finish: Finish<'_>) -> Result<Vec<Entry>, ProcessError> {
    MAX_OUTPUTS.with(|max| max.set(finish.max_outputs));
    let mut cursor = Cursor { bytes, pos: 0, checked: None };
    cursor.expect(b'[', "an array with one entry per input event")?;
    let mut entries = Vec::with_capacity(inputs.len());
    let mut found = 0;
    if !cursor.eat(b']') {
        loop {
            match inputs.get(found) {
                Some(input) => entries.push(cursor.entry(input, finish)?),
                None => drop(cursor.next::<IgnoredAny>()?),
            }
            found += 1;
            if cursor.eat(b']') {
                break;
            }
            cursor.expect(b',', "`,` or `]`")?;
        }
    }
    cursor.end()?;
    if found != inputs.len() {
        let message = format!("process_batch returned {found} entries for {} events", inputs.len());
        return Err(ProcessError::MalformedOutput(message));
    }
    Ok(entries)
}

/// Guest output (`bytes`, found at byte `at` of the whole) as text: one pass
/// of the UTF-8 check over all of it costs less than serde's check of each
/// string and raw value on its own.
fn utf8(bytes: &[u8], at: usize) -> Result<&str, ProcessError> {
    utf8_text(bytes).map_err(|e| ProcessError::MalformedOutput(InvalidUtf8 { at: at + e.at }.to_string()))
}

/// A position in a guest's batch output.
struct Cursor<'a> {
    bytes: &'a [u8],
    pos: usize,
    /// The output from this byte on, checked as UTF-8: the cursor only ever
    /// stops on an ASCII byte or at the end, so always between characters.
    checked: Option<(usize, &'a str)>,
}

impl<'a> Cursor<'a> {
    /// The output from the cursor on, as text.
    fn rest_text(&mut self) -> Result<&'a str, ProcessError> {
        let (from, text) = match self.checked {
            Some(checked) => checked,
            None => {
                let rest = self.bytes.get(self.pos..).unwrap_or_default();
                *self.checked.insert((self.pos, utf8(rest, self.pos)?))
            }
        };
        Ok(text.get(self.pos - from..).unwrap_or_default())
    }

    fn skip_whitespace(&mut self) {
        while self.bytes.get(self.pos).is_some_and(u8::is_ascii_whitespace) {
            self.pos += 1;
        }
    }

    /// Consumes `byte` (after whitespace) if it is next.
    fn eat(&mut self, byte: u8) -> bool {
        self.skip_whitespace();
        let found = self.bytes.get(self.pos) == Some(&byte);
        self.pos += usize::from(found);
        found
    }

    fn expect(&mut self, byte: u8, what: &str) -> Result<(), ProcessError> {
        match self.eat(byte) {
            true => Ok(()),
            false => Err(ProcessError::MalformedOutput(format!("expected {what} at byte {}", self.pos))),
        }
    }

    fn end(&mut self) -> Result<(), ProcessError> {
        self.skip_whitespace();
        match self.pos == self.bytes.len() {
            true => Ok(()),
            false => Err(ProcessError::MalformedOutput(format!("trailing characters at byte {}", self.pos))),
        }
    }

    /// The next entry, for `input`: the input itself and `[]` are
    /// recognised without a parse, anything else is read in one pass.
    fn entry(&mut self, input: &Event, finish: Finish<'_>) -> Result<Entry, ProcessError> {
        self.skip_whitespace();
        let rest = &self.bytes[self.pos..];
        let json = input.as_json();
        if rest.starts_with(json) && ends_value(&rest[json.len()..]) {
            self.pos += json.len();
            return Ok(Ok(vec![unchanged(input, finish.version)]));
        }
        if rest.starts_with(b"[]") {
            self.pos += 2;
            return Ok(Ok(Vec::new()));
        }
        let LimitedEntry(outs) = self.next()?;
        Ok(outs.map(|outs| complete(outs, input, finish.version)))
    }

    /// Reads the next value as a `T` and moves past it: one pass finds where
    /// the value ends and parses it.
    fn next<T: Deserialize<'a>>(&mut self) -> Result<T, ProcessError> {
        let rest = self.rest_text()?;
        let mut values = serde_json::Deserializer::from_str(rest).into_iter::<T>();
        match values.next() {
            Some(Ok(value)) => {
                self.pos += values.byte_offset();
                Ok(value)
            }
            Some(Err(e)) => Err(malformed(e)),
            None => Err(ProcessError::MalformedOutput(format!("expected an entry at byte {}", self.pos))),
        }
    }
}

thread_local! {
    /// [`Finish::max_outputs`] of the batch being parsed on this thread:
    /// serde's stream reader takes a type, not a seed, so [`LimitedEntry`]
    /// finds its limit here.
    static MAX_OUTPUTS: Cell<usize> = const { Cell::new(usize::MAX) };
}

/// One batch entry read with the limit of [`MAX_OUTPUTS`].
struct LimitedEntry<'de>(Outs<'de>);

impl<'de> Deserialize<'de> for LimitedEntry<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let max_outputs = MAX_OUTPUTS.with(Cell::get);
        EntrySeed { max_outputs }.deserialize(d).map(LimitedEntry)
    }
}

/// Whether a value that ends here is followed by what may follow an entry.
fn ends_value(rest: &[u8]) -> bool {
    matches!(rest.iter().find(|b| !b.is_ascii_whitespace()), Some(b',' | b']'))
}

fn malformed(e: serde_json::Error) -> ProcessError {
    ProcessError::MalformedOutput(e.to_string())
}

/// Parses one entry that is not its input unchanged: exactly one JSON value.
fn parse_entry(entry: &str, input: &Event, finish: Finish<'_>) -> Result<Entry, ProcessError> {
    let mut de = serde_json::Deserializer::from_str(entry);
    let outs = EntrySeed { max_outputs: finish.max_outputs }.deserialize(&mut de).map_err(malformed)?;
    de.end().map_err(malformed)?;
    Ok(outs.map(|outs| complete(outs, input, finish.version)))
}

/// Reads one entry (an array of events, one event, or `{"error": ...}`),
/// keeping at most `max_outputs` events: the rest of a longer array is
/// skipped without being kept, so a guest cannot make the host allocate per
/// output more than the limit allows.
#[derive(Clone, Copy)]
struct EntrySeed {
    max_outputs: usize,
}

type Outs<'de> = Result<Vec<Envelope<'de>>, ProcessError>;

impl<'de> DeserializeSeed<'de> for EntrySeed {
    type Value = Outs<'de>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for EntrySeed {
    type Value = Outs<'de>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an event object, an array of events, or {\"error\": ...}")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut events = Vec::new();
        loop {
            if events.len() == self.max_outputs {
                if seq.next_element::<IgnoredAny>()?.is_none() {
                    return Ok(Ok(events));
                }
                while seq.next_element::<IgnoredAny>()?.is_some() {}
                return Ok(Err(ProcessError::TooManyOutputs { limit: self.max_outputs }));
            }
            match seq.next_element::<Envelope<'de>>()? {
                Some(event) => events.push(event),
                None => return Ok(Ok(events)),
            }
        }
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
        let event = Envelope::deserialize(serde::de::value::MapAccessDeserializer::new(map))?;
        Ok(match (&event.error, &event.id) {
            (Some(Str(reason)), None) => Err(ProcessError::Guest(reason.clone().into_owned())),
            _ => Ok(vec![event]),
        })
    }
}

/// `input` as its own output: the same event, tagged with the version.
fn unchanged(input: &Event, version: &str) -> Event {
    input.with_metadata(MODULE_VERSION_KEY, version)
}

/// Completes the output events of `input`: missing id/type/timestamp come
/// from the input, metadata is merged over the input's, and the module
/// version is recorded.
fn complete(outs: Vec<Envelope<'_>>, input: &Event, version: &str) -> Vec<Event> {
    outs.into_iter().map(|out| complete_one(out, input, version)).collect()
}

fn complete_one(out: Envelope<'_>, input: &Event, version: &str) -> Event {
    let mut metadata = input.metadata();
    if let Some(own) = out.metadata {
        // Checked by the scan: an object of strings. Later keys win.
        metadata.extend(metadata_pairs(own.get()).unwrap_or_default());
    }
    metadata.push((Cow::Borrowed(MODULE_VERSION_KEY), Cow::Borrowed(version)));
    Event::from_parts(Parts {
        id: out.id.as_ref().map_or(input.id(), |s| &s.0),
        event_type: out.event_type.as_ref().map_or(input.event_type(), |s| &s.0),
        timestamp: out.timestamp.unwrap_or(input.timestamp()),
        data: Some(out.data.map_or(&b"null"[..], |d| d.get().as_bytes())),
        metadata,
    })
}

#[cfg(test)]
#[path = "wire_tests.rs"]
mod tests;
