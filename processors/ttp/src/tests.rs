//! ttp on hand-made Horizon records: each kind, issuer detection, the fee,
//! failed transactions, filtering and malformed input.

use super::*;
use flowctl_sdk::json;

const ALICE: &str = "GC5LF63GRVIT5ZXXCXLPI3RX2YXKJQFZVBSAO6AUELN3YIMSWPD6Z6FH";
const BOB: &str = "GAFK7XFZHMLSNV7OJTBO7BAIZA66X6QIBV5RMZZYXK4Q7ZSO52J5C3WQ";
const ISSUER: &str = "GA5ZSEJYB37JRC5AVCIA5MOP4RHTM335X2KGX3IHOJAPP5RE34K4KZVN";

fn tx(operations: Value) -> Value {
    json!({
        "id": "abc", "hash": "abc", "ledger": 52446855, "created_at": "2024-07-06T10:13:42Z",
        "source_account": ALICE, "fee_account": BOB, "fee_charged": "100", "successful": true,
        "operations": operations,
    })
}

fn usdc_payment(from: &str, to: &str) -> Value {
    json!({"type": "payment", "from": from, "to": to, "asset_type": "credit_alphanum4",
           "asset_code": "USDC", "asset_issuer": ISSUER, "amount": "39.0000000"})
}

fn run(data: Value) -> Result<Vec<Event>> {
    let mut ttp = Ttp::new(Config::default()).unwrap();
    match ttp.process(Event::new(INPUT_TYPE, data))? {
        Output::None => Ok(vec![]),
        Output::One(event) => Ok(vec![event]),
        Output::Many(events) => Ok(events),
    }
}

/// The `data` of each output, without its fee.
fn movements(data: Value) -> Vec<Value> {
    run(data).unwrap().into_iter().map(|e| e.data).filter(|d| d.get("fee").is_none()).collect()
}

fn error(data: Value) -> String {
    run(data).unwrap_err().message().to_string()
}

fn usdc() -> Value {
    json!({"code": "USDC", "issuer": ISSUER})
}

#[test]
fn payments_are_transfers_mints_or_burns_by_the_issuer() {
    let out = movements(tx(json!([usdc_payment(ALICE, BOB), usdc_payment(ISSUER, BOB), usdc_payment(ALICE, ISSUER)])));
    let body = |from, to| json!({"from": from, "to": to, "asset": usdc(), "amount": "39.0000000"});
    assert_eq!(out[0]["transfer"], body(ALICE, BOB));
    assert_eq!(out[1]["mint"], body(ISSUER, BOB));
    assert_eq!(out[2]["burn"], body(ALICE, ISSUER));
    assert_eq!(out.len(), 3);
}

#[test]
fn native_payments_are_always_transfers() {
    let op = json!({"type": "payment", "from": ALICE, "to": BOB, "asset_type": "native", "amount": "1.5"});
    let out = movements(tx(json!([op])));
    assert_eq!(out[0]["transfer"], json!({"from": ALICE, "to": BOB, "asset": "native", "amount": "1.5"}));
}

#[test]
fn create_account_is_a_native_transfer_of_the_starting_balance() {
    let op = json!({"type": "create_account", "funder": ALICE, "account": BOB, "starting_balance": "4.0000000"});
    let out = movements(tx(json!([op])));
    assert_eq!(out[0]["transfer"], json!({"from": ALICE, "to": BOB, "asset": "native", "amount": "4.0000000"}));
}

#[test]
fn path_payments_carry_both_sides() {
    for kind in ["path_payment_strict_send", "path_payment_strict_receive"] {
        let op = json!({"type": kind, "from": ALICE, "to": BOB, "asset_type": "credit_alphanum4",
            "asset_code": "USDC", "asset_issuer": ISSUER, "amount": "0.1000000",
            "source_asset_type": "native", "source_amount": "0.0198773", "path": []});
        let out = movements(tx(json!([op])));
        let expected = json!({"from": ALICE, "to": BOB, "asset": usdc(), "amount": "0.1000000",
            "source_asset": "native", "source_amount": "0.0198773"});
        assert_eq!(out[0]["transfer"], expected, "{kind}");
    }
    // Paid out by the destination asset's issuer: a mint of that asset.
    let op = json!({"type": "path_payment_strict_receive", "from": ISSUER, "to": BOB, "asset_type": "credit_alphanum4",
        "asset_code": "USDC", "asset_issuer": ISSUER, "amount": "5.0000000", "source_asset_type": "credit_alphanum12",
        "source_asset_code": "Hello", "source_asset_issuer": ALICE, "source_amount": "6.0000000"});
    let out = movements(tx(json!([op])));
    assert_eq!(out[0]["mint"]["source_asset"], json!({"code": "Hello", "issuer": ALICE}));
}

