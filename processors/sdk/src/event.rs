//! The event crossing the host/guest boundary, as JSON.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// One event. On output, fields left empty are inherited by the host from the
/// input event (`id`, `type`, `timestamp`), and `metadata` is merged over the
/// input's, so a processor only sets what it changes.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Event {
    /// The event's id; output events without one inherit the input's.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub id: String,
    /// The event's type, such as `stellar.transaction.v1`.
    #[serde(rename = "type", default, skip_serializing_if = "String::is_empty")]
    pub event_type: String,
    /// Unix milliseconds; 0 on output means "inherit".
    #[serde(default, skip_serializing_if = "is_zero")]
    pub timestamp: i64,
    /// The payload, any JSON.
    #[serde(default)]
    pub data: Value,
    /// String key/value annotations; keys starting `flowctl.` are the host's.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub metadata: BTreeMap<String, String>,
}

fn is_zero(n: &i64) -> bool {
    *n == 0
}

impl Event {
    /// A new event of `event_type` carrying `data`; id and timestamp are
    /// inherited from the input event unless set.
    pub fn new(event_type: impl Into<String>, data: Value) -> Self {
        Self { event_type: event_type.into(), data, ..Self::default() }
    }

    /// The value at a dotted path: `id`, `type`, `timestamp`, `metadata.<key>`
    /// or `data.<field>.<field>...` (array elements by index, `data.items.0`).
    pub fn get(&self, path: &str) -> Option<Value> {
        let (head, rest) = path.split_once('.').map_or((path, None), |(h, r)| (h, Some(r)));
        match (head, rest) {
            ("id", None) => Some(Value::String(self.id.clone())),
            ("type", None) => Some(Value::String(self.event_type.clone())),
            ("timestamp", None) => Some(Value::from(self.timestamp)),
            ("metadata", Some(key)) => self.metadata.get(key).cloned().map(Value::String),
            ("data", None) => Some(self.data.clone()),
            ("data", Some(rest)) => lookup(&self.data, rest).cloned(),
            _ => None,
        }
    }

    /// Sets the value at a dotted path under `data.` (creating objects on the
    /// way) or `metadata.<key>` (strings as they are, other values as JSON).
    /// Returns false if the path names neither.
    pub fn set(&mut self, path: &str, value: Value) -> bool {
        if let Some(key) = path.strip_prefix("metadata.") {
            let text = match value {
                Value::String(s) => s,
                other => other.to_string(),
            };
            self.metadata.insert(key.to_string(), text);
            return true;
        }
        let Some(rest) = path.strip_prefix("data.") else { return false };
        let mut slot = &mut self.data;
        for part in rest.split('.') {
            if !slot.is_object() {
                *slot = Value::Object(Default::default());
            }
            let Value::Object(map) = slot else { return false };
            slot = map.entry(part.to_string()).or_insert(Value::Null);
        }
        *slot = value;
        true
    }
}

/// The value at a dotted path inside a JSON value.
pub fn lookup<'v>(value: &'v Value, path: &str) -> Option<&'v Value> {
    path.split('.').try_fold(value, |v, part| match v {
        Value::Object(map) => map.get(part),
        Value::Array(items) => part.parse::<usize>().ok().and_then(|i| items.get(i)),
        _ => None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn parses_the_wire_form_and_fills_defaults() {
        let e: Event = serde_json::from_str(r#"{"id":"a","data":{"x":[1,{"y":2}]}}"#).unwrap();
        assert_eq!(e.id, "a");
        assert_eq!(e.event_type, "");
        assert_eq!(e.get("data.x.1.y"), Some(json!(2)));
        assert_eq!(e.get("data.missing"), None);
        assert_eq!(e.get("id"), Some(json!("a")));
    }

    #[test]
    fn set_creates_objects_and_writes_metadata_as_strings() {
        let mut e = Event::new("t", Value::Null);
        assert!(e.set("data.a.b", json!(1)));
        assert!(e.set("metadata.n", json!(5)));
        assert!(!e.set("elsewhere", json!(1)));
        assert_eq!(e.data, json!({"a": {"b": 1}}));
        assert_eq!(e.metadata["n"], "5");
    }

    #[test]
    fn empty_fields_are_left_out_so_the_host_inherits_them() {
        let text = serde_json::to_string(&Event::new("", json!(1))).unwrap();
        assert_eq!(text, r#"{"data":1}"#);
    }
}
