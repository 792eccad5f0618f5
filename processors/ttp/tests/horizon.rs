//! ttp over real Horizon records (tests/fixtures/horizon.jsonl, sources in
//! tests/fixtures/README.md) against the hand-written expected output
//! (horizon.golden.jsonl), with the host's inheritance applied as `flowctl
//! test` does: empty id/type/timestamp come from the input, metadata is
//! merged over the input's, and `flowctl.` metadata keys are not compared.

use std::collections::BTreeSet;

use flowctl_sdk::{Event, Output, Processor, Value};
use ttp::{Config, Ttp};

const INPUT: &str = include_str!("fixtures/horizon.jsonl");
const GOLDEN: &str = include_str!("fixtures/horizon.golden.jsonl");

fn lines(text: &str) -> impl Iterator<Item = &str> {
    text.lines().filter(|line| !line.trim().is_empty())
}

/// An output event as the host completes it, in the golden files' form.
fn completed(input: &Event, mut output: Event) -> Value {
    if output.id.is_empty() {
        output.id = input.id.clone();
    }
    if output.event_type.is_empty() {
        output.event_type = input.event_type.clone();
    }
    if output.timestamp == 0 {
        output.timestamp = input.timestamp;
    }
    let mut metadata = input.metadata.clone();
    metadata.extend(output.metadata);
    metadata.retain(|key, _| !key.starts_with("flowctl."));
    serde_json::json!({
        "id": output.id,
        "type": output.event_type,
        "timestamp": output.timestamp,
        "data": output.data,
        "metadata": metadata,
    })
}

/// Every input's outputs, in order, each with the index of its input.
fn run_fixtures() -> Vec<(usize, Value)> {
    let mut ttp = Ttp::new(Config::default()).expect("ttp builds");
    let mut produced = Vec::new();
    for (n, line) in lines(INPUT).enumerate() {
        let input: Event = serde_json::from_str(line).unwrap_or_else(|e| panic!("input line {}: {e}", n + 1));
        let outputs = match ttp.process(input.clone()) {
            Ok(Output::None) => vec![],
            Ok(Output::One(event)) => vec![event],
            Ok(Output::Many(events)) => events,
            Err(err) => panic!("input line {} ({}) failed: {err}", n + 1, input.id),
        };
        produced.extend(outputs.into_iter().map(|output| (n, completed(&input, output))));
    }
    produced
}

#[test]
fn real_horizon_records_give_the_golden_output() {
    let produced = run_fixtures();
    let golden: Vec<Value> = lines(GOLDEN)
        .enumerate()
        .map(|(n, l)| serde_json::from_str(l).unwrap_or_else(|e| panic!("golden line {}: {e}", n + 1)))
        .collect();
    for (i, ((input, got), want)) in produced.iter().zip(&golden).enumerate() {
        assert_eq!(got, want, "output {} (from input line {}) differs from golden line {}", i, input + 1, i + 1);
    }
    assert_eq!(produced.len(), golden.len(), "ttp produced {} events, golden has {}", produced.len(), golden.len());
}

#[test]
fn the_fixtures_cover_every_kind_and_case() {
    let produced = run_fixtures();
    let kinds: BTreeSet<&str> = produced
        .iter()
        .flat_map(|(_, event)| event["data"].as_object().unwrap().keys().map(String::as_str))
        .filter(|key| *key != "meta")
        .collect();
    assert_eq!(kinds, BTreeSet::from(["burn", "clawback", "fee", "mint", "transfer"]));

    let inputs: Vec<Event> = lines(INPUT).map(|l| serde_json::from_str(l).unwrap()).collect();
    let outputs_of = |id: &str| {
        let n = inputs.iter().position(|e| e.id == id).unwrap_or_else(|| panic!("no input {id}"));
        produced.iter().filter(|(input, _)| *input == n).map(|(_, e)| e).collect::<Vec<_>>()
    };
    let op_types: BTreeSet<&str> = inputs
        .iter()
        .filter_map(|e| e.data.get("operations")?.as_array())
        .flatten()
        .filter_map(|op| op.get("type")?.as_str())
        .collect();
    for kind in [
        "payment",
        "create_account",
        "path_payment_strict_send",
        "path_payment_strict_receive",
        "account_merge",
        "clawback",
    ] {
        assert!(op_types.contains(kind), "no {kind} record in the fixtures");
    }
    // An unknown operation (manage_sell_offer) is skipped: only the fee remains.
    let offer = outputs_of("horizon-04-offer");
    assert_eq!(offer.len(), 1);
    assert!(offer[0]["data"].get("fee").is_some());
    // A failed transaction pays its fee and moves nothing else.
    let failed = outputs_of("horizon-05-failed");
    assert_eq!(failed.len(), 1);
    assert!(failed[0]["data"].get("fee").is_some());
    // A failed transaction without fee_charged yields nothing at all.
    assert!(outputs_of("horizon-10-strict-receive-failed").is_empty());
    // Events of other types are filtered.
    assert!(outputs_of("orders-000042").is_empty());
    // Path payments carry the sender's side.
    let strict_send = outputs_of("horizon-08-strict-send");
    assert_eq!(strict_send[0]["data"]["transfer"]["source_amount"], "57.4988800");
}

#[test]
fn output_ids_are_unique() {
    let produced = run_fixtures();
    let ids: BTreeSet<&str> = produced.iter().map(|(_, e)| e["id"].as_str().unwrap()).collect();
    assert_eq!(ids.len(), produced.len());
}
