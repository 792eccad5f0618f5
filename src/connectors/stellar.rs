//! The `stellar` generator profile: Horizon-shaped transactions for the `ttp`
//! processor. `data` is a Horizon transaction record plus an `operations`
//! array of 1 to 4 Horizon operation records (see [`super::stellar_ops`]).
//! Ledgers close every 5 s of synthetic time from 2025-01-01, so `data` is the
//! same for the same seed on every run.

use serde_json::Value;

use super::rng::SplitMix64;
use super::stellar_ops::{decimal, random_hash, Fields, OpContext, World};

/// Event type of the `stellar` profile.
pub const EVENT_TYPE: &str = "stellar.transaction.v1";

/// Close time of the first synthetic ledger: 2025-01-01T00:00:00Z.
const FIRST_CLOSE_UNIX: i64 = 1_735_689_600;
const LEDGER_SECONDS: i64 = 5;

const MEMOS: [&str; 6] = ["invoice 1042", "rent", "payroll", "thanks!", "exchange deposit", "refund"];

/// Generates transactions ledger by ledger.
pub struct StellarProfile {
    rng: SplitMix64,
    world: World,
    /// Next sequence number per account (Horizon's `source_account_sequence`).
    sequences: Vec<u64>,
    first_ledger: u64,
    ledger: u64,
    /// Application order of the next transaction in the ledger, from 1.
    tx_order: u64,
    txs_in_ledger: u64,
    /// `created_at` of the current ledger, formatted once per ledger.
    created_at: String,
}

impl StellarProfile {
    pub fn new(seed: u64) -> Self {
        let mut rng = SplitMix64::new(seed);
        let world = World::new(&mut rng);
        let sequences = (0..world.accounts.len()).map(|_| rng.range(1 << 32, 1 << 40) << 12).collect();
        let first_ledger = 50_000_000 + rng.below(1_000_000);
        let mut profile = Self {
            rng,
            world,
            sequences,
            first_ledger,
            ledger: first_ledger,
            tx_order: 1,
            txs_in_ledger: 0,
            created_at: String::new(),
        };
        profile.open_ledger(first_ledger);
        profile
    }

    fn open_ledger(&mut self, ledger: u64) {
        self.ledger = ledger;
        self.tx_order = 1;
        self.txs_in_ledger = self.rng.range(20, 300);
        let close = FIRST_CLOSE_UNIX + (ledger - self.first_ledger) as i64 * LEDGER_SECONDS;
        self.created_at = rfc3339(close);
    }

    /// The next transaction record, with its operations under `operations`.
    pub fn transaction(&mut self) -> Value {
        if self.tx_order > self.txs_in_ledger {
            self.open_ledger(self.ledger + 1);
        }
        let rng = &mut self.rng;
        let toid = (self.ledger << 32) | (self.tx_order << 12);
        self.tx_order += 1;
        let hash = random_hash(rng);
        let successful = !rng.percent(2);
        let op_count = match rng.below(100) {
            0..65 => 1,
            65..85 => 2,
            85..95 => 3,
            _ => 4,
        };
        let ctx = OpContext { toid, created_at: &self.created_at, transaction_hash: &hash, successful };
        let mut source = None;
        let operations: Vec<Value> = (0..op_count)
            .map(|i| {
                let (op, op_source) = self.world.operation(rng, &ctx, i);
                source.get_or_insert(op_source);
                op
            })
            .collect();
        let source = source.unwrap_or(0);
        let fee_source = if rng.percent(5) { rng.below(self.world.accounts.len() as u64) as usize } else { source };
        let base_fee = [100u64, 100, 100, 200, 1000][rng.below(5) as usize];
        self.sequences[source] += 1;

        let mut tx = Fields::with_capacity(16);
        tx.put("id", hash.clone());
        tx.put("paging_token", decimal(toid));
        tx.put("successful", successful);
        tx.put("hash", hash);
        tx.put("ledger", self.ledger);
        tx.put("created_at", self.created_at.clone());
        tx.put("source_account", self.world.accounts[source].clone());
        tx.put("source_account_sequence", decimal(self.sequences[source]));
        tx.put("fee_account", self.world.accounts[fee_source].clone());
        tx.put("fee_charged", decimal(base_fee * op_count));
        tx.put("max_fee", decimal(base_fee * op_count * 10));
        tx.put("operation_count", op_count);
        match rng.below(10) {
            0..7 => {
                tx.put("memo_type", "none");
            }
            7..9 => {
                tx.put("memo_type", "text");
                tx.put("memo", MEMOS[rng.below(MEMOS.len() as u64) as usize]);
            }
            _ => {
                tx.put("memo_type", "id");
                tx.put("memo", decimal(rng.below(1 << 40)));
            }
        }
        tx.put("operations", Value::Array(operations));
        tx.into_value()
    }
}

/// A Stellar account id (`G...`, 56 characters): version byte, ed25519 key and
/// CRC16-XModem checksum in RFC 4648 base32, exactly as StrKey encodes it.
pub fn account_strkey(public_key: &[u8; 32]) -> String {
    const VERSION_ACCOUNT_ID: u8 = 6 << 3;
    let mut raw = Vec::with_capacity(35);
    raw.push(VERSION_ACCOUNT_ID);
    raw.extend_from_slice(public_key);
    let crc = crc16_xmodem(&raw);
    raw.extend_from_slice(&crc.to_le_bytes());
    base32(&raw)
}

fn crc16_xmodem(bytes: &[u8]) -> u16 {
    let mut crc: u16 = 0;
    for &b in bytes {
        crc ^= u16::from(b) << 8;
        for _ in 0..8 {
            crc = if crc & 0x8000 != 0 { (crc << 1) ^ 0x1021 } else { crc << 1 };
        }
    }
    crc
}

/// RFC 4648 base32 without padding (the input here is always a multiple of 5 bytes).
fn base32(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let mut out = String::with_capacity(bytes.len().div_ceil(5) * 8);
    let (mut buffer, mut bits) = (0u32, 0u32);
    for &b in bytes {
        buffer = (buffer << 8) | u32::from(b);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            out.push(char::from(ALPHABET[((buffer >> bits) & 31) as usize]));
        }
    }
    if bits > 0 {
        out.push(char::from(ALPHABET[((buffer << (5 - bits)) & 31) as usize]));
    }
    out
}

/// `YYYY-MM-DDTHH:MM:SSZ` for a unix time (Horizon's `created_at` form).
pub fn rfc3339(unix_secs: i64) -> String {
    let (days, secs) = (unix_secs.div_euclid(86_400), unix_secs.rem_euclid(86_400));
    // Civil-from-days (H. Hinnant): shift the epoch to 0000-03-01 so leap days end a year.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z", secs / 3_600, secs % 3_600 / 60, secs % 60)
}

#[cfg(test)]
#[path = "stellar_tests.rs"]
mod tests;
