//! Filter's rules on parsed events, and the module's JSON path against them.

use super::*;
use flowctl_sdk::json;

fn filter(config: Value) -> Result<Filter> {
    Filter::new(serde_json::from_value(config).map_err(|e| Error::new(e.to_string()))?)
}

/// Whether `f` keeps an event carrying `data`; the module's JSON path must agree.
fn keeps(f: &mut Filter, data: Value) -> bool {
    let event = Event::new("t", data);
    let text = serde_json::to_vec(&event).unwrap();
    let typed = f.process(event).unwrap() != Output::None;
    assert_eq!(json_keeps(f, &text), Ok(typed), "{}", String::from_utf8_lossy(&text));
    typed
}

/// The module's answer for the event `text`: kept (its bytes unchanged),
/// dropped (`[]`), or the event's error.
fn json_keeps(f: &mut Filter, text: &[u8]) -> std::result::Result<bool, String> {
    let mut out = Vec::new();
    f.process_json(text, &mut out).map_err(|e| e.to_string())?;
    match out.as_slice() {
        b"[]" => Ok(false),
        kept if kept == text => Ok(true),
        other => panic!("neither the input nor []: {}", String::from_utf8_lossy(other)),
    }
}

#[test]
fn exists_keeps_events_with_the_field() {
    let mut f = filter(json!({"field": "data.transfer"})).unwrap();
    assert!(keeps(&mut f, json!({"transfer": {"amount": "1"}})));
    assert!(!keeps(&mut f, json!({"fee": {}})));
    assert!(!keeps(&mut f, json!({"transfer": null})));
}

#[test]
fn ordering_compares_numbers_written_as_strings() {
    let mut f = filter(json!({"field": "data.amount", "op": "gt", "value": 100})).unwrap();
    assert!(keeps(&mut f, json!({"amount": "150.0000000"})));
    assert!(keeps(&mut f, json!({"amount": 101})));
    assert!(!keeps(&mut f, json!({"amount": "99.9"})));
    assert!(!keeps(&mut f, json!({"amount": "lots"})));
    assert!(!keeps(&mut f, json!({})));
}

#[test]
fn eq_in_and_contains() {
    let mut eq = filter(json!({"field": "data.asset", "op": "eq", "value": "native"})).unwrap();
    assert!(keeps(&mut eq, json!({"asset": "native"})));
    let mut within = filter(json!({"field": "data.k", "op": "in", "value": ["a", "b"]})).unwrap();
    assert!(keeps(&mut within, json!({"k": "b"})) && !keeps(&mut within, json!({"k": "c"})));
    let mut has = filter(json!({"field": "data.memo", "op": "contains", "value": "rent"})).unwrap();
    assert!(keeps(&mut has, json!({"memo": "rent for may"})));
}

#[test]
fn bad_configs_say_what_is_wrong() {
    assert_eq!(filter(json!({"field": "data.a", "op": "gt"})).err().unwrap().message(), "op Gt needs a `value`");
    assert!(filter(json!({"field": "data.a", "op": "in", "value": 1})).is_err());
    assert!(filter(json!({"field": "data.a", "op": "between"})).is_err());
    assert!(filter(json!({"feild": "data.a"})).is_err());
}

