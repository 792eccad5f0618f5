//! What a `ConsumeResponse` means for the events of its stream, and the dead
//! letters the `type: grpc` sink makes of events it gives up on.
//!
//! The rule (documented in `docs/grpc.md`): when `events_failed > 0`, every
//! `errors` entry of the form `"<event id>: <reason>"` whose id was sent on
//! that stream dead-letters that event with the reason. Entries that name no
//! such id dead-letter nothing; when fewer entries name ids than
//! `events_failed` says failed, the sink logs a warning with both counts.

use std::collections::HashMap;

use super::{mapping, pb};
use crate::connectors::DeadLetter;
use crate::event::Event;

/// Error kind of an event the consumer reported failed.
pub const CONSUMER_REJECTED: &str = "consumer_rejected";
/// Error kind of an event the sink could not deliver in `max_retries` attempts.
pub const GRPC_UNAVAILABLE: &str = "grpc_unavailable";

/// The failures a response names among the events of its stream.
#[derive(Debug, Default, PartialEq)]
pub struct Verdict {
    /// Index in the stream and reason, once per event, in the order named.
    pub rejected: Vec<(usize, String)>,
    /// Failures the consumer counted but named no sent id for.
    pub unnamed: u64,
}

/// Reads `response` against the events sent on its stream.
pub fn judge(response: &pb::ConsumeResponse, sent: &[pb::Event]) -> Verdict {
    if response.events_failed <= 0 {
        return Verdict::default();
    }
    let index: HashMap<&str, usize> = sent.iter().enumerate().map(|(i, e)| (e.id.as_str(), i)).collect();
    let mut rejected: Vec<(usize, String)> = Vec::new();
    let mut seen = vec![false; sent.len()];
    for line in &response.errors {
        if let Some((id, reason)) = named_failure(line, |id| index.contains_key(id)) {
            let i = index[id];
            if !std::mem::replace(&mut seen[i], true) {
                rejected.push((i, reason.to_owned()));
            }
        }
    }
    let named = rejected.len() as u64;
    Verdict { rejected, unnamed: (response.events_failed as u64).saturating_sub(named) }
}

/// Splits `"<id>: <reason>"` at the first colon whose prefix is a known id,
/// so ids that contain colons themselves (`src:line:5`) still match.
pub fn named_failure(line: &str, known: impl Fn(&str) -> bool) -> Option<(&str, &str)> {
    line.match_indices(':').map(|(at, _)| (&line[..at], line[at + 1..].trim())).find(|(id, _)| known(id))
}

/// The dead letter for an event the sink sent as `wire`; the event is mapped
/// back from the wire, as the consumer would have seen it.
pub fn dead_letter(sink: &str, kind: &str, message: String, wire: &pb::Event) -> DeadLetter {
    DeadLetter {
        processor: sink.to_owned(),
        version: String::new(),
        error_kind: kind.to_owned(),
        message,
        at: Event::now_millis(),
        event: mapping::from_proto(wire.clone()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sent(ids: &[&str]) -> Vec<pb::Event> {
        ids.iter().map(|id| pb::Event { id: (*id).into(), ..Default::default() }).collect()
    }

    fn response(failed: i64, errors: &[&str]) -> pb::ConsumeResponse {
        pb::ConsumeResponse {
            events_consumed: 0,
            events_failed: failed,
            errors: errors.iter().map(|e| (*e).to_owned()).collect(),
        }
    }

    #[test]
    fn id_and_reason_split_at_the_first_colon_naming_a_known_id() {
        let known = |id: &str| ["ev-1", "src:line:5"].contains(&id);
        assert_eq!(named_failure("ev-1: duplicate key", known), Some(("ev-1", "duplicate key")));
        assert_eq!(named_failure("ev-1:no space", known), Some(("ev-1", "no space")));
        assert_eq!(named_failure("src:line:5: bad: row", known), Some(("src:line:5", "bad: row")));
        assert_eq!(named_failure("ev-2: not sent", known), None);
        assert_eq!(named_failure("database unavailable", known), None);
        assert_eq!(named_failure("", known), None);
    }

    #[test]
    fn named_failures_become_rejections_once_each() {
        let events = sent(&["a", "b", "c"]);
        let verdict = judge(&response(2, &["c: too big", "a: bad", "c: again"]), &events);
        assert_eq!(verdict.rejected, vec![(2, "too big".to_owned()), (0, "bad".to_owned())]);
        assert_eq!(verdict.unnamed, 0);
    }

    #[test]
    fn failures_without_ids_are_counted_not_guessed() {
        let events = sent(&["a", "b"]);
        let verdict = judge(&response(3, &["b: nope", "disk full", "zz: not in this stream"]), &events);
        assert_eq!(verdict.rejected, vec![(1, "nope".to_owned())]);
        assert_eq!(verdict.unnamed, 2);
    }

    #[test]
    fn errors_without_failed_events_reject_nothing() {
        let events = sent(&["a"]);
        assert_eq!(judge(&response(0, &["a: just a note"]), &events), Verdict::default());
    }

    #[test]
    fn dead_letter_maps_the_wire_event_back() {
        let wire = pb::Event { id: "x".into(), payload: b"{\"n\":1}".to_vec().into(), ..Default::default() };
        let letter = dead_letter("db", CONSUMER_REJECTED, "x: bad".into(), &wire);
        assert_eq!((letter.processor.as_str(), letter.error_kind.as_str()), ("db", CONSUMER_REJECTED));
        assert_eq!(letter.event.id(), "x");
        assert_eq!(letter.event.data(), serde_json::json!({"n": 1}));
    }
}
