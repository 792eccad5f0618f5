//! `type: nats` sources and sinks as written (`docs/scale-out.md`).

use serde::Deserialize;
use serde_saphyr::Spanned;

use super::raw::UnitText;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawNatsSource {
    pub url: Option<Spanned<String>>,
    pub stream: Spanned<String>,
    pub subject: Option<Spanned<String>>,
    pub durable: Spanned<String>,
    pub batch: Option<Spanned<usize>>,
    pub ack_wait: Option<Spanned<UnitText>>,
    pub max_ack_pending: Option<Spanned<i64>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawNatsSink {
    pub url: Option<Spanned<String>>,
    pub stream: Spanned<String>,
    pub subject: Spanned<String>,
}
