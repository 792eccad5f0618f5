//! Writing an event's canonical JSON from its parts, recording where each
//! header field lands so that reading it later needs no parse.

use std::cmp::Ordering;
use std::sync::Arc;

use bytes::Bytes;

use super::{Event, Pairs, Span, Text};

/// What an event is made of. `data` is trusted to be one valid JSON value
/// (it comes from a scan or from serde); `metadata` may be in any order and
/// a later duplicate key wins.
pub struct Parts<'a> {
    pub id: &'a str,
    pub event_type: &'a str,
    pub timestamp: i64,
    pub data: Option<&'a [u8]>,
    pub metadata: Pairs<'a>,
}

/// `{"id":..,"type":..,"timestamp":..,"data":..,"metadata":{..}}`, keys of
/// metadata sorted: the form `serde_json` gives a `BTreeMap`, so a guest
/// that parses an event and writes it back unchanged returns the same bytes.
pub fn compose(parts: Parts<'_>) -> Event {
    let Parts { id, event_type, timestamp, data, mut metadata } = parts;
    let data = data.unwrap_or(b"null");
    let mut buf = Vec::with_capacity(64 + id.len() + event_type.len() + data.len() + 48 * metadata.len());
    buf.extend_from_slice(b"{\"id\":");
    let id = write_text(&mut buf, id);
    buf.extend_from_slice(b",\"type\":");
    let event_type = write_text(&mut buf, event_type);
    buf.extend_from_slice(b",\"timestamp\":");
    buf.extend_from_slice(itoa::Buffer::new().format(timestamp).as_bytes());
    buf.extend_from_slice(b",\"data\":");
    let data_start = buf.len();
    if memchr::memchr2(b'\n', b'\r', data).is_some() {
        // A JSON line must stay one line: line breaks can only be whitespace.
        minify_into(&mut buf, data);
    } else {
        buf.extend_from_slice(data);
    }
    let data = Span::new(data_start, buf.len());
    buf.extend_from_slice(b",\"metadata\":");
    let metadata_start = buf.len();
    metadata.sort_by(|a, b| a.0.cmp(&b.0));
    buf.push(b'{');
    let mut first = true;
    for (i, (key, value)) in metadata.iter().enumerate() {
        if metadata.get(i + 1).is_some_and(|next| next.0 == *key) {
            continue;
        }
        if !first {
            buf.push(b',');
        }
        first = false;
        write_text(&mut buf, key);
        buf.push(b':');
        write_text(&mut buf, value);
    }
    buf.push(b'}');
    let metadata = Span::new(metadata_start, buf.len());
    buf.push(b'}');
    Event { json: Bytes::from(buf), id, event_type, timestamp, data, metadata, ticket: None }
}

/// `event` with `key` set to `value`, by editing its metadata object in place
/// (the last field, so no other span moves): the version tag every output
/// gets costs a copy, not a rewrite. `None` when the object is not in the
/// form `compose` writes (compact, keys sorted and unique, no escapes) or
/// the pair would need escapes; the caller then rewrites the event, which
/// puts it in that form.
pub fn splice_metadata(event: &Event, key: &str, value: &str) -> Option<Event> {
    if needs_escape(key) || needs_escape(value) {
        return None;
    }
    let meta = event.metadata;
    let base = meta.start as usize;
    let (key, value) = (key.as_bytes(), value.as_bytes());
    // What goes in at the cut, in pieces: no intermediate buffer per event.
    let (cut, pieces): (_, [&[u8]; 6]) = match metadata_slot(meta.get(&event.json), key)? {
        Slot::Value(value_at) => (value_at, [value, b"", b"", b"", b"", b""]),
        Slot::Before(at) => (at..at, [b"\"", key, b"\":\"", value, b"\",", b""]),
        Slot::After(at, first) => (at..at, [if first { b"" } else { b"," }, b"\"", key, b"\":\"", value, b"\""]),
    };
    let (from, to) = (base + cut.start, base + cut.end);
    let added: usize = pieces.iter().map(|p| p.len()).sum();
    let mut json = Vec::with_capacity(event.json.len() - (to - from) + added);
    json.extend_from_slice(&event.json[..from]);
    pieces.iter().for_each(|piece| json.extend_from_slice(piece));
    json.extend_from_slice(&event.json[to..]);
    let metadata = Span::new(base, json.len() - (event.json.len() - meta.end as usize));
    let (id, event_type) = (event.id.clone(), event.event_type.clone());
    let ticket = event.ticket.clone();
    Some(Event {
        json: Bytes::from(json),
        id,
        event_type,
        timestamp: event.timestamp,
        data: event.data,
        metadata,
        ticket,
    })
}

