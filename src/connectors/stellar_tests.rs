use std::collections::{BTreeMap, HashSet};

use serde_json::Value;

use super::super::stellar_ops::{ACCOUNT_COUNT, ASSETS, OP_KINDS};
use super::*;

fn transactions(n: usize, seed: u64) -> Vec<Value> {
    let mut p = StellarProfile::new(seed);
    (0..n).map(|_| p.transaction()).collect()
}

fn str_field<'a>(v: &'a Value, key: &str) -> &'a str {
    v[key].as_str().unwrap_or_else(|| panic!("{key} is not a string in {v}"))
}

fn is_account(s: &str) -> bool {
    s.len() == 56 && s.starts_with('G') && s.bytes().all(|b| b.is_ascii_uppercase() || (b'2'..=b'7').contains(&b))
}

fn is_amount(s: &str) -> bool {
    let Some((whole, frac)) = s.split_once('.') else { return false };
    !whole.is_empty()
        && whole.bytes().all(|b| b.is_ascii_digit())
        && frac.len() == 7
        && frac.bytes().all(|b| b.is_ascii_digit())
}

#[test]
fn strkey_matches_the_network_encoding() {
    assert_eq!(account_strkey(&[0; 32]), "GAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAWHF");
}

#[test]
fn rfc3339_formats_civil_dates() {
    assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
    assert_eq!(rfc3339(1_735_689_600), "2025-01-01T00:00:00Z");
    assert_eq!(rfc3339(951_782_400 + 3_661), "2000-02-29T01:01:01Z");
    assert_eq!(rfc3339(4_107_542_399), "2100-02-28T23:59:59Z");
}

#[test]
fn transactions_have_horizon_shape() {
    let txs = transactions(1000, 42);
    let mut hashes = HashSet::new();
    let mut op_ids = HashSet::new();
    for tx in &txs {
        let hash = str_field(tx, "hash");
        assert!(hash.len() == 64 && hash.bytes().all(|b| b.is_ascii_hexdigit()), "{hash}");
        assert_eq!(tx["id"], tx["hash"]);
        assert!(hashes.insert(hash.to_string()), "duplicate hash");
        assert!(tx["ledger"].as_u64().is_some_and(|l| l >= 50_000_000));
        let created_at = str_field(tx, "created_at");
        assert!(
            created_at.len() == 20 && created_at.ends_with('Z') && created_at.as_bytes()[10] == b'T',
            "{created_at}"
        );
        assert!(is_account(str_field(tx, "source_account")));
        assert!(is_account(str_field(tx, "fee_account")));
        assert!(str_field(tx, "fee_charged").parse::<u64>().is_ok());
        assert!(str_field(tx, "max_fee").parse::<u64>().is_ok());
        assert!(str_field(tx, "paging_token").parse::<u64>().is_ok());
        assert!(["none", "text", "id"].contains(&str_field(tx, "memo_type")));
        let ops = tx["operations"].as_array().expect("operations array");
        assert!((1..=4).contains(&ops.len()));
        assert_eq!(tx["operation_count"], ops.len() as u64);
        assert_eq!(ops[0]["source_account"], tx["source_account"]);
        for op in ops {
            assert!(op_ids.insert(str_field(op, "id").to_string()), "duplicate op id");
            assert_eq!(op["paging_token"], op["id"]);
            assert_eq!(op["transaction_hash"], tx["hash"]);
            assert_eq!(op["transaction_successful"], tx["successful"]);
            assert_eq!(op["created_at"], tx["created_at"]);
            assert!(is_account(str_field(op, "source_account")));
            let kind = str_field(op, "type");
            let (_, type_i, _) = OP_KINDS.iter().find(|(k, _, _)| *k == kind).expect("known kind");
            assert_eq!(op["type_i"], *type_i, "{kind}");
        }
    }
    let ledgers: Vec<u64> = txs.iter().filter_map(|t| t["ledger"].as_u64()).collect();
    assert!(ledgers.windows(2).all(|w| w[0] <= w[1]), "ledgers only move forward");
    assert!(ledgers[999] > ledgers[0], "1000 transactions span several ledgers");
}

