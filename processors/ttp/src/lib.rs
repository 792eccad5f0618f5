//! `ttp`: a port of Stellar's token-transfer processor. It turns each
//! `stellar.transaction.v1` event into one `stellar.token.transfer.v1` event
//! per movement of value.
//!
//! # Input
//! `data` is a Horizon transaction record (`hash`, `ledger`, `created_at`,
//! `source_account`, `fee_account`, `fee_charged`, `successful`, ...) with an
//! `operations` array of Horizon operation records, exactly as the Horizon
//! API returns them. Events of another (non-empty) type are filtered out
//! (`Output::None`); an event without a type is read as a transaction.
//!
//! # Output
//! Events of type `stellar.token.transfer.v1` whose `data` is
//! `{"meta": {...}, "<kind>": {"from", "to", "asset", "amount"}}`, where
//! `<kind>` is `transfer`, `mint`, `burn`, `clawback` or `fee`:
//! - `meta`: `ledger_sequence` (the transaction's `ledger`), `closed_at` (its
//!   `created_at`), `tx_hash` (its `hash`) and `operation_index` (position of
//!   the operation in `operations`, from 0; null for the fee). Fields the
//!   transaction lacks are null.
//! - `asset` is `"native"` or `{"code", "issuer"}`; amounts are strings, as
//!   Horizon's, passed through unchanged.
//! - The fee comes first: one `fee` event per transaction from `fee_account`
//!   (else `source_account`) with `to: null`, asset `"native"` and
//!   `fee_charged` stroops as a 7-decimal amount (`"100"` -> `"0.0000100"`).
//!   It is emitted for failed transactions too. A transaction without
//!   `fee_charged` (e.g. one assembled from operation records alone) has no
//!   fee event.
//! - Then the operations in order. Those of a failed transaction
//!   (`successful: false`, or when `successful` is absent an operation's own
//!   `transaction_successful: false`) are skipped: they moved nothing.
//! - Ids are `<hash>-<n>` (else the transaction's `id`, else the input's id):
//!   `n` is 0 for the fee and counts the operations' events from 1, so ids
//!   are unique and stable. Timestamp and metadata are inherited.
//!
//! # Operations
//! - `payment`: `from` -> `to`; a `mint` when `from` is the asset's issuer,
//!   a `burn` when `to` is, else a `transfer`.
//! - `create_account`: a transfer of `starting_balance` lumens from `funder`
//!   to `account`.
//! - `path_payment_strict_send` / `path_payment_strict_receive`: one event
//!   for what the recipient got (destination asset and `amount`; mint or burn
//!   by the destination asset's issuer as for payments), with what the sender
//!   spent as `source_asset` and `source_amount` in the same body.
//! - `account_merge`: a lumen transfer from `account` to `into`. Horizon's
//!   record carries no amount (the merged balance is only in the operation's
//!   effects), so `amount` is the record's `amount` if it has one, else null.
//! - `clawback`: kind `clawback` from `from` to the asset's issuer.
//! - Other operation types move no value ttp can see and are skipped.
//!
//! # Errors
//! Malformed input is an error naming the transaction, operation index and
//! field, and the host dead-letters the event: `data` not an object,
//! `operations` missing or not an array, a known operation without a field
//! it needs, or an amount that is not a decimal string.
//!
//! # Implementation
//! The module's entry points, [`Processor::process_batch_json`] and
//! [`Processor::process_json`], read the input JSON into borrowed structs
//! holding only the fields above ([`wire`]) and write the output JSON
//! directly ([`write`]), instead of building the whole transaction as a
//! `Value` and the output as `Event`s; a batch is read in one pass, each
//! transaction straight from it. Input serde refuses goes to the SDK's own
//! parse, so errors read as they did.
//! [`Processor::process`] fills the same structs from the parsed event, and
//! both run the same rules and writer; `wire`'s tests check that the readers
//! agree and that both paths give the same bytes.

mod amount;
mod ops;
mod wire;
mod write;

#[cfg(test)]
use flowctl_sdk::Value;
use flowctl_sdk::{abi, batch, BatchOutput, Error, Event, Input, Output, Processor, Result};
use serde::Deserialize;

pub use amount::{is_decimal, stroops_to_amount};
use ops::{Asset, Movement};
use wire::{Data, Field, Operations};
use write::{Meta, Writer};

/// The type of the events ttp reads.
pub const INPUT_TYPE: &str = "stellar.transaction.v1";
/// The type of the events ttp writes.
pub const OUTPUT_TYPE: &str = "stellar.token.transfer.v1";

/// ttp takes no configuration.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {}

/// The token-transfer processor.
#[derive(Debug, Default)]
pub struct Ttp;

impl Processor for Ttp {
    type Config = Config;
    const INPUT: Input = Input::Json;

    fn new(_config: Config) -> Result<Self> {
        Ok(Ttp)
    }

    fn process(&mut self, event: Event) -> Result<Output> {
        let events = transfers(&event)?;
        Ok(if events.is_empty() { Output::None } else { Output::Many(events) })
    }

    fn process_json(&mut self, input: &[u8], out: &mut Vec<u8>) -> Result<()> {
        // One UTF-8 check of the whole text costs less than serde_json's
        // check of each string it reads (`from_slice`).
        match std::str::from_utf8(input).ok().and_then(read) {
            Some((event, verbatim)) => write_transfers(&event, verbatim, out),
            // `read` accepts what the SDK's parse accepts, so the input is
            // malformed (or not UTF-8 where the SDK does not look): the SDK's
            // own parse words the error, as before.
            None => {
                let event: Event =
                    serde_json::from_slice(input).map_err(|e| Error::new(format!("input event: {e}")))?;
                abi::write_output(out, self.process(event)?)
            }
        }
    }

