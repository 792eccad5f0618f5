//! Events across the guest boundary: serializing input, parsing output once,
//! straight into typed values, and completing output events from their input.

use std::collections::BTreeMap;
use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;

use super::error::ProcessError;
use crate::event::{Event, MODULE_VERSION_KEY};

/// Appends a JSON array of `events` to `buf`.
pub fn write_batch(buf: &mut Vec<u8>, events: &[Event]) {
    buf.push(b'[');
    for (i, event) in events.iter().enumerate() {
        if i > 0 {
            buf.push(b',');
        }
        write_event(buf, event);
    }
    buf.push(b']');
}

/// Appends one event's JSON to `buf`.
pub fn write_event(buf: &mut Vec<u8>, event: &Event) {
    // Writing a tree of strings and JSON values into a Vec cannot fail.
    let _ = serde_json::to_writer(&mut *buf, event);
}

/// An event as a guest returns it: every field optional, filled in from the input.
#[derive(Debug, Deserialize)]
pub struct OutEvent {
    id: Option<String>,
    #[serde(rename = "type")]
    event_type: Option<String>,
    timestamp: Option<i64>,
    #[serde(default)]
    data: serde_json::Value,
    metadata: Option<BTreeMap<String, String>>,
    /// `{"error": "..."}` marks a failed entry instead of an event.
    error: Option<String>,
}

/// One entry of a guest's output: events, or why the event failed (the
/// guest's own reason, or a limit its output breached).
pub type Entry = Result<Vec<OutEvent>, ProcessError>;

/// Reads one entry (an array of events, one event, or `{"error": ...}`),
/// building at most `max_outputs` events: the rest of a longer array is
/// skipped without being built, so a guest cannot make the host allocate
/// per output more than the limit allows.
#[derive(Clone, Copy)]
struct EntrySeed {
    max_outputs: usize,
}

impl<'de> DeserializeSeed<'de> for EntrySeed {
    type Value = Entry;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Entry, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for EntrySeed {
    type Value = Entry;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an event object, an array of events, or {\"error\": ...}")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Entry, A::Error> {
        let mut events = Vec::new();
        loop {
            if events.len() == self.max_outputs {
                if seq.next_element::<IgnoredAny>()?.is_none() {
                    return Ok(Ok(events));
                }
                while seq.next_element::<IgnoredAny>()?.is_some() {}
                return Ok(Err(ProcessError::TooManyOutputs { limit: self.max_outputs }));
            }
            match seq.next_element::<OutEvent>()? {
                Some(event) => events.push(event),
                None => return Ok(Ok(events)),
            }
        }
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Entry, A::Error> {
        let mut event = OutEvent::deserialize(de::value::MapAccessDeserializer::new(map))?;
        Ok(match event.error.take() {
            Some(reason) if event.id.is_none() => Err(ProcessError::Guest(reason)),
            _ => Ok(vec![event]),
        })
    }
}

/// Reads `process_batch` output: exactly `inputs` entries; extra entries are
/// counted, not built.
struct BatchSeed {
    inputs: usize,
    entry: EntrySeed,
}

impl<'de> DeserializeSeed<'de> for BatchSeed {
    type Value = Result<Vec<Entry>, usize>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for BatchSeed {
    type Value = Result<Vec<Entry>, usize>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an array with one entry per input event")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut entries = Vec::with_capacity(self.inputs);
        while entries.len() < self.inputs {
            match seq.next_element_seed(self.entry)? {
                Some(entry) => entries.push(entry),
                None => return Ok(Err(entries.len())),
            }
        }
        let mut extra = 0;
        while seq.next_element::<IgnoredAny>()?.is_some() {
            extra += 1;
        }
        Ok(if extra == 0 { Ok(entries) } else { Err(self.inputs + extra) })
    }
}

/// Parses `process_event` output.
pub fn parse_event_output(bytes: &[u8], max_outputs: usize) -> Result<Entry, ProcessError> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let entry = EntrySeed { max_outputs }.deserialize(&mut de).and_then(|entry| de.end().map(|()| entry));
    entry.map_err(|e| ProcessError::MalformedOutput(e.to_string()))
}

/// Parses `process_batch` output: exactly one entry per input event.
pub fn parse_batch_output(bytes: &[u8], inputs: usize, max_outputs: usize) -> Result<Vec<Entry>, ProcessError> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let seed = BatchSeed { inputs, entry: EntrySeed { max_outputs } };
    let parsed = seed.deserialize(&mut de).and_then(|entries| de.end().map(|()| entries));
    match parsed.map_err(|e| ProcessError::MalformedOutput(e.to_string()))? {
        Ok(entries) => Ok(entries),
        Err(found) => {
            Err(ProcessError::MalformedOutput(format!("process_batch returned {found} entries for {inputs} events")))
        }
    }
}

