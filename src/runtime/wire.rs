//! Events across the guest boundary. Input: the events' own JSON, copied
//! once, into the guest's buffer. Output: each entry read in one borrowed
//! pass, each output event completed from its input and written once. An
//! entry that is its input event byte for byte (a passthrough, a filter
//! keeping the event) is recognised by comparing bytes and costs a copy, not
//! a parse.

use std::borrow::Cow;
use std::cell::Cell;
use std::fmt;

use serde::de::{DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;

use super::error::ProcessError;
use crate::event::{metadata_pairs, Envelope, Event, Parts, Str, MODULE_VERSION_KEY};

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
    parse_entry(trimmed, input, finish)
}

/// Parses `process_batch` output: exactly one entry per input event.
pub fn parse_batch_output(bytes: &[u8], inputs: &[Event], finish: Finish<'_>) -> Result<Vec<Entry>, ProcessError> {
    MAX_OUTPUTS.with(|max| max.set(finish.max_outputs));
    let mut cursor = Cursor { bytes, pos: 0 };
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

/// A position in a guest's batch output.
struct Cursor<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
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
        Ok(outs.map(|outs| outs.into_iter().map(|out| complete(out, input, finish.version)).collect()))
    }

    /// Reads the next value as a `T` and moves past it: one pass finds where
    /// the value ends and parses it.
    fn next<T: Deserialize<'a>>(&mut self) -> Result<T, ProcessError> {
        let rest = &self.bytes[self.pos..];
        let mut values = serde_json::Deserializer::from_slice(rest).into_iter::<T>();
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
fn parse_entry(entry: &[u8], input: &Event, finish: Finish<'_>) -> Result<Entry, ProcessError> {
    let mut de = serde_json::Deserializer::from_slice(entry);
    let outs = EntrySeed { max_outputs: finish.max_outputs }.deserialize(&mut de).map_err(malformed)?;
    de.end().map_err(malformed)?;
    Ok(outs.map(|outs| outs.into_iter().map(|out| complete(out, input, finish.version)).collect()))
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

/// Completes an output event: missing id/type/timestamp come from the input,
/// metadata is merged over the input's, and the module version is recorded.
pub fn complete(out: Envelope<'_>, input: &Event, version: &str) -> Event {
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
mod tests {
    use super::*;
    use serde_json::json;

    const FINISH: Finish<'static> = Finish { version: "v7", max_outputs: 1000 };

    fn written(input: Input<'_>) -> Vec<u8> {
        let mut buf = vec![0; input.size()];
        input.write_to(&mut buf);
        buf
    }

    fn input() -> Event {
        Event::new("in-1", "t.v1", 7, json!({"a": 1})).with_metadata("source", "gen")
    }

    fn event_output(bytes: &[u8], max_outputs: usize) -> Result<Entry, ProcessError> {
        parse_event_output(bytes, &input(), Finish { max_outputs, ..FINISH })
    }

    fn batch_output(bytes: &[u8], inputs: usize, max_outputs: usize) -> Result<Vec<Entry>, ProcessError> {
        parse_batch_output(bytes, &vec![input(); inputs], Finish { max_outputs, ..FINISH })
    }

    #[test]
    fn single_object_and_array_outputs_parse() {
        let one = event_output(br#"{"data": 5}"#, 1000).unwrap().unwrap();
        assert_eq!(one.len(), 1);
        let many = event_output(br#"[{"id":"a"},{"id":"b"}]"#, 1000).unwrap().unwrap();
        assert_eq!(many.len(), 2);
        assert!(event_output(b"[]", 1000).unwrap().unwrap().is_empty());
    }

    #[test]
    fn error_entries_and_shape_mismatches() {
        let entries = batch_output(br#"[[{"id":"x"}], {"error":"bad amount"}, {"id":"y"}]"#, 3, 1000).unwrap();
        assert_eq!(entries[1].as_ref().unwrap_err(), &ProcessError::Guest("bad amount".into()));
        assert_eq!(entries[2].as_ref().unwrap().len(), 1);
        let err = batch_output(b"[[]]", 2, 1000).unwrap_err();
        assert_eq!(err, ProcessError::MalformedOutput("process_batch returned 1 entries for 2 events".into()));
    }

    #[test]
    fn outputs_past_the_limit_fail_the_event_without_being_built() {
        let many = format!("[{}]", ["{}"; 5].join(","));
        assert_eq!(event_output(many.as_bytes(), 5).unwrap().unwrap().len(), 5);
        assert_eq!(event_output(many.as_bytes(), 4).unwrap().unwrap_err(), ProcessError::TooManyOutputs { limit: 4 });
        let batch = format!("[{many}, [{{}}], {many}]");
        let entries = batch_output(batch.as_bytes(), 3, 2).unwrap();
        assert_eq!(entries[0].as_ref().unwrap_err().kind(), "too_many_outputs");
        assert_eq!(entries[1].as_ref().unwrap().len(), 1, "the other events of the batch pass");
        assert_eq!(entries[2].as_ref().unwrap_err().kind(), "too_many_outputs");
        let err = batch_output(b"[[],[],[],[]]", 2, 1000).unwrap_err();
        assert_eq!(err, ProcessError::MalformedOutput("process_batch returned 4 entries for 2 events".into()));
        assert_eq!(event_output(b"[{}] trailing", 1000).unwrap_err().kind(), "malformed_output");
        assert_eq!(batch_output(b"[[]] x", 1, 1000).unwrap_err().kind(), "malformed_output");
    }

    #[test]
    fn garbage_is_malformed_output() {
        for bad in [&b"not json"[..], b"42", b"\"text\"", b"[1,2]", b"{\"id\": 3}", b"\xff\xfe", b""] {
            let err = event_output(bad, 1000).unwrap_err();
            assert_eq!(err.kind(), "malformed_output", "{bad:?}");
        }
        for bad in [&b"[{}"[..], b"[{},]", b"[,{}]", b"[{} {}]", b"{}", b"[[1]]"] {
            let err = batch_output(bad, 1, 1000).unwrap_err();
            assert_eq!(err.kind(), "malformed_output", "{}", String::from_utf8_lossy(bad));
        }
    }

    #[test]
    fn complete_inherits_and_merges() {
        let out = br#"{"data": {"b": 2}, "metadata": {"k": "v", "source": "guest"}}"#;
        let event = event_output(out, 1000).unwrap().unwrap().remove(0);
        assert_eq!(event.id(), "in-1");
        assert_eq!(event.event_type(), "t.v1");
        assert_eq!(event.timestamp(), 7);
        assert_eq!(event.data(), json!({"b": 2}));
        assert_eq!(event.metadata_get("source").as_deref(), Some("guest"));
        assert_eq!(event.metadata_get("k").as_deref(), Some("v"));
        assert_eq!(event.metadata_get(MODULE_VERSION_KEY).as_deref(), Some("v7"));
    }

    #[test]
    fn an_unchanged_event_is_recognised_and_tagged() {
        let tagged = input().with_metadata(MODULE_VERSION_KEY, "v1");
        let batch = written(Input::Batch(&[tagged.clone(), tagged.clone()]));
        let entries = parse_batch_output(&batch, &[tagged.clone(), tagged.clone()], FINISH).unwrap();
        for entry in entries {
            let out = entry.unwrap().remove(0);
            assert_eq!(out, tagged.with_metadata(MODULE_VERSION_KEY, "v7"));
        }
        let out = parse_event_output(b" [] ", &tagged, FINISH).unwrap().unwrap();
        assert!(out.is_empty());
    }

    #[test]
    fn batch_input_is_a_json_array() {
        let buf = written(Input::Batch(&[input(), input()]));
        let back: Vec<Event> = serde_json::from_slice(&buf).unwrap();
        assert_eq!(back.len(), 2);
        assert_eq!(back[0], input());
        assert_eq!(written(Input::Batch(&[])), b"[]");
        assert_eq!(written(Input::Batch(&[input()])), [b"[", input().as_json(), b"]"].concat());
        assert_eq!(written(Input::Event(&input())), input().as_json());
    }
}
