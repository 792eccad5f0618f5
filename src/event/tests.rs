use super::*;
use serde_json::json;

#[test]
fn round_trips_through_json() {
    let e = Event::new("1", "t.v1", 5, json!({"a": 1})).with_metadata("k", "v");
    let back = Event::from_json(e.as_json()).expect("parse");
    assert_eq!(back, e);
    assert_eq!(back.as_json(), e.as_json(), "the canonical form is kept byte for byte");
    assert_eq!(back.metadata_get("k").as_deref(), Some("v"));
}

#[test]
fn missing_optional_fields_default() {
    let e = Event::from_json(br#"{"id":"x"}"#).expect("parse");
    assert_eq!(e.event_type(), "");
    assert_eq!(e.timestamp(), 0);
    assert_eq!(e.data(), serde_json::Value::Null);
    assert_eq!(e.as_json(), br#"{"id":"x","type":"","timestamp":0,"data":null,"metadata":{}}"#);
}

#[test]
fn rejects_event_without_id() {
    let err = Event::from_json(br#"{"type":"t"}"#).unwrap_err();
    assert!(err.to_string().contains("id"), "{err}");
}

#[test]
fn other_forms_are_rewritten_to_one_line() {
    let text = "  {\"data\": {\"n\": [1,\n 2]}, \"id\": \"a\", \"extra\": true}\n";
    let e = Event::from_json(text.as_bytes()).expect("parse");
    assert_eq!(e.as_json(), br#"{"id":"a","type":"","timestamp":0,"data":{"n":[1,2]},"metadata":{}}"#);
}

#[test]
fn canonical_input_is_read_in_place() {
    let text = br#"{"id":"a\u0041","type":"t","timestamp":9,"data":{"s":"x"},"metadata":{"k":"v"}}"#;
    let e = Event::from_json(text).expect("parse");
    assert_eq!(e.as_json(), text);
    assert_eq!(e.id(), "aA");
    assert_eq!(e.event_type(), "t");
    assert_eq!(e.timestamp(), 9);
    assert_eq!(e.data_json(), br#"{"s":"x"}"#);
    assert_eq!(e.metadata_json(), br#"{"k":"v"}"#);
}

#[test]
fn metadata_edits_write_new_bytes() {
    let e = Event::new("1", "t", 0, json!(null)).with_metadata_entries([("b", "2"), ("a", "1")]);
    assert_eq!(e.metadata_json(), br#"{"a":"1","b":"2"}"#);
    let e = e.with_metadata("a", "3");
    assert_eq!(e.metadata_get("a").as_deref(), Some("3"));
    assert_eq!(e.metadata_get("missing"), None);
    assert_eq!(e.metadata_map().len(), 2);
}

#[test]
fn data_paths_read_one_value() {
    let e = Event::new("1", "t", 0, json!({"user": {"id": "u7", "n": 3}}));
    assert_eq!(e.data_at(&["user", "id"]).map(|r| r.get()), Some(r#""u7""#));
    assert!(e.data_at(&["user", "missing"]).is_none());
}

#[test]
fn serializes_as_its_json_inside_other_values() {
    let e = Event::new("1", "t", 2, json!([true]));
    #[derive(Serialize)]
    struct Letter<'a> {
        event: &'a Event,
    }
    let outer = serde_json::to_string(&Letter { event: &e }).unwrap();
    assert_eq!(outer, r#"{"event":{"id":"1","type":"t","timestamp":2,"data":[true],"metadata":{}}}"#);
    let back: Event = serde_json::from_value(json!({"id": "1", "type": "t", "timestamp": 2, "data": [true]})).unwrap();
    assert_eq!(back, e);
}

#[test]
fn clones_share_bytes() {
    let e = Event::new("1", "t", 0, json!({"big": "x".repeat(1000)}));
    let c = e.clone();
    assert_eq!(e.as_json().as_ptr(), c.as_json().as_ptr());
}