/// Completes an output event: missing id/type/timestamp come from the input,
/// metadata is merged over the input's, and the module version is recorded.
pub fn finish(out: OutEvent, input: &Event, version: &str) -> Event {
    // Start from the guest's own map (often the input's, echoed) and add only
    // the input keys it lacks, so unchanged metadata is not copied twice.
    let mut metadata = match out.metadata {
        Some(mut own) => {
            for (key, value) in &input.metadata {
                if !own.contains_key(key) {
                    own.insert(key.clone(), value.clone());
                }
            }
            own
        }
        None => input.metadata.clone(),
    };
    metadata.insert(MODULE_VERSION_KEY.to_owned(), version.to_owned());
    Event {
        id: out.id.unwrap_or_else(|| input.id.clone()),
        event_type: out.event_type.unwrap_or_else(|| input.event_type.clone()),
        timestamp: out.timestamp.unwrap_or(input.timestamp),
        data: out.data,
        metadata,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const MAX: usize = 1000;

    fn input() -> Event {
        let mut e = Event::new("in-1", "t.v1", 7, json!({"a": 1}));
        e.metadata.insert("source".into(), "gen".into());
        e
    }

    #[test]
    fn single_object_and_array_outputs_parse() {
        let one = parse_event_output(br#"{"data": 5}"#, MAX).unwrap().unwrap();
        assert_eq!(one.len(), 1);
        let many = parse_event_output(br#"[{"id":"a"},{"id":"b"}]"#, MAX).unwrap().unwrap();
        assert_eq!(many.len(), 2);
        assert!(parse_event_output(b"[]", MAX).unwrap().unwrap().is_empty());
    }

    #[test]
    fn error_entries_and_shape_mismatches() {
        let entries = parse_batch_output(br#"[[{"id":"x"}], {"error":"bad amount"}, {"id":"y"}]"#, 3, MAX).unwrap();
        assert_eq!(entries[1].as_ref().unwrap_err(), &ProcessError::Guest("bad amount".into()));
        assert_eq!(entries[2].as_ref().unwrap().len(), 1);
        let err = parse_batch_output(b"[[]]", 2, MAX).unwrap_err();
        assert_eq!(err, ProcessError::MalformedOutput("process_batch returned 1 entries for 2 events".into()));
    }

    #[test]
    fn outputs_past_the_limit_fail_the_event_without_being_built() {
        let many = format!("[{}]", ["{}"; 5].join(","));
        assert_eq!(parse_event_output(many.as_bytes(), 5).unwrap().unwrap().len(), 5);
        assert_eq!(
            parse_event_output(many.as_bytes(), 4).unwrap().unwrap_err(),
            ProcessError::TooManyOutputs { limit: 4 }
        );
        let batch = format!("[{many}, [{{}}], {many}]");
        let entries = parse_batch_output(batch.as_bytes(), 3, 2).unwrap();
        assert_eq!(entries[0].as_ref().unwrap_err().kind(), "too_many_outputs");
        assert_eq!(entries[1].as_ref().unwrap().len(), 1, "the other events of the batch pass");
        assert_eq!(entries[2].as_ref().unwrap_err().kind(), "too_many_outputs");
        let err = parse_batch_output(b"[[],[],[],[]]", 2, MAX).unwrap_err();
        assert_eq!(err, ProcessError::MalformedOutput("process_batch returned 4 entries for 2 events".into()));
        let err = parse_event_output(b"[{}] trailing", MAX).unwrap_err();
        assert_eq!(err.kind(), "malformed_output");
    }

    #[test]
    fn garbage_is_malformed_output() {
        for bad in [&b"not json"[..], b"42", b"\"text\"", b"[1,2]", b"{\"id\": 3}", b"\xff\xfe"] {
            let err = parse_event_output(bad, MAX).unwrap_err();
            assert_eq!(err.kind(), "malformed_output", "{bad:?}");
        }
    }

    #[test]
    fn finish_inherits_and_merges() {
        let out = parse_event_output(br#"{"data": {"b": 2}, "metadata": {"k": "v", "source": "guest"}}"#, MAX)
            .unwrap()
            .unwrap();
        let event = finish(out.into_iter().next().unwrap(), &input(), "v7");
        assert_eq!(event.id, "in-1");
        assert_eq!(event.event_type, "t.v1");
        assert_eq!(event.timestamp, 7);
        assert_eq!(event.data, json!({"b": 2}));
        assert_eq!(event.metadata["source"], "guest");
        assert_eq!(event.metadata["k"], "v");
        assert_eq!(event.metadata[MODULE_VERSION_KEY], "v7");
    }

    #[test]
    fn batch_input_is_a_json_array() {
        let mut buf = Vec::new();
        write_batch(&mut buf, &[input(), input()]);
        let back: Vec<Event> = serde_json::from_slice(&buf).unwrap();
        assert_eq!(back.len(), 2);
        assert_eq!(back[0], input());
    }
}
