//! `flowctl.v1.Event` <-> flowctl's [`Event`]: the one place the wire and the
//! engine meet (documented in `docs/grpc.md`).
//!
//! - A JSON payload (`content_type` `application/json`, or empty with a payload
//!   that parses as JSON) becomes `data`. Any other payload becomes a base64
//!   string in `data`, marked with [`keys::PAYLOAD_ENCODING`], and leaves
//!   byte-identical as long as a processor keeps that string.
//! - `content_type`, `source_component_id` and `stellar_cursor` travel in
//!   metadata under `flowctl.`/`stellar.` keys, so the guest ABI's JSON shape
//!   does not change and a processor can read them.
//! - `timestamp` is unix milliseconds; an absent timestamp is 0 and back.

use std::borrow::Cow;
use std::collections::BTreeMap;

use base64::Engine as _;

use super::pb;
use crate::event::{Event, Parts};

/// The metadata keys the mapping owns. Incoming metadata with these names is overwritten.
pub mod keys {
    /// The wire `content_type` of an event that arrived over gRPC, unless it was
    /// `application/json` with a JSON payload (set even when empty).
    pub const CONTENT_TYPE: &str = "flowctl.content_type";
    /// `base64` when `data` holds a non-JSON payload as a base64 string.
    pub const PAYLOAD_ENCODING: &str = "flowctl.payload_encoding";
    pub const SOURCE_COMPONENT_ID: &str = "flowctl.source_component_id";
    pub const LEDGER_SEQUENCE: &str = "stellar.ledger_sequence";
    pub const INDEX_IN_LEDGER: &str = "stellar.index_in_ledger";
}

/// The content type of a JSON payload.
pub const JSON: &str = "application/json";
const BASE64: &str = "base64";

fn is_json_type(content_type: &str) -> bool {
    let essence = content_type.split(';').next().unwrap_or("").trim();
    essence.eq_ignore_ascii_case(JSON) || essence.ends_with("+json")
}