#[test]
fn account_merge_moves_lumens_with_the_amount_if_known() {
    let op = json!({"type": "account_merge", "account": ALICE, "into": BOB});
    let out = movements(tx(json!([op])));
    assert_eq!(out[0]["transfer"], json!({"from": ALICE, "to": BOB, "asset": "native", "amount": null}));
    let op = json!({"type": "account_merge", "account": ALICE, "into": BOB, "amount": "12.0000000"});
    assert_eq!(movements(tx(json!([op])))[0]["transfer"]["amount"], "12.0000000");
}

#[test]
fn clawback_goes_back_to_the_issuer() {
    let op = json!({"type": "clawback", "from": ALICE, "asset_type": "credit_alphanum4", "asset_code": "USDC",
        "asset_issuer": ISSUER, "amount": "1234.0000000"});
    let out = movements(tx(json!([op])));
    assert_eq!(out[0]["clawback"], json!({"from": ALICE, "to": ISSUER, "asset": usdc(), "amount": "1234.0000000"}));
}

#[test]
fn the_fee_comes_first_with_meta_and_ids() {
    let out = run(tx(json!([{"type": "manage_sell_offer", "amount": "1.0"}, usdc_payment(ALICE, BOB)]))).unwrap();
    assert_eq!(out.len(), 2);
    assert_eq!(out[0].id, "abc-0");
    assert_eq!(out[0].event_type, OUTPUT_TYPE);
    assert_eq!(out[0].timestamp, 0);
    assert_eq!(
        out[0].data,
        json!({"meta": {"ledger_sequence": 52446855, "closed_at": "2024-07-06T10:13:42Z", "tx_hash": "abc",
                        "operation_index": null},
               "fee": {"from": BOB, "to": null, "asset": "native", "amount": "0.0000100"}})
    );
    // The skipped offer keeps its place in operation_index but takes no id.
    assert_eq!(out[1].id, "abc-1");
    assert_eq!(out[1].data["meta"]["operation_index"], 1);
}

#[test]
fn the_fee_falls_back_to_the_source_account_and_takes_integers() {
    let mut data = tx(json!([]));
    data["fee_account"] = Value::Null;
    data["fee_charged"] = json!(300);
    let out = run(data).unwrap();
    assert_eq!(out[0].data["fee"], json!({"from": ALICE, "to": null, "asset": "native", "amount": "0.0000300"}));
}

#[test]
fn without_fee_charged_there_is_no_fee_and_ids_still_start_at_1() {
    let mut data = tx(json!([usdc_payment(ALICE, BOB), usdc_payment(BOB, ALICE)]));
    data.as_object_mut().unwrap().remove("fee_charged");
    let ids: Vec<_> = run(data).unwrap().into_iter().map(|e| e.id).collect();
    assert_eq!(ids, ["abc-1", "abc-2"]);
}

#[test]
fn failed_transactions_pay_the_fee_but_move_nothing() {
    let mut data = tx(json!([usdc_payment(ALICE, BOB)]));
    data["successful"] = json!(false);
    let out = run(data).unwrap();
    assert_eq!(out.len(), 1);
    assert!(out[0].data.get("fee").is_some());
    // Without `successful`, the operation's own `transaction_successful` decides.
    let mut failed_op = usdc_payment(ALICE, BOB);
    failed_op["transaction_successful"] = json!(false);
    let mut data = tx(json!([failed_op, usdc_payment(BOB, ALICE)]));
    data.as_object_mut().unwrap().remove("successful");
    let out = movements(data);
    assert_eq!(out.len(), 1);
    assert_eq!(out[0]["transfer"]["from"], BOB);
}

#[test]
fn unknown_operations_are_skipped() {
    let ops = json!([{"type": "set_options", "master_key_weight": 0}, {"type": "invoke_host_function", "amount": 5}]);
    assert!(movements(tx(ops)).is_empty());
}

#[test]
fn other_event_types_are_filtered_and_untyped_events_read() {
    let mut ttp = Ttp::new(Config::default()).unwrap();
    let other = Event::new("shop.order.v1", json!({"operations": "not even valid"}));
    assert_eq!(ttp.process(other).unwrap(), Output::None);
    let untyped = Event { id: "e1".into(), data: tx(json!([])), ..Event::default() };
    assert!(matches!(ttp.process(untyped).unwrap(), Output::Many(events) if events.len() == 1));
}

