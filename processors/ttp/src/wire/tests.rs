//! The two readers fill the same structs, and the module's JSON path writes
//! exactly what `process` returns: on the fixtures and on variants of them
//! (escapes, pretty-printing, odd numbers, repeated keys).

use flowctl_sdk::{abi, json, Event, Processor, Value};

use super::Event as Read;
use crate::{Config, Ttp};

const FIXTURES: &str = include_str!("../../tests/fixtures/horizon.jsonl");

fn fixtures() -> impl Iterator<Item = &'static str> {
    FIXTURES.lines().filter(|line| !line.trim().is_empty())
}

/// The serde read and the read of the parsed event must agree.
fn readers_agree(text: &str) {
    let parsed: Event = serde_json::from_str(text).unwrap_or_else(|e| panic!("{e}: {text}"));
    let read: Read = serde_json::from_str(text).unwrap_or_else(|e| panic!("{e}: {text}"));
    assert_eq!(read, Read::from_sdk(&parsed), "serde read vs parsed event: {text}");
}

/// `process_json`'s bytes, or its error.
fn json_path(text: &str) -> Result<String, String> {
    let mut out = Vec::new();
    Ttp::new(Config::default()).unwrap().process_json(text.as_bytes(), &mut out).map_err(|e| e.to_string())?;
    Ok(String::from_utf8(out).unwrap())
}

/// What `process` returns, serialized as the SDK's default `process_json` does.
fn process_path(text: &str) -> Result<String, String> {
    let event: Event = serde_json::from_str(text).map_err(|e| format!("input event: {e}"))?;
    let output = Ttp::new(Config::default()).unwrap().process(event).map_err(|e| e.to_string())?;
    let mut out = Vec::new();
    abi::write_output(&mut out, output).unwrap();
    Ok(String::from_utf8(out).unwrap())
}

fn same_output(text: &str) {
    assert_eq!(json_path(text), process_path(text), "{text}");
}

/// Fixture `n` with its `data` changed by `edit`, as compact JSON.
fn edited(n: usize, edit: impl FnOnce(&mut Value)) -> String {
    let mut event: Value = serde_json::from_str(fixtures().nth(n).unwrap()).unwrap();
    edit(&mut event["data"]);
    event.to_string()
}

#[test]
fn both_readers_read_every_fixture_alike() {
    for line in fixtures() {
        readers_agree(line);
        same_output(line);
    }
}

