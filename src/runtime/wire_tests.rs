//! The guest-output parser against hand-written outputs: shapes, limits,
//! garbage, and the completion of output events from their inputs.

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
fn output_that_is_not_utf8_is_malformed_wherever_it_is() {
    // In a field the host otherwise skips unread, too: sinks write events as they are.
    let bad = b"[{\"id\":\"a\",\"skipped\":\"\xff\"}]";
    let expected = ProcessError::MalformedOutput("invalid UTF-8 at byte 22".into());
    assert_eq!(batch_output(bad, 1, 1000).unwrap_err(), expected);
    assert_eq!(event_output(&bad[1..bad.len() - 1], 1000).unwrap_err().kind(), "malformed_output");
    // After an entry that is its input unchanged (not checked: it is the input's bytes), the
    // position still counts from the start of the output.
    let after_unchanged = [b"[", input().as_json(), b",{\"id\":\"\xff\"}]"].concat();
    let at = 1 + input().as_json().len() + 8;
    let expected = ProcessError::MalformedOutput(format!("invalid UTF-8 at byte {at}"));
    assert_eq!(batch_output(&after_unchanged, 2, 1000).unwrap_err(), expected);
    let fine = "[{\"id\":\"é\",\"data\":\"ü\"}]".as_bytes();
    assert_eq!(batch_output(fine, 1, 1000).unwrap()[0].as_ref().unwrap()[0].id(), "é");
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
fn every_output_of_an_event_inherits_its_metadata_and_keeps_its_own() {
    let out = br#"[[{"id":"a"}, {"id":"b","metadata":{"k":"v","source":"guest"}}, {"id":"c"}]]"#;
    let events = batch_output(out, 1, 1000).unwrap().remove(0).unwrap();
    let meta = |e: &Event, key: &str| e.metadata_get(key).map(|v| v.into_owned());
    let ids: Vec<_> = events.iter().map(|e| e.id().to_owned()).collect();
    assert_eq!(ids, ["a", "b", "c"]);
    for (event, source, k) in [(&events[0], "gen", None), (&events[1], "guest", Some("v")), (&events[2], "gen", None)] {
        assert_eq!(meta(event, "source").as_deref(), Some(source), "{}", event.id());
        assert_eq!(meta(event, "k").as_deref(), k, "{}", event.id());
        assert_eq!(meta(event, MODULE_VERSION_KEY).as_deref(), Some("v7"));
    }
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
