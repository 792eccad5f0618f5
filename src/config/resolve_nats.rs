//! `type: nats` connector configs: defaults and checks (`docs/scale-out.md`).

use serde_saphyr::Spanned;

use super::defaults;
use super::model::{NatsSinkConfig, NatsSourceConfig};
use super::raw_nats::{RawNatsSink, RawNatsSource};
use super::resolve::Resolver;

/// JetStream names (streams, consumers) may not hold these.
fn valid_name(r: &mut Resolver, name: &Spanned<String>, key: String) -> String {
    if name.value.is_empty() || name.value.contains(['.', '*', '>', ' ', '/', '\\']) {
        r.problems.on(name, key, format!("{:?} is not a JetStream name (no spaces, dots, *, >, slashes)", name.value));
    }
    name.value.clone()
}

fn url(r: &mut Resolver, url: Option<&Spanned<String>>, key: &str) -> String {
    let Some(url) = url else { return defaults::NATS_URL.to_owned() };
    if !url.value.starts_with("nats://") && !url.value.starts_with("tls://") && !url.value.contains(':') {
        r.problems.on(
            url,
            format!("{key}.config.url"),
            format!("{:?} is not a NATS URL (e.g. nats://127.0.0.1:4222)", url.value),
        );
    }
    url.value.clone()
}

pub(super) fn source(r: &mut Resolver, raw: &RawNatsSource, key: &str) -> NatsSourceConfig {
    let batch = raw
        .batch
        .as_ref()
        .map_or(defaults::NATS_BATCH, |b| r.positive(b, &format!("{key}.config.batch"), defaults::NATS_BATCH));
    let ack_wait = match &raw.ack_wait {
        None => defaults::NATS_ACK_WAIT,
        Some(text) => match r.duration(text, &format!("{key}.config.ack_wait")) {
            Some(d) if d.is_zero() => {
                r.problems.on(text, format!("{key}.config.ack_wait"), "must be longer than 0s");
                defaults::NATS_ACK_WAIT
            }
            Some(d) => d,
            None => defaults::NATS_ACK_WAIT,
        },
    };
    let max_ack_pending = match &raw.max_ack_pending {
        None => defaults::NATS_MAX_ACK_PENDING,
        Some(max) if max.value < 1 => {
            r.problems.on(max, format!("{key}.config.max_ack_pending"), "must be at least 1");
            defaults::NATS_MAX_ACK_PENDING
        }
        Some(max) => max.value,
    };
    NatsSourceConfig {
        url: url(r, raw.url.as_ref(), key),
        stream: valid_name(r, &raw.stream, format!("{key}.config.stream")),
        subject: raw.subject.as_ref().map(|s| s.value.clone()),
        durable: valid_name(r, &raw.durable, format!("{key}.config.durable")),
        batch,
        ack_wait,
        max_ack_pending,
    }
}

pub(super) fn sink(r: &mut Resolver, raw: &RawNatsSink, key: &str) -> NatsSinkConfig {
    if raw.subject.value.is_empty() || raw.subject.value.contains(['*', '>', ' ']) {
        r.problems.on(
            &raw.subject,
            format!("{key}.config.subject"),
            "must be one subject to publish to (no wildcards or spaces)",
        );
    }
    NatsSinkConfig {
        url: url(r, raw.url.as_ref(), key),
        stream: valid_name(r, &raw.stream, format!("{key}.config.stream")),
        subject: raw.subject.value.clone(),
    }
}