#[test]
fn unusual_texts_read_and_write_the_same() {
    let pretty =
        serde_json::to_string_pretty(&serde_json::from_str::<Value>(fixtures().next().unwrap()).unwrap()).unwrap();
    let escaped = edited(2, |tx| {
        tx["hash"] = json!("h\"ash\\\n");
        tx["operations"][0]["to"] = json!("G\u{e9}\u{1}");
    });
    let unicode_escape = fixtures().nth(1).unwrap().replacen("\"payment\"", "\"pay\\u006dent\"", 1);
    let escaped_unread = edited(2, |tx| tx["memo"] = json!("a\"b\\c"));
    let exponent = edited(0, |tx| tx["max_fee"] = json!(1.5e300));
    let float_ledger = edited(0, |tx| tx["ledger"] = json!(3.0));
    let big_fee = edited(0, |tx| tx["fee_charged"] = json!(u64::MAX));
    let texts = [pretty.as_str(), &escaped, &unicode_escape, &escaped_unread, &exponent, &float_ledger, &big_fee];
    for text in texts {
        readers_agree(text);
        same_output(text);
    }
    assert!(json_path(&escaped).unwrap().contains(r#""id":"h\"ash\\\n-0""#));
}

#[test]
fn only_an_escape_in_a_string_the_rules_read_turns_verbatim_writing_off() {
    let read = |text: &str| serde_json::from_str::<Read>(text).unwrap().written_verbatim();
    assert!(read(fixtures().nth(2).unwrap()));
    assert!(read(&edited(2, |tx| tx["memo"] = json!("a\"b"))), "memo is not read");
    assert!(!read(&edited(2, |tx| tx["hash"] = json!("h\"ash"))));
    assert!(!read(&edited(2, |tx| tx["operations"][0]["to"] = json!("G\n"))));
    let escaped_id = fixtures().nth(2).unwrap().replacen("{\"id\":\"", "{\"id\":\"\\t", 1);
    assert!(!read(&escaped_id));
}

#[test]
fn repeated_keys_count_once_the_last_time() {
    let line = fixtures().nth(1).unwrap();
    // Inside `data` the last one counts, as in a `Value` map.
    let text = line.replacen("\"data\":{", "\"data\":{\"hash\":\"first\",\"ledger\":\"x\",", 1);
    readers_agree(&text);
    same_output(&text);
    // In the envelope the SDK's derive refuses them.
    let text =
        line.replacen("\"data\":{", "\"type\":\"x\",\"data\":{", 1).replacen("{\"id\"", "{\"type\":\"y\",\"id\"", 1);
    assert!(json_path(&text).unwrap_err().starts_with("input event: duplicate field `type`"));
}

#[test]
fn odd_inputs_give_the_same_result_on_both_paths() {
    let line = fixtures().nth(1).unwrap();
    let deep = format!("{}1{}", "[".repeat(40), "]".repeat(40));
    let cases = [
        line.replacen("\"payment\"", "\"pay\\u006dent\"", 1), // an escape
        line.replacen("\"ledger\":", "\"ledger\":1e3,\"x\":", 1), // an exponent
        line.replacen("\"ledger\":", "\"ledger\":-0,\"x\":", 1), // -0, a float to serde_json
        line.replacen("\"ledger\":", "\"ledger\":1.5,\"x\":", 1), // a fraction ttp reads
        line.replacen("\"ledger\":", "\"ledger\":1234567890123456789,\"x\":", 1), // 19 digits
        line.replacen("\"ledger\":", "\"ledger\":[1],\"x\":", 1), // an array ttp reads
        line.replacen("\"ledger\":", &format!("\"x\":{deep},\"ledger\":"), 1), // deep nesting
        line.replacen("\"data\":", "\"timestamp\":\"5\",\"data\":", 1), // an envelope field's type
        format!("{line} x"),                                  // trailing text
        line.replacen("\"payment\"", "\"pay\u{1}ment\"", 1),  // a control character
    ];
    for text in &cases {
        // Whatever serde and the SDK make of it, both paths agree.
        if serde_json::from_str::<Event>(text).is_ok() {
            readers_agree(text);
        }
        same_output(text);
    }
}

#[test]
fn malformed_events_fail_as_the_sdk_parse_does() {
    let line = fixtures().nth(1).unwrap();
    let cases = [
        "5".to_string(),
        "[1]".to_string(),
        line[..line.len() / 2].to_string(),
        line.replacen("\"id\":\"", "\"id\":5,\"x\":\"", 1),
        line.replacen("\"data\":{", "\"metadata\":{\"k\":1},\"data\":{", 1),
        line.replacen("\"data\":{", "\"data\":{\"x\":1e400,", 1),
        line.replacen("\"data\":{", "\"data\":{\"x\":\"\\ud800\",", 1),
        format!("{{\"data\":{}}}", "[".repeat(200)),
    ];
    for text in &cases {
        let sdk = serde_json::from_str::<Event>(text).map_err(|e| format!("input event: {e}"));
        assert_eq!(json_path(text), Err(sdk.unwrap_err()), "{text}");
    }
    // Not UTF-8 where the SDK's parse does not look (an unknown envelope
    // field): the SDK takes it, and so does ttp.
    let mut bytes = line.replacen("{\"id\"", "{\"x\":\"\u{e9}\",\"id\"", 1).into_bytes();
    let at = bytes.iter().position(|&b| b == 0xc3).unwrap();
    bytes[at] = 0xff;
    let mut out = Vec::new();
    Ttp::new(Config::default()).unwrap().process_json(&bytes, &mut out).unwrap();
    assert_eq!(Ok(String::from_utf8(out).unwrap()), process_path(line));
    // The SDK's derive also takes an event as an array of its fields.
    same_output("[]");
    same_output(r#"["e1","stellar.transaction.v1",0,{"operations":[]}]"#);
}

#[test]
fn a_batch_gives_each_event_the_entry_process_json_gives_it() {
    let line = fixtures().nth(1).unwrap();
    let odd = [
        "5".to_string(),
        "[]".to_string(),
        line.replacen("\"payment\"", "\"pay\\u006dent\"", 1),
        line.replacen("\"id\":\"", "\"id\":5,\"x\":\"", 1),
        line.replacen("\"data\":{", "\"data\":{\"x\":1e400,", 1),
        format!("{{\"data\":{}{}}}", "[".repeat(200), "]".repeat(200)),
    ];
    let mut events: Vec<&str> = fixtures().collect();
    events.extend(odd.iter().map(String::as_str));
    let entries: Vec<String> = events
        .iter()
        .map(|text| json_path(text).unwrap_or_else(|reason| json!({ "error": reason }).to_string()))
        .collect();
    let mut out = Vec::new();
    let written = Ttp::new(Config::default())
        .unwrap()
        .process_batch_json(format!("[{}]", events.join(",\n")).as_bytes(), &mut out);
    assert_eq!(written, Ok(flowctl_sdk::BatchOutput::Written));
    assert_eq!(String::from_utf8(out).unwrap(), format!("[{}]", entries.join(",")));
}
