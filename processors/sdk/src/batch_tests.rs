//! The one-pass batch path, on the host target.

use super::*;
use crate::abi::NoConfig;
use crate::{BatchOutput, Output};

/// Typed: fails `bad`, drops `drop`, splits `two`, keeps the rest.
struct Typed;

impl Processor for Typed {
    type Config = NoConfig;
    fn new(_: NoConfig) -> Result<Self> {
        Ok(Typed)
    }
    fn process(&mut self, event: Event) -> Result<Output> {
        match event.id.as_str() {
            "bad" => Err(Error::new("bad event")),
            "drop" => Ok(Output::None),
            "two" => Ok(Output::Many(vec![event.clone(), event])),
            _ => Ok(Output::One(event)),
        }
    }
}

/// Raw: records the text of each event; copies it through, fails one holding
/// `bad`, writes nothing for one holding `silent`.
#[derive(Default)]
struct Raw(Vec<String>);

impl Processor for Raw {
    type Config = NoConfig;
    const INPUT: Input = Input::Json;
    fn new(_: NoConfig) -> Result<Self> {
        Ok(Raw::default())
    }
    fn process(&mut self, event: Event) -> Result<Output> {
        Ok(Output::One(event))
    }
    fn process_json(&mut self, input: &[u8], out: &mut Vec<u8>) -> Result<()> {
        let text = String::from_utf8_lossy(input).into_owned();
        self.0.push(text.clone());
        if text.contains("bad") {
            return Err(Error::new("bad text"));
        }
        if !text.contains("silent") {
            out.extend_from_slice(input);
        }
        Ok(())
    }
}

fn batch<P: Processor>(processor: &mut P, input: &str) -> Result<String> {
    let mut out = Vec::new();
    assert_eq!(processor.process_batch_json(input.as_bytes(), &mut out)?, BatchOutput::Written);
    Ok(String::from_utf8(out).expect("the SDK writes UTF-8"))
}

#[test]
fn typed_events_get_their_own_entries_and_errors() {
    let input = r#"[{"id":"a","data":1},{"id":"bad"},{"id":"drop"},{"id":"two","type":"t"},{"id":"b"}]"#;
    assert_eq!(
        batch(&mut Typed, input).unwrap(),
        concat!(
            r#"[{"id":"a","data":1},{"error":"bad event"},[],"#,
            r#"[{"id":"two","type":"t","data":null},{"id":"two","type":"t","data":null}],{"id":"b","data":null}]"#
        )
    );
}

#[test]
fn typed_entries_match_what_process_event_writes() {
    let events = [r#"{"id":"a","timestamp":5,"metadata":{"k":"v"},"data":{"x":[1,2.5,"s"]}}"#, r#"{"id":"two"}"#];
    let mut expected = Vec::new();
    for event in events {
        let mut out = Vec::new();
        crate::abi::process_typed(&mut Typed, event.as_bytes(), &mut out).unwrap();
        expected.push(String::from_utf8(out).unwrap());
    }
    let output = batch(&mut Typed, &format!("[{}]", events.join(","))).unwrap();
    assert_eq!(output, format!("[{}]", expected.join(",")));
}

#[test]
fn json_that_is_not_an_event_fails_only_its_entry() {
    let input = r#"[{"id":5}, 7 ,{"id":"a","metadata":{"k":1}}, {"id":"b"}]"#;
    assert_eq!(
        batch(&mut Typed, input).unwrap(),
        concat!(
            r#"[{"error":"input event: invalid type: integer `5`, expected a string at line 1 column 7"},"#,
            r#"{"error":"input event: invalid type: integer `7`, expected struct Event at line 1 column 1"},"#,
            r#"{"error":"input event: invalid type: integer `1`, expected a string at line 1 column 27"},"#,
            r#"{"id":"b","data":null}]"#
        )
    );
}

#[test]
fn raw_events_are_their_exact_bytes_without_the_whitespace_around() {
    let mut raw = Raw::default();
    let input = "[ {\"id\": \"a\",\n \"data\": \"\\u00e9\\\"\"} ,\n\t{\"id\":\"bad\"},{\"id\":\"silent\"} ]";
    let output = batch(&mut raw, input).unwrap();
    assert_eq!(raw.0, ["{\"id\": \"a\",\n \"data\": \"\\u00e9\\\"\"}", r#"{"id":"bad"}"#, r#"{"id":"silent"}"#]);
    assert_eq!(
        output,
        concat!(
            "[{\"id\": \"a\",\n \"data\": \"\\u00e9\\\"\"},",
            r#"{"error":"bad text"},{"error":"the processor wrote no output"}]"#
        )
    );
}

#[test]
fn empty_batches_give_empty_arrays() {
    assert_eq!(batch(&mut Typed, "[]").unwrap(), "[]");
    assert_eq!(batch(&mut Raw::default(), " \n[ ]\n").unwrap(), "[]");
}

#[test]
fn a_malformed_batch_fails_the_call_naming_where() {
    let fails = |input: &str| batch(&mut Typed, input).unwrap_err().to_string();
    let raw_fails = |input: &str| batch(&mut Raw::default(), input).unwrap_err().to_string();
    for error in [fails(""), fails(r#"{"id":"a"}"#), raw_fails("null")] {
        assert_eq!(error, "input batch: expected a JSON array of events");
    }
    assert_eq!(fails("["), "input batch: event 1 (at byte 1): expected an event, found the end of the batch");
    assert_eq!(fails(r#"[{"id":"a"}"#), "input batch: expected `,` or `]` after event 1 (at byte 11)");
    assert_eq!(fails(r#"[{"id":"a"} {"id":"b"}]"#), "input batch: expected `,` or `]` after event 1 (at byte 12)");
    assert_eq!(fails(r#"[{"id":"a"},]"#), "input batch: event 2 (at byte 12): expected value at line 1 column 1");
    assert_eq!(fails(r#"[{"id":"a"}] x"#), "input batch: unexpected text after the array (at byte 13)");
    assert_eq!(
        fails(r#"[{"id":"a"},{"id":"b","data":tru}]"#),
        "input batch: event 2 (at byte 12): expected ident at line 1 column 21"
    );
    // The raw path checks the syntax of the events it does not parse.
    assert_eq!(
        raw_fails(r#"[{"id":"a"},{"id":"b" "data":1}]"#),
        "input batch: event 2 (at byte 12): expected `,` or `}` at line 1 column 11"
    );
    assert_eq!(raw_fails("[1x]"), "input batch: event 1 (at byte 1): trailing characters at line 1 column 2");
    // Not UTF-8, even where no event is parsed.
    let mut out = Vec::new();
    let error = Raw::default().process_batch_json(b"[{\"id\":\"a\", \"x\":\"\xff\"}]", &mut out).unwrap_err();
    assert_eq!(error.message(), "input batch: invalid utf-8 sequence of 1 bytes from index 17");
}

#[test]
fn each_hands_over_borrowed_values_with_their_bytes() {
    #[derive(serde::Deserialize)]
    struct Id<'a> {
        id: &'a str,
    }
    let mut seen = Vec::new();
    let mut out = Vec::new();
    each::<Id, _>(br#"[{"id":"a","x":[1]}, {"id":"b"}]"#, &mut out, |event, text, out| {
        seen.push((event?.id, text));
        out.extend_from_slice(b"[]");
        Ok(())
    })
    .unwrap();
    assert_eq!(seen, [("a", r#"{"id":"a","x":[1]}"#), ("b", r#"{"id":"b"}"#)]);
    assert_eq!(out, b"[[],[]]");
}
