//! The event: the unit of data that flows from sources through processors to sinks.
//!
//! Its JSON form is the guest ABI's wire format (see `docs/abi.md`), so it is
//! also what JSONL files, stdout and dead letters hold.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Metadata key under which the host records which module version produced an event.
pub const MODULE_VERSION_KEY: &str = "flowctl.module_version";

/// One event. Field order matches the ABI document.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    /// Unique id given by the source; processors that split an event derive new ids.
    pub id: String,
    /// Schema name, e.g. `stellar.transaction.v1`.
    #[serde(rename = "type", default)]
    pub event_type: String,
    /// Unix milliseconds.
    #[serde(default)]
    pub timestamp: i64,
    /// The payload: any JSON.
    #[serde(default)]
    pub data: serde_json::Value,
    /// String annotations (routing hints, versions, provenance).
    #[serde(default)]
    pub metadata: BTreeMap<String, String>,
}

impl Event {
    /// A new event with empty metadata.
    pub fn new(id: impl Into<String>, event_type: impl Into<String>, timestamp: i64, data: serde_json::Value) -> Self {
        Self { id: id.into(), event_type: event_type.into(), timestamp, data, metadata: BTreeMap::new() }
    }

    /// Parses one event from a JSON line, with a message that says what is wrong.
    pub fn from_json(line: &[u8]) -> Result<Self, serde_json::Error> {
        serde_json::from_slice(line)
    }

    /// The compact JSON form used on the wire and in JSONL files.
    pub fn to_json(&self) -> Vec<u8> {
        // Serializing a String-keyed tree of JSON values cannot fail.
        serde_json::to_vec(self).unwrap_or_default()
    }

    /// Current time in unix milliseconds, the unit of `timestamp`.
    pub fn now_millis() -> i64 {
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_through_json() {
        let mut e = Event::new("1", "t.v1", 5, serde_json::json!({"a": 1}));
        e.metadata.insert("k".into(), "v".into());
        let back = Event::from_json(&e.to_json()).expect("parse");
        assert_eq!(back, e);
    }

    #[test]
    fn missing_optional_fields_default() {
        let e = Event::from_json(br#"{"id":"x"}"#).expect("parse");
        assert_eq!(e.event_type, "");
        assert_eq!(e.data, serde_json::Value::Null);
    }

    #[test]
    fn rejects_event_without_id() {
        let err = Event::from_json(br#"{"type":"t"}"#).unwrap_err();
        assert!(err.to_string().contains("id"), "{err}");
    }
}