/// Where a key is, or goes, in a metadata object.
enum Slot {
    /// The key is there; its value's text (between the quotes) is here.
    Value(std::ops::Range<usize>),
    /// The key goes before the pair starting here.
    Before(usize),
    /// The key goes at the closing brace here; `true` when the object is empty.
    After(usize, bool),
}

/// Where `key` is or goes in `object`, when `object` is written compactly
/// with sorted, unique keys and no escapes (then every quote delimits a
/// string); `None` for any other form.
fn metadata_slot(object: &[u8], key: &[u8]) -> Option<Slot> {
    if memchr::memchr(b'\\', object).is_some() || object.first() != Some(&b'{') {
        return None;
    }
    let mut slot = None;
    let mut previous: Option<&[u8]> = None;
    let mut at = 1;
    while object.get(at) == Some(&b'"') {
        let key_end = at + 1 + memchr::memchr(b'"', object.get(at + 1..)?)?;
        let this = &object[at + 1..key_end];
        if previous.is_some_and(|p| p >= this) || object.get(key_end + 1..key_end + 3)? != b":\"" {
            return None;
        }
        let value_start = key_end + 3;
        let value_end = value_start + memchr::memchr(b'"', object.get(value_start..)?)?;
        match (this.cmp(key), &slot) {
            (Ordering::Equal, _) => slot = Some(Slot::Value(value_start..value_end)),
            (Ordering::Greater, None) => slot = Some(Slot::Before(at)),
            _ => {}
        }
        previous = Some(this);
        at = value_end + 1;
        if object.get(at) == Some(&b',') {
            at += 1;
        }
    }
    if at + 1 != object.len() || object[at] != b'}' || object[at - 1] == b',' {
        return None;
    }
    Some(slot.unwrap_or(Slot::After(at, previous.is_none())))
}

fn needs_escape(text: &str) -> bool {
    // No early exit: a loop over short strings that the compiler vectorises.
    text.bytes().fold(false, |found, b| found | (b < 0x20) | (b == b'"') | (b == b'\\'))
}

/// Writes `text` as a JSON string; a string that needs no escaping is
/// afterwards read back from the bytes, any other is kept aside.
fn write_text(buf: &mut Vec<u8>, text: &str) -> Text {
    if needs_escape(text) {
        // Writing a str into a Vec cannot fail.
        let _ = serde_json::to_writer(&mut *buf, text);
        return Text::Owned(Arc::from(text));
    }
    buf.push(b'"');
    let start = buf.len();
    buf.extend_from_slice(text.as_bytes());
    let span = Span::new(start, buf.len());
    buf.push(b'"');
    Text::Span(span)
}