#[test]
fn ids_fall_back_to_the_transaction_id_then_the_event_id() {
    let mut data = tx(json!([]));
    data.as_object_mut().unwrap().remove("hash");
    data["id"] = json!("tx-id");
    assert_eq!(run(data.clone()).unwrap()[0].id, "tx-id-0");
    assert_eq!(run(data.clone()).unwrap()[0].data["meta"]["tx_hash"], Value::Null);
    data.as_object_mut().unwrap().remove("id");
    let mut ttp = Ttp::new(Config::default()).unwrap();
    let event = Event { id: "gen-7".into(), ..Event::new(INPUT_TYPE, data) };
    let Output::Many(out) = ttp.process(event).unwrap() else { panic!("expected events") };
    assert_eq!(out[0].id, "gen-7-0");
}

#[test]
fn malformed_transactions_are_errors() {
    assert_eq!(error(json!([1])), "ttp: data must be a Horizon transaction object, got an array");
    let mut data = tx(json!([]));
    data.as_object_mut().unwrap().remove("operations");
    assert_eq!(error(data), "ttp: transaction abc: missing `operations`");
    assert_eq!(error(tx(json!({"0": {}}))), "ttp: transaction abc: `operations` must be an array, got an object");
    let mut data = tx(json!([]));
    data["ledger"] = json!("52446855");
    assert!(error(data).contains("`ledger` must be a ledger sequence number"));
    let mut data = tx(json!([]));
    data["fee_charged"] = json!("1.5");
    assert!(error(data).starts_with("ttp: transaction abc: `fee_charged` must be whole stroops"));
    let mut data = tx(json!([]));
    data["successful"] = json!("yes");
    assert_eq!(error(data), "ttp: transaction abc: `successful` must be a boolean, got a string");
}

#[test]
fn malformed_operations_name_the_index_and_field() {
    let mut no_amount = usdc_payment(ALICE, BOB);
    no_amount.as_object_mut().unwrap().remove("amount");
    assert_eq!(
        error(tx(json!([usdc_payment(ALICE, BOB), no_amount]))),
        "ttp: transaction abc: operation 1 (payment): missing field `amount`"
    );
    let mut bad_amount = usdc_payment(ALICE, BOB);
    bad_amount["amount"] = json!("12,5");
    assert_eq!(
        error(tx(json!([bad_amount]))),
        "ttp: transaction abc: operation 0 (payment): field `amount` is not a decimal amount: \"12,5\""
    );
    let mut number_amount = usdc_payment(ALICE, BOB);
    number_amount["amount"] = json!(12.5);
    assert_eq!(
        error(tx(json!([number_amount]))),
        "ttp: transaction abc: operation 0 (payment): field `amount` must be a string, got a number"
    );
    let mut no_issuer = usdc_payment(ALICE, BOB);
    no_issuer.as_object_mut().unwrap().remove("asset_issuer");
    assert!(error(tx(json!([no_issuer]))).ends_with("operation 0 (payment): missing field `asset_issuer`"));
    let pp = json!({"type": "path_payment_strict_send", "from": ALICE, "to": BOB, "asset_type": "native",
        "amount": "1.0", "source_asset_type": "native"});
    assert!(error(tx(json!([pp]))).ends_with("operation 0 (path_payment_strict_send): missing field `source_amount`"));
    let merge = json!({"type": "account_merge", "account": ALICE, "into": BOB, "amount": "lots"});
    assert!(error(tx(json!([merge]))).ends_with("field `amount` is not a decimal amount: \"lots\""));
    let claw = json!({"type": "clawback", "from": ALICE, "asset_type": "native", "amount": "1.0"});
    assert!(error(tx(json!([claw]))).ends_with("operation 0 (clawback): the native asset cannot be clawed back"));
    assert_eq!(error(tx(json!(["payment"]))), "ttp: transaction abc: operation 0 is not an object but a string");
    assert_eq!(error(tx(json!([{"from": ALICE}]))), "ttp: transaction abc: operation 0: missing field `type`");
}

#[test]
fn failed_transactions_are_not_validated_beyond_the_fee() {
    // Their operations moved nothing, so ttp does not read them.
    let mut data = tx(json!([{"type": "payment"}]));
    data["successful"] = json!(false);
    assert_eq!(run(data).unwrap().len(), 1);
}

#[test]
fn config_takes_nothing() {
    assert!(serde_json::from_str::<Config>("{}").is_ok());
    assert!(serde_json::from_str::<Config>(r#"{"x": 1}"#).is_err());
}