#[test]
fn kept_events_are_the_input_bytes_unchanged() {
    let mut f = filter(json!({"field": "data.amount", "op": "gte", "value": 5000})).unwrap();
    let kept = "{ \"id\" : \"a\\u0041\",\n \"x\": [1, {\"y\": 2e0}], \"data\": {\"amount\": \"5000.0\"} }";
    assert_eq!(json_keeps(&mut f, kept.as_bytes()), Ok(true));
    assert_eq!(json_keeps(&mut f, br#"{"id":"b","data":{"amount":4999}}"#), Ok(false));
}

#[test]
fn a_batch_keeps_the_bytes_of_each_kept_event() {
    let mut f = filter(json!({"field": "data.amount", "op": "gte", "value": 5000})).unwrap();
    let events = [
        r#"{"id":"a", "data":{"amount":9000}}"#,
        r#"{"id":"b","data":{"amount":1}}"#,
        r#"{"id":"c","data":{"amount":"5e3"}}"#,
    ];
    let mut out = Vec::new();
    f.process_batch_json(format!("[{}]", events.join(" ,\n")).as_bytes(), &mut out).unwrap();
    assert_eq!(String::from_utf8(out).unwrap(), format!("[{},[],{}]", events[0], events[2]));
}

/// Every path and op, on events of every shape (malformed ones included):
/// the module's JSON path answers as `process` does on the parsed event, and
/// fails where the SDK's parse fails, with the same message.
#[test]
fn the_json_path_agrees_with_process() {
    let events = [
        r#"{"id":"e1","type":"t.v1","timestamp":1700,"metadata":{"region":"eu","a.b":"dotted","region":"us"},"data":{"amount":"5000.5","n":7,"s":"rent due","list":[1,"2",{"k":"v"}],"obj":{"a":null},"dup":1,"dup":2}}"#,
        r#"{"data":{"amount":4999}}"#,
        r#"{"id":"e\u0031","type":"","data":null,"metadata":{}}"#,
        r#"{"id":"x","data":[10,"20",{"amount":6000}]}"#,
        r#"{"id":"x","data":"str","extra":{"deep":[1,{"id":5}]}}"#,
        r#"{"id":"x","data":{"amount":1e3,"\u006e":7}}"#,
        r#"{"id":5}"#,
        r#"{"id":"a","metadata":{"k":1}}"#,
        r#"{"id":"a","id":"b"}"#,
        r#"{"data":{"a":1},"data":2}"#,
        r#"{"timestamp":"x"}"#,
        r#"{"metadata":null}"#,
        r#"7"#,
    ];
    let fields = [
        "id",
        "type",
        "timestamp",
        "metadata",
        "metadata.region",
        "metadata.a.b",
        "metadata.none",
        "data",
        "data.amount",
        "data.n",
        "data.s",
        "data.list",
        "data.list.1",
        "data.list.2.k",
        "data.list.9",
        "data.obj.a",
        "data.dup",
        "data.2.amount",
        "data.1",
        "data.s.0",
        "data.amount.x",
        "nope",
        "id.x",
    ];
    let ops = [
        json!({"op": "exists"}),
        json!({"op": "missing"}),
        json!({"op": "eq", "value": "5000.5"}),
        json!({"op": "eq", "value": 7}),
        json!({"op": "ne", "value": 7}),
        json!({"op": "gt", "value": 5000}),
        json!({"op": "gte", "value": "5000"}),
        json!({"op": "lt", "value": 5000}),
        json!({"op": "lte", "value": 4999}),
        json!({"op": "contains", "value": "rent"}),
        json!({"op": "contains", "value": "k"}),
        json!({"op": "in", "value": ["eu", "x", 7, "20"]}),
        json!({"op": "gt", "value": "a"}),
    ];
    let mut kept = 0;
    for field in fields {
        for op in &ops {
            let mut config = op.clone();
            config["field"] = json!(field);
            let mut f = filter(config.clone()).unwrap();
            for text in events {
                let typed = serde_json::from_str::<Event>(text)
                    .map_err(|e| format!("input event: {e}"))
                    .and_then(|event| Ok(f.process(event).map_err(|e| e.to_string())? != Output::None));
                assert_eq!(json_keeps(&mut f, text.as_bytes()), typed, "{config} on {text}");
                kept += usize::from(typed == Ok(true));
            }
            // The batch path (one pass, each event read once) gives each event the same entry.
            let entries: Vec<String> = events
                .iter()
                .map(|text| match json_keeps(&mut f, text.as_bytes()) {
                    Ok(true) => text.to_string(),
                    Ok(false) => "[]".to_string(),
                    Err(reason) => json!({ "error": reason }).to_string(),
                })
                .collect();
            let mut out = Vec::new();
            f.process_batch_json(format!("[{}]", events.join(",")).as_bytes(), &mut out).unwrap();
            assert_eq!(String::from_utf8(out).unwrap(), format!("[{}]", entries.join(",")), "{config}");
        }
    }
    assert!(kept > 100, "the cases keep some events ({kept})");
}
