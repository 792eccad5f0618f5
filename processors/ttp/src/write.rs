//! The output JSON, written straight from the movements: byte for byte what
//! serializing the same events as `flowctl_sdk::Event`s (whose `data` maps are
//! `serde_json::Value` maps, sorted by key) gives, without building them.

use crate::ops::{Asset, Movement};
use crate::OUTPUT_TYPE;

/// What every event of one transaction shares.
pub struct Meta<'a> {
    /// The ids' prefix: the hash, else the transaction's id, else the event's.
    pub prefix: &'a str,
    pub ledger: Option<u64>,
    pub closed_at: Option<&'a str>,
    pub hash: Option<&'a str>,
}

/// Appends output events to a buffer.
pub struct Writer<'o> {
    out: &'o mut Vec<u8>,
    /// None of the strings written had escapes in the input, so none holds
    /// a quote, backslash or control character: they are written back as
    /// they are, without looking for characters to escape
    /// ([`crate::wire::Event::written_verbatim`]).
    verbatim: bool,
}

impl<'o> Writer<'o> {
    pub fn new(out: &'o mut Vec<u8>, verbatim: bool) -> Self {
        Writer { out, verbatim }
    }

    pub fn raw(&mut self, bytes: &[u8]) {
        self.out.extend_from_slice(bytes);
    }

    /// Appends output event `n` of the transaction, `movement` about
    /// operation `index`, as `{"id", "type", "data"}` (timestamp and
    /// metadata are left to the host to inherit).
    pub fn event(&mut self, meta: &Meta, n: usize, index: Option<usize>, movement: &Movement) {
        self.raw(b"{\"id\":");
        self.id(meta.prefix, n);
        self.raw(b",\"type\":\"");
        self.raw(OUTPUT_TYPE.as_bytes());
        self.raw(b"\",\"data\":{");
        // `data`'s two keys in sorted order, as a `Value` map writes them.
        if movement.kind < "meta" {
            self.body(movement);
            self.raw(b",");
            self.meta(meta, index);
        } else {
            self.meta(meta, index);
            self.raw(b",");
            self.body(movement);
        }
        self.raw(b"}}");
    }

    /// `"meta": {...}`, keys sorted.
    fn meta(&mut self, meta: &Meta, index: Option<usize>) {
        self.raw(b"\"meta\":{\"closed_at\":");
        self.opt_string(meta.closed_at);
        self.raw(b",\"ledger_sequence\":");
        self.opt_number(meta.ledger);
        self.raw(b",\"operation_index\":");
        self.opt_number(index.map(|i| i as u64));
        self.raw(b",\"tx_hash\":");
        self.opt_string(meta.hash);
        self.raw(b"}");
    }

    /// `"<kind>": {"amount", "asset", "from", ["source_amount", "source_asset",] "to"}`.
    fn body(&mut self, m: &Movement) {
        self.raw(b"\"");
        self.raw(m.kind.as_bytes());
        self.raw(b"\":{\"amount\":");
        self.opt_string(m.amount);
        self.raw(b",\"asset\":");
        self.asset(&m.asset);
        self.raw(b",\"from\":");
        self.string(m.from);
        if let Some((source_asset, source_amount)) = &m.source {
            self.raw(b",\"source_amount\":");
            self.string(source_amount);
            self.raw(b",\"source_asset\":");
            self.asset(source_asset);
        }
        self.raw(b",\"to\":");
        self.opt_string(m.to);
        self.raw(b"}");
    }

    fn asset(&mut self, asset: &Asset) {
        match asset {
            Asset::Native => self.raw(b"\"native\""),
            Asset::Credit { code, issuer } => {
                self.raw(b"{\"code\":");
                self.string(code);
                self.raw(b",\"issuer\":");
                self.string(issuer);
                self.raw(b"}");
            }
        }
    }

    /// The id `"<prefix>-<n>"`.
    fn id(&mut self, prefix: &str, n: usize) {
        if self.needs_escape(prefix) {
            self.string(&format!("{prefix}-{n}"));
        } else {
            self.raw(b"\"");
            self.raw(prefix.as_bytes());
            self.raw(b"-");
            self.number(n as u64);
            self.raw(b"\"");
        }
    }

    /// Whether serde_json escapes something in `s`: quotes, backslashes and
    /// control characters (nothing else, not even DEL or non-ASCII).
    fn needs_escape(&self, s: &str) -> bool {
        !self.verbatim && s.bytes().any(|b| b < 0x20 || b == b'"' || b == b'\\')
    }

    /// A JSON string; one with characters to escape goes through serde_json
    /// so the escapes are the ones it writes.
    fn string(&mut self, s: &str) {
        if self.needs_escape(s) {
            // Serializing a str into a Vec cannot fail.
            let _ = serde_json::to_writer(&mut *self.out, s);
        } else {
            self.raw(b"\"");
            self.raw(s.as_bytes());
            self.raw(b"\"");
        }
    }

    fn opt_string(&mut self, s: Option<&str>) {
        match s {
            Some(s) => self.string(s),
            None => self.raw(b"null"),
        }
    }

    fn opt_number(&mut self, n: Option<u64>) {
        match n {
            Some(n) => self.number(n),
            None => self.raw(b"null"),
        }
    }

    /// `n` in decimal, as serde_json writes integers.
    fn number(&mut self, mut n: u64) {
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
        self.raw(&digits[start..]);
    }
}