/// Copies valid JSON without the whitespace between tokens.
fn minify_into(buf: &mut Vec<u8>, json: &[u8]) {
    let (mut in_string, mut escaped) = (false, false);
    for &b in json {
        if in_string {
            buf.push(b);
            match (escaped, b) {
                (true, _) => escaped = false,
                (false, b'\\') => escaped = true,
                (false, b'"') => in_string = false,
                _ => {}
            }
        } else if !matches!(b, b' ' | b'\n' | b'\r' | b'\t') {
            in_string = b == b'"';
            buf.push(b);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::borrow::Cow;

    use super::*;

    fn parts<'a>(data: &'a [u8], metadata: Pairs<'a>) -> Parts<'a> {
        Parts { id: "e1", event_type: "t.v1", timestamp: 7, data: Some(data), metadata }
    }

    #[test]
    fn writes_the_canonical_form_with_sorted_unique_metadata() {
        let meta = vec![("b".into(), "1".into()), ("a".into(), "x".into()), ("b".into(), "2".into())];
        let e = compose(parts(br#"{"n":1}"#, meta));
        assert_eq!(
            std::str::from_utf8(e.as_json()).unwrap(),
            r#"{"id":"e1","type":"t.v1","timestamp":7,"data":{"n":1},"metadata":{"a":"x","b":"2"}}"#
        );
        assert_eq!(e.id(), "e1");
        assert_eq!(e.data_json(), br#"{"n":1}"#);
    }

    #[test]
    fn escapes_strings_and_keeps_one_line() {
        let mut p = parts(b"{\n  \"s\": \"a b\\n\" ,\r\n \"t\":[1, 2]}", vec![("k".into(), "v\"".into())]);
        p.id = "quote\"d";
        let e = compose(p);
        assert_eq!(e.id(), "quote\"d");
        assert_eq!(e.data_json(), br#"{"s":"a b\n","t":[1,2]}"#);
        assert_eq!(e.metadata_get("k").as_deref(), Some("v\""));
        assert!(!e.as_json().contains(&b'\n'));
    }

    #[test]
    fn splicing_metadata_matches_a_rewrite() {
        let base = compose(parts(b"1", vec![("a".into(), "1".into()), ("z".into(), "2".into())]));
        let spliced = splice_metadata(&base, "a", "new").unwrap();
        assert_eq!(spliced.metadata_json(), br#"{"a":"new","z":"2"}"#);
        assert_eq!(spliced.data_json(), b"1");
        let added = splice_metadata(&spliced, "m", "v").unwrap();
        assert_eq!(added.metadata_get("m").as_deref(), Some("v"));
        assert_eq!(added.metadata_map().len(), 3);
        let empty = compose(parts(b"1", Vec::new()));
        assert_eq!(splice_metadata(&empty, "k", "v").unwrap().metadata_json(), br#"{"k":"v"}"#);
        assert!(splice_metadata(&empty, "k", "quote\"").is_none(), "escapes take the rewrite");
        // A new key goes where a rewrite would put it, keeping the keys sorted.
        let middle = splice_metadata(&base, "m", "v").unwrap();
        assert_eq!(middle.metadata_json(), br#"{"a":"1","m":"v","z":"2"}"#);
        assert_eq!(splice_metadata(&base, "0", "v").unwrap().metadata_json(), br#"{"0":"v","a":"1","z":"2"}"#);
        // Another form (spaces, unsorted or repeated keys) is left to the rewrite.
        for object in [r#"{"a": "1"}"#, r#"{"z":"1","a":"2"}"#, r#"{"a":"1","a":"2"}"#, r#"{"a":"1" }"#] {
            let json = format!(r#"{{"id":"e","type":"t","timestamp":1,"data":1,"metadata":{object}}}"#);
            let event = Event::from_json(json.as_bytes()).unwrap();
            assert!(splice_metadata(&event, "a", "v").is_none(), "{object}");
            assert_eq!(event.with_metadata("a", "v").metadata_get("a").as_deref(), Some("v"));
        }
        let tricky = compose(parts(b"1", vec![("x".into(), "a".into()), ("a".into(), "x".into())]));
        assert_eq!(splice_metadata(&tricky, "a", "y").unwrap().metadata_map()["x"], "a");
        assert_eq!(splice_metadata(&tricky, "a", "y").unwrap().metadata_map()["a"], "y");
    }

    #[test]
    fn agrees_with_serde_for_a_btreemap() {
        let mut m = std::collections::BTreeMap::new();
        m.insert("z", "1");
        m.insert("a", "2");
        let meta = m.iter().map(|(k, v)| (Cow::Borrowed(*k), Cow::Borrowed(*v))).collect();
        let e = compose(parts(b"[1]", meta));
        assert_eq!(e.metadata_json(), serde_json::to_vec(&m).unwrap());
    }
}
