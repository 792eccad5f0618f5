//! Horizon operation records for the `stellar` generator profile, with
//! Horizon's field names and numeric type codes, over a small fixed world of
//! accounts and assets so amounts and counterparties repeat like real traffic.

use serde_json::Value;

use super::rng::SplitMix64;

/// Accounts in the synthetic world; the first [`ASSETS`]`.len()` are issuers.
pub const ACCOUNT_COUNT: usize = 50;

/// Credit assets: (code, index of the issuing account). Codes longer than
/// four characters are `credit_alphanum12`, as on the network.
pub const ASSETS: [(&str, usize); 5] = [("USDC", 0), ("EURC", 1), ("AQUA", 2), ("yUSDC", 3), ("BENJI", 4)];

/// Operation kinds the profile emits: (Horizon `type`, `type_i`, weight in percent).
pub const OP_KINDS: [(&str, u64, u64); 7] = [
    ("payment", 1, 52),
    ("create_account", 0, 8),
    ("path_payment_strict_send", 13, 10),
    ("path_payment_strict_receive", 2, 8),
    ("account_merge", 8, 3),
    ("clawback", 19, 5),
    ("manage_sell_offer", 3, 14),
];

/// An asset: `None` is the native asset (XLM), `Some(i)` is `ASSETS[i]`.
type Asset = Option<usize>;

/// Field names for an asset under a prefix, in Horizon's spelling.
struct AssetKeys {
    kind: &'static str,
    code: &'static str,
    issuer: &'static str,
}

const PLAIN: AssetKeys = AssetKeys { kind: "asset_type", code: "asset_code", issuer: "asset_issuer" };
const SOURCE: AssetKeys =
    AssetKeys { kind: "source_asset_type", code: "source_asset_code", issuer: "source_asset_issuer" };
const BUYING: AssetKeys =
    AssetKeys { kind: "buying_asset_type", code: "buying_asset_code", issuer: "buying_asset_issuer" };
const SELLING: AssetKeys =
    AssetKeys { kind: "selling_asset_type", code: "selling_asset_code", issuer: "selling_asset_issuer" };

/// What every operation record of one transaction shares.
pub struct OpContext<'a> {
    /// Transaction TOID; operation `i` has id `toid + i + 1`.
    pub toid: u64,
    pub created_at: &'a str,
    pub transaction_hash: &'a str,
    pub successful: bool,
}

/// The accounts (as strkeys) operations are drawn from.
pub struct World {
    pub accounts: Vec<String>,
}

impl World {
    pub fn new(rng: &mut SplitMix64) -> Self {
        let accounts = (0..ACCOUNT_COUNT)
            .map(|_| {
                let mut key = [0u8; 32];
                for chunk in key.chunks_mut(8) {
                    chunk.copy_from_slice(&rng.next_u64().to_le_bytes());
                }
                super::stellar::account_strkey(&key)
            })
            .collect();
        Self { accounts }
    }