    fn process_batch_json(&mut self, input: &[u8], out: &mut Vec<u8>) -> Result<BatchOutput> {
        batch::each::<wire::Event, _>(input, out, |event, text, out| match event {
            Ok(event) => write_transfers(&event, event.written_verbatim(), out),
            // Not an event: `process_json` words the error as the SDK does.
            Err(_) => self.process_json(text.as_bytes(), out),
        })?;
        Ok(BatchOutput::Written)
    }
}

flowctl_sdk::processor!(Ttp);

/// The token-transfer events of one transaction event, fee first; none for
/// an event of another type.
pub fn transfers(event: &Event) -> Result<Vec<Event>> {
    // The same rules and writer as the module's path; the strings come from
    // `Value`s, so they are checked for characters to escape.
    let mut out = Vec::new();
    write_transfers(&wire::Event::from_sdk(event), false, &mut out)?;
    Ok(serde_json::from_slice(&out)?)
}

/// Reads an input event with serde, and whether its strings can be written
/// back as they are (see [`write::Writer`]).
fn read(text: &str) -> Option<(wire::Event<'_>, bool)> {
    let event: wire::Event = serde_json::from_str(text).ok()?;
    let verbatim = event.written_verbatim();
    Some((event, verbatim))
}

/// Appends the output of one input event: the JSON array of its events
/// (`[]` when it has none), or nothing if it fails.
fn write_transfers(event: &wire::Event, verbatim: bool, out: &mut Vec<u8>) -> Result<()> {
    if !event.event_type.is_empty() && event.event_type != INPUT_TYPE {
        out.extend_from_slice(b"[]");
        return Ok(());
    }
    let start = out.len();
    let written = write_events(event, &mut Writer::new(out, verbatim));
    if written.is_err() {
        out.truncate(start);
    }
    written
}

fn write_events(event: &wire::Event, out: &mut Writer) -> Result<()> {
    let tx = match &event.data {
        Data::Tx(tx) => tx,
        Data::Other(type_name) => {
            return Err(Error::new(format!("ttp: data must be a Horizon transaction object, got {type_name}")))
        }
    };
    let hash = tx_str(&tx.hash, "hash", "")?;
    let prefix = match hash {
        Some(hash) => hash,
        None => tx_str(&tx.id, "id", "")?.unwrap_or(&event.id),
    };
    let fail = |message: String| Error::new(format!("ttp: transaction {prefix}: {message}"));
    let operations = match &tx.operations {
        Operations::List(operations) => operations,
        Operations::Other(other) => {
            return Err(fail(format!("`operations` must be an array, got {}", other.type_name())))
        }
        Operations::Absent => return Err(fail("missing `operations`".into())),
    };
    let ledger = match &tx.ledger {
        Field::Absent | Field::Null => None,
        Field::Number(n) if n.is_u64() => n.as_u64(),
        other => return Err(fail(format!("`ledger` must be a ledger sequence number, got {other}"))),
    };
    let successful = match &tx.successful {
        Field::Absent | Field::Null => None,
        Field::Bool(ok) => Some(*ok),
        other => return Err(fail(format!("`successful` must be a boolean, got {}", other.type_name()))),
    };
    let meta = Meta { prefix, ledger, closed_at: tx_str(&tx.created_at, "created_at", prefix)?, hash };

    out.raw(b"[");
    let mut first = true;
    let mut emit = |out: &mut Writer, n: usize, index: Option<usize>, movement: &Movement| {
        if !std::mem::take(&mut first) {
            out.raw(b",");
        }
        out.event(&meta, n, index, movement);
    };
    if !tx.fee_charged.is_null() {
        let stroops = amount::parse_stroops(&tx.fee_charged).map_err(fail)?;
        let payer = match tx_str(&tx.fee_account, "fee_account", prefix)? {
            Some(payer) => payer,
            None => tx_str(&tx.source_account, "source_account", prefix)?
                .ok_or_else(|| fail("`fee_charged` without `fee_account` or `source_account`".into()))?,
        };
        let amount = stroops_to_amount(stroops);
        emit(out, 0, None, &Movement::new("fee", payer, None, Asset::Native, Some(&amount)));
    }
    // A failed transaction's operations moved nothing; they are not read.
    if successful != Some(false) {
        let mut n = 1;
        for (index, op) in operations.iter().enumerate() {
            if successful.is_none() && ops::failed(op) {
                continue;
            }
            if let Some(movement) = ops::movement(index, op).map_err(fail)? {
                emit(out, n, Some(index), &movement);
                n += 1;
            }
        }
    }
    out.raw(b"]");
    Ok(())
}

/// A string field of the transaction, None if absent or null.
fn tx_str<'a>(field: &'a Field, name: &str, prefix: &str) -> Result<Option<&'a str>> {
    match field {
        Field::Absent | Field::Null => Ok(None),
        Field::Str(s) => Ok(Some(s)),
        other => {
            let at = if prefix.is_empty() { String::new() } else { format!("transaction {prefix}: ") };
            Err(Error::new(format!("ttp: {at}`{name}` must be a string, got {}", other.type_name())))
        }
    }
}

#[cfg(test)]
mod tests;