/// A wire event as flowctl's event.
pub fn from_proto(event: pb::Event) -> Event {
    let pb::Event { id, r#type, payload, metadata, timestamp, source_component_id, content_type, stellar_cursor } =
        event;
    let mut meta: BTreeMap<String, String> = metadata.into_iter().collect();
    let is_json = (content_type.is_empty() || is_json_type(&content_type))
        && serde_json::from_slice::<serde::de::IgnoredAny>(&payload).is_ok();
    // `application/json` is what a JSON `data` leaves with anyway: not stored, one key less per event.
    let encoded;
    let (data, keep_type) = match is_json {
        true => (&payload[..], content_type != JSON),
        false => {
            meta.insert(keys::PAYLOAD_ENCODING.to_owned(), BASE64.to_owned());
            encoded =
                serde_json::to_vec(&base64::engine::general_purpose::STANDARD.encode(&payload)).unwrap_or_default();
            (&encoded[..], true)
        }
    };
    if keep_type {
        meta.insert(keys::CONTENT_TYPE.to_owned(), content_type);
    }
    if !source_component_id.is_empty() {
        meta.insert(keys::SOURCE_COMPONENT_ID.to_owned(), source_component_id);
    }
    if let Some(cursor) = stellar_cursor {
        meta.insert(keys::LEDGER_SEQUENCE.to_owned(), cursor.ledger_sequence.to_string());
        meta.insert(keys::INDEX_IN_LEDGER.to_owned(), cursor.index_in_ledger.to_string());
    }
    Event::from_parts(Parts {
        id: &id,
        event_type: &r#type,
        timestamp: timestamp.map_or(0, |t| to_millis(&t)),
        data: Some(data.trim_ascii()),
        metadata: meta.iter().map(|(k, v)| (Cow::Borrowed(k.as_str()), Cow::Borrowed(v.as_str()))).collect(),
    })
}

/// flowctl's event as a wire event. `source_component_id` fills the field when
/// the event did not come from another component (the sending component's id).
pub fn to_proto(event: &Event, source_component_id: &str) -> pb::Event {
    let pairs = event.metadata();
    let mut metadata = std::collections::HashMap::with_capacity(pairs.len());
    let (mut content_type, mut encoding, mut source, mut ledger, mut index) = (None, None, None, None, None);
    for (key, value) in &pairs {
        let slot = match key.as_ref() {
            keys::CONTENT_TYPE => &mut content_type,
            keys::PAYLOAD_ENCODING => &mut encoding,
            keys::SOURCE_COMPONENT_ID => &mut source,
            keys::LEDGER_SEQUENCE => &mut ledger,
            keys::INDEX_IN_LEDGER => &mut index,
            _ => {
                metadata.insert(key.to_string(), value.to_string());
                continue;
            }
        };
        *slot = Some(value.as_ref());
    }
    let binary = match encoding {
        Some(BASE64) => serde_json::from_slice::<Cow<'_, str>>(event.data_json())
            .ok()
            .and_then(|text| base64::engine::general_purpose::STANDARD.decode(text.as_bytes()).ok()),
        _ => None,
    };
    let (payload, content_type) = match binary {
        Some(bytes) => (bytes, content_type.unwrap_or_default().to_owned()),
        None => {
            // A processor may have turned a binary payload into JSON: then it is JSON.
            let kept = content_type.filter(|t| t.is_empty() || is_json_type(t));
            (event.data_json().to_vec(), kept.unwrap_or(JSON).to_owned())
        }
    };
    let stellar_cursor = match (ledger.and_then(|l| l.parse().ok()), index.and_then(|i| i.parse().ok())) {
        (Some(ledger_sequence), Some(index_in_ledger)) => Some(pb::StellarCursor { ledger_sequence, index_in_ledger }),
        _ => None,
    };
    pb::Event {
        id: event.id().to_owned(),
        r#type: event.event_type().to_owned(),
        payload: payload.into(),
        metadata,
        timestamp: (event.timestamp() != 0).then(|| from_millis(event.timestamp())),
        source_component_id: source.unwrap_or(source_component_id).to_owned(),
        content_type,
        stellar_cursor,
    }
}

/// A protobuf timestamp as unix milliseconds (sub-millisecond digits dropped).
pub fn to_millis(t: &prost_types::Timestamp) -> i64 {
    t.seconds.saturating_mul(1000).saturating_add(i64::from(t.nanos) / 1_000_000)
}

/// Unix milliseconds as a protobuf timestamp.
pub fn from_millis(ms: i64) -> prost_types::Timestamp {
    prost_types::Timestamp { seconds: ms.div_euclid(1000), nanos: (ms.rem_euclid(1000) * 1_000_000) as i32 }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wire(payload: &[u8], content_type: &str) -> pb::Event {
        pb::Event {
            id: "e1".into(),
            r#type: "stellar.ledger.v1".into(),
            payload: payload.to_vec().into(),
            metadata: [("network".to_owned(), "testnet".to_owned())].into(),
            timestamp: Some(from_millis(1_700_000_000_123)),
            source_component_id: "stellar-live-source".into(),
            content_type: content_type.into(),
            stellar_cursor: Some(pb::StellarCursor { ledger_sequence: 51_000_123, index_in_ledger: 7 }),
        }
    }

    #[test]
    fn json_payload_becomes_data_and_comes_back_equal() {
        let sent = wire(br#"{"amount": 5, "to": "G..."}"#, JSON);
        let event = from_proto(sent.clone());
        assert_eq!(event.data(), serde_json::json!({"amount": 5, "to": "G..."}));
        assert_eq!(event.timestamp(), 1_700_000_000_123);
        assert_eq!(event.metadata_map()[keys::LEDGER_SEQUENCE], "51000123");
        assert!(!event.metadata_map().contains_key(keys::CONTENT_TYPE), "the default type is not stored");
        let back = to_proto(&event, "flowctl");
        let json: serde_json::Value = serde_json::from_slice(&back.payload).expect("json");
        assert_eq!(json, serde_json::json!({"amount": 5, "to": "G..."}));
        assert_eq!(pb::Event { payload: sent.payload.clone(), ..back }, sent);
    }

    #[test]
    fn binary_payload_travels_as_base64_and_leaves_identical() {
        let bytes: Vec<u8> = (0..=255u8).collect();
        let sent = wire(&bytes, "application/x-xdr");
        let event = from_proto(sent.clone());
        assert!(event.data().is_string());
        assert_eq!(event.metadata_map()[keys::PAYLOAD_ENCODING], "base64");
        assert_eq!(to_proto(&event, "flowctl"), sent);
    }

    #[test]
    fn empty_content_type_json_is_json_and_keeps_its_empty_type() {
        let sent = wire(b"[1,2,3]", "");
        let event = from_proto(sent.clone());
        assert_eq!(event.data(), serde_json::json!([1, 2, 3]));
        assert_eq!(to_proto(&event, "flowctl").content_type, "");
    }

    #[test]
    fn json_typed_payload_that_is_not_json_stays_bytes() {
        let sent = wire(b"{not json", JSON);
        let event = from_proto(sent.clone());
        assert_eq!(to_proto(&event, "x"), sent);
    }

    #[test]
    fn native_event_leaves_as_json_from_the_pipeline() {
        let event = Event::new("n1", "t.v1", 0, serde_json::json!({"a": 1}));
        let wire = to_proto(&event, "my-pipeline");
        assert_eq!(wire.content_type, JSON);
        assert_eq!(wire.source_component_id, "my-pipeline");
        assert_eq!(wire.timestamp, None);
        assert_eq!(wire.stellar_cursor, None);
    }

    #[test]
    fn negative_and_odd_millis_round_trip() {
        for ms in [-1_500, -1, 0, 1, 999, 1_000, 1_700_000_000_123] {
            assert_eq!(to_millis(&from_millis(ms)), ms);
        }
    }
}