    /// One operation record. Returns it and the index of its source account.
    pub fn operation(&self, rng: &mut SplitMix64, ctx: &OpContext, index: u64) -> (Value, usize) {
        let mut m = Fields::with_capacity(16);
        let mut roll = rng.below(100);
        let (kind, type_i, _) = OP_KINDS
            .iter()
            .copied()
            .find(|(_, _, weight)| {
                let hit = roll < *weight;
                roll = roll.saturating_sub(*weight);
                hit
            })
            .unwrap_or(OP_KINDS[0]);
        let source = match kind {
            "payment" => self.payment(rng, &mut m),
            "create_account" => {
                let (funder, account) = self.two_holders(rng);
                m.put("funder", self.account(funder));
                m.put("account", self.account(account));
                m.put("starting_balance", amount(rng.range(1, 1_000) * 10_000_000));
                funder
            }
            "path_payment_strict_send" | "path_payment_strict_receive" => self.path_payment(rng, &mut m, kind),
            "account_merge" => {
                let (account, into) = self.two_holders(rng);
                m.put("account", self.account(account));
                m.put("into", self.account(into));
                account
            }
            "clawback" => {
                let asset = rng.below(ASSETS.len() as u64) as usize;
                let issuer = ASSETS[asset].1;
                self.put_asset(&mut m, &PLAIN, Some(asset));
                m.put("from", self.account(self.holder(rng)));
                m.put("amount", amount(random_stroops(rng)));
                issuer
            }
            _ => self.sell_offer(rng, &mut m),
        };
        let id = decimal(ctx.toid + index + 1);
        m.put("paging_token", id.clone());
        m.put("id", id);
        m.put("transaction_successful", ctx.successful);
        m.put("source_account", self.account(source));
        m.put("type", kind);
        m.put("type_i", type_i);
        m.put("created_at", ctx.created_at);
        m.put("transaction_hash", ctx.transaction_hash);
        (m.into_value(), source)
    }

    /// A payment; about one in ten is a mint (from the issuer) and one in ten
    /// a burn (to the issuer) of a credit asset.
    fn payment(&self, rng: &mut SplitMix64, m: &mut Fields) -> usize {
        let (mut from, mut to) = self.two_holders(rng);
        let asset = self.random_asset(rng);
        if let Some(i) = asset {
            match rng.below(10) {
                0 => from = ASSETS[i].1,
                1 => to = ASSETS[i].1,
                _ => {}
            }
        }
        self.put_asset(m, &PLAIN, asset);
        m.put("from", self.account(from));
        m.put("to", self.account(to));
        m.put("amount", amount(random_stroops(rng)));
        from
    }

    fn path_payment(&self, rng: &mut SplitMix64, m: &mut Fields, kind: &str) -> usize {
        let (from, to) = self.two_holders(rng);
        let dest_asset = self.random_asset(rng);
        let mut source_asset = self.random_asset(rng);
        if source_asset == dest_asset {
            source_asset = if dest_asset.is_none() { Some(0) } else { None };
        }
        let dest_amount = random_stroops(rng);
        let source_amount = (dest_amount / 100).max(1) * rng.range(90, 110);
        self.put_asset(m, &PLAIN, dest_asset);
        self.put_asset(m, &SOURCE, source_asset);
        m.put("from", self.account(from));
        m.put("to", self.account(to));
        m.put("amount", amount(dest_amount));
        m.put("source_amount", amount(source_amount));
        let hops = rng.below(3);
        let path = (0..hops).map(|_| self.path_asset(rng.below(ASSETS.len() as u64 + 1))).collect();
        m.put("path", Value::Array(path));
        if kind == "path_payment_strict_send" {
            m.put("destination_min", amount(dest_amount / 100 * 98));
        } else {
            m.put("source_max", amount(source_amount / 100 * 102));
        }
        from
    }

    /// An offer selling one asset for another; ttp has no use for it.
    fn sell_offer(&self, rng: &mut SplitMix64, m: &mut Fields) -> usize {
        let seller = self.holder(rng);
        let selling = self.random_asset(rng);
        let buying = if selling.is_none() { Some(rng.below(ASSETS.len() as u64) as usize) } else { None };
        self.put_asset(m, &SELLING, selling);
        self.put_asset(m, &BUYING, buying);
        let (n, d) = (rng.range(1, 50_000), rng.range(1, 10_000));
        m.put("amount", amount(random_stroops(rng)));
        m.put("price", amount(n * 10_000_000 / d));
        let mut price_r = Fields::with_capacity(2);
        price_r.put("n", n);
        price_r.put("d", d);
        m.put("price_r", price_r.into_value());
        m.put("offer_id", decimal(rng.range(0, 1_700_000_000)));
        seller
    }

    fn account(&self, index: usize) -> Value {
        Value::String(self.accounts[index].clone())
    }