#[test]
fn every_operation_kind_appears_with_its_fields() {
    let txs = transactions(1000, 7);
    let mut by_kind: BTreeMap<String, Vec<Value>> = BTreeMap::new();
    for op in txs.iter().flat_map(|t| t["operations"].as_array().cloned().unwrap_or_default()) {
        by_kind.entry(str_field(&op, "type").to_string()).or_default().push(op);
    }
    for (kind, _, _) in OP_KINDS {
        assert!(by_kind.get(kind).is_some_and(|v| v.len() >= 5), "{kind} is missing or rare");
    }
    let required: &[(&str, &[&str])] = &[
        ("payment", &["from", "to", "amount", "asset_type"]),
        ("create_account", &["funder", "account", "starting_balance"]),
        (
            "path_payment_strict_send",
            &["from", "to", "amount", "source_amount", "asset_type", "source_asset_type", "path", "destination_min"],
        ),
        (
            "path_payment_strict_receive",
            &["from", "to", "amount", "source_amount", "asset_type", "source_asset_type", "path", "source_max"],
        ),
        ("account_merge", &["account", "into"]),
        ("clawback", &["from", "amount", "asset_type", "asset_code", "asset_issuer"]),
        ("manage_sell_offer", &["amount", "price", "price_r", "buying_asset_type", "selling_asset_type", "offer_id"]),
    ];
    for (kind, fields) in required {
        for op in &by_kind[*kind] {
            for f in *fields {
                assert!(!op[*f].is_null(), "{kind} lacks {f}: {op}");
            }
            for f in ["amount", "starting_balance", "source_amount", "destination_min", "source_max"] {
                if let Some(a) = op.get(f) {
                    assert!(a.as_str().is_some_and(is_amount), "{kind}.{f} = {a}");
                }
            }
            for prefix in ["", "source_", "buying_", "selling_"] {
                match op.get(format!("{prefix}asset_type")).and_then(Value::as_str) {
                    None => {}
                    Some("native") => assert!(op.get(format!("{prefix}asset_code")).is_none()),
                    Some(t) => {
                        let code = str_field(op, &format!("{prefix}asset_code"));
                        let want = if code.len() <= 4 { "credit_alphanum4" } else { "credit_alphanum12" };
                        assert_eq!(t, want, "{code}");
                        assert!(is_account(str_field(op, &format!("{prefix}asset_issuer"))));
                    }
                }
            }
        }
    }
    for op in &by_kind["clawback"] {
        assert_eq!(op["source_account"], op["asset_issuer"], "only the issuer claws back");
    }
    let credit = |op: &&Value| op["asset_type"] != "native";
    let mints = by_kind["payment"].iter().filter(credit).filter(|op| op["from"] == op["asset_issuer"]).count();
    let burns = by_kind["payment"].iter().filter(credit).filter(|op| op["to"] == op["asset_issuer"]).count();
    assert!(mints > 0 && burns > 0, "mints {mints}, burns {burns}");
}

#[test]
fn small_world_and_some_failures() {
    let txs = transactions(5000, 3);
    let accounts: HashSet<&str> = txs.iter().map(|t| str_field(t, "source_account")).collect();
    assert!(accounts.len() <= ACCOUNT_COUNT);
    let codes: HashSet<&str> = txs
        .iter()
        .flat_map(|t| t["operations"].as_array().into_iter().flatten())
        .filter_map(|op| op["asset_code"].as_str())
        .collect();
    assert_eq!(codes.len(), ASSETS.len());
    let failed = txs.iter().filter(|t| t["successful"] == false).count();
    assert!((25..=200).contains(&failed), "about 2% fail: {failed} of 5000");
}
