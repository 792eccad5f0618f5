//! The generated events: event `i` is the same wherever it is built, so a
//! receiver checks what it got against what was sent without sharing state.
//! A third are binary (`application/x-xdr`, random bytes), a third JSON typed
//! `application/json`, a third JSON with an empty content type; most carry a
//! Stellar cursor; all carry metadata and a millisecond timestamp.

use std::collections::HashMap;

use flowctl::grpc::pb;

pub const BASE_MS: i64 = 1_700_000_000_000;
pub const SOURCE_COMPONENT: &str = "test-source";

pub fn id(i: u64) -> String {
    format!("ev-{i:08}")
}

pub fn index_of(id: &str) -> u64 {
    id.strip_prefix("ev-").and_then(|n| n.parse().ok()).unwrap_or_else(|| panic!("not a generated id: {id}"))
}

fn splitmix(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

fn binary_payload(i: u64) -> Vec<u8> {
    let mut state = i;
    (0..40).flat_map(|_| splitmix(&mut state).to_le_bytes()).collect()
}

fn json_payload(i: u64) -> Vec<u8> {
    let value = serde_json::json!({
        "seq": i,
        "from": format!("G{:055}", i),
        "to": format!("G{:055}", i * 7 + 3),
        "amount": (i * 7919) % 1_000_003,
        "asset": {"code": "USDC", "issuer": "GA5ZSEJYB37JRC5AVCIA5MOP4RHTM335X2KGX3IHOJAPP5RE34K4KZVN"},
        "memo": "payment for services rendered, invoice 2024-0001",
        "ok": i.is_multiple_of(2),
        "fee": 100.5
    });
    serde_json::to_vec(&value).unwrap()
}

/// Event `i` of every generated stream.
pub fn event(i: u64) -> pb::Event {
    let (event_type, payload, content_type) = match i % 3 {
        0 => ("stellar.ledger_entry.xdr.v1", binary_payload(i), "application/x-xdr"),
        1 => ("payment.v1", json_payload(i), "application/json"),
        _ => ("payment.v1", json_payload(i), ""),
    };
    let ms = BASE_MS + i as i64;
    pb::Event {
        id: id(i),
        r#type: event_type.into(),
        payload: payload.into(),
        metadata: HashMap::from([("network".to_owned(), "testnet".to_owned()), ("n".to_owned(), i.to_string())]),
        timestamp: Some(prost_types::Timestamp { seconds: ms / 1000, nanos: (ms % 1000) as i32 * 1_000_000 }),
        source_component_id: SOURCE_COMPONENT.into(),
        content_type: content_type.into(),
        stellar_cursor: (i % 5 != 4)
            .then_some(pb::StellarCursor { ledger_sequence: 50_000_000 + i / 16, index_in_ledger: (i % 16) as u32 }),
    }
}

/// Asserts that `got` is event `i` as it was sent: id, type, payload (JSON
/// equal, binary identical), content type, timestamp, source component,
/// cursor, and every metadata entry (flowctl may add `flowctl.*` keys).
pub fn assert_intact(got: &pb::Event, i: u64) {
    let sent = event(i);
    assert_eq!(got.id, sent.id, "event {i}: id");
    assert_eq!(got.r#type, sent.r#type, "{}: type", sent.id);
    assert_eq!(got.content_type, sent.content_type, "{}: content_type", sent.id);
    if i.is_multiple_of(3) {
        assert_eq!(got.payload, sent.payload, "{}: binary payload", sent.id);
    } else {
        let got_json: serde_json::Value = serde_json::from_slice(&got.payload).unwrap();
        let sent_json: serde_json::Value = serde_json::from_slice(&sent.payload).unwrap();
        assert_eq!(got_json, sent_json, "{}: JSON payload", sent.id);
    }
    assert_eq!(got.timestamp, sent.timestamp, "{}: timestamp", sent.id);
    assert_eq!(got.source_component_id, sent.source_component_id, "{}: source_component_id", sent.id);
    assert_eq!(got.stellar_cursor, sent.stellar_cursor, "{}: stellar_cursor", sent.id);
    for (key, value) in &sent.metadata {
        assert_eq!(got.metadata.get(key), Some(value), "{}: metadata {key}", sent.id);
    }
}