    /// Any account that is not an issuer.
    fn holder(&self, rng: &mut SplitMix64) -> usize {
        ASSETS.len() + rng.below((ACCOUNT_COUNT - ASSETS.len()) as u64) as usize
    }

    fn two_holders(&self, rng: &mut SplitMix64) -> (usize, usize) {
        let a = self.holder(rng);
        let mut b = self.holder(rng);
        if a == b {
            b = ASSETS.len() + (b - ASSETS.len() + 1) % (ACCOUNT_COUNT - ASSETS.len());
        }
        (a, b)
    }

    /// Native two times in five, else one of the credit assets.
    fn random_asset(&self, rng: &mut SplitMix64) -> Asset {
        if rng.percent(40) {
            None
        } else {
            Some(rng.below(ASSETS.len() as u64) as usize)
        }
    }

    fn put_asset(&self, m: &mut Fields, keys: &AssetKeys, asset: Asset) {
        match asset {
            None => {
                m.put(keys.kind, "native");
            }
            Some(i) => {
                let (code, issuer) = ASSETS[i];
                m.put(keys.kind, asset_type(code));
                m.put(keys.code, code);
                m.put(keys.issuer, self.account(issuer));
            }
        }
    }

    /// An entry of a path payment's `path`; `ASSETS.len()` picks native.
    fn path_asset(&self, pick: u64) -> Value {
        let mut m = Fields::with_capacity(3);
        self.put_asset(&mut m, &PLAIN, ASSETS.get(pick as usize).map(|_| pick as usize));
        m.into_value()
    }
}

fn asset_type(code: &str) -> &'static str {
    if code.len() <= 4 {
        "credit_alphanum4"
    } else {
        "credit_alphanum12"
    }
}

/// A spread of amounts from dust to large transfers, in stroops.
fn random_stroops(rng: &mut SplitMix64) -> u64 {
    rng.range(1, 10_000_000) * 10u64.pow(rng.below(5) as u32)
}

/// Horizon's amount format: stroops as a decimal with exactly 7 places.
pub fn amount(stroops: u64) -> Value {
    let mut s = String::with_capacity(28);
    push_decimal(&mut s, stroops / 10_000_000);
    s.push('.');
    let mut fraction = stroops % 10_000_000;
    let mut digits = [b'0'; 7];
    for d in digits.iter_mut().rev() {
        *d = b'0' + (fraction % 10) as u8;
        fraction /= 10;
    }
    s.extend(digits.iter().map(|&b| char::from(b)));
    Value::String(s)
}

/// An object's fields, gathered first and then built into a map in one pass:
/// the map's bulk build costs far less than inserting field by field, and this
/// runs dozens of times per generated event.
pub struct Fields(Vec<(String, Value)>);

impl Fields {
    pub fn with_capacity(n: usize) -> Self {
        Self(Vec::with_capacity(n))
    }

    pub fn put(&mut self, key: &'static str, value: impl Into<Value>) {
        self.0.push((key.to_string(), value.into()));
    }

    pub fn into_value(self) -> Value {
        Value::Object(self.0.into_iter().collect())
    }
}

/// `n` in decimal, without the formatting machinery (per field, per event).
pub fn decimal(n: u64) -> String {
    let mut s = String::with_capacity(20);
    push_decimal(&mut s, n);
    s
}

fn push_decimal(s: &mut String, mut n: u64) {
    let mut digits = [0u8; 20];
    let mut start = digits.len();
    loop {
        start -= 1;
        digits[start] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    s.extend(digits[start..].iter().map(|&b| char::from(b)));
}

/// 32 random bytes as 64 lowercase hex digits (a transaction hash).
pub fn random_hash(rng: &mut SplitMix64) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(64);
    for _ in 0..4 {
        let word = rng.next_u64();
        s.extend((0..16).rev().map(|i| char::from(HEX[((word >> (i * 4)) & 15) as usize])));
    }
    s
}
