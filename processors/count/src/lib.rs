//! `count`: counts events per key and emits the running count. The counts
//! live in flowctl's processor state (`permissions.state: true`), so they
//! survive restarts, hot reloads and crashes, and are exactly-once even though
//! the outputs are at-least-once (see docs/guarantees.md).
//!
//! ```yaml
//! config: {key: data.user}    # any path; default `type`
//! ```
//! For each input, one output: `{"type": "flowctl.count.v1", "data":
//! {"key": <the key>, "count": <events with this key so far>}}`, with the
//! input's id (plus `#count`), timestamp and metadata. An event without the
//! key field is counted under `""`.

use flowctl_sdk::{json, state, Event, Output, Processor, Result, Value};
use serde::Deserialize;

/// Event type of the outputs.
pub const COUNT_TYPE: &str = "flowctl.count.v1";

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    #[serde(default = "default_key")]
    pub key: String,
}

fn default_key() -> String {
    "type".into()
}

impl Default for Config {
    fn default() -> Self {
        Self { key: default_key() }
    }
}

pub struct Count {
    key: String,
}

impl Processor for Count {
    type Config = Config;

    fn new(config: Config) -> Result<Self> {
        Ok(Self { key: config.key })
    }

    fn process(&mut self, event: Event) -> Result<Output> {
        let key = match event.get(&self.key) {
            Some(Value::String(s)) => s,
            Some(Value::Null) | None => String::new(),
            Some(other) => other.to_string(),
        };
        let count = state::add(key.as_bytes(), 1)?;
        let mut out = Event::new(COUNT_TYPE, json!({"key": key, "count": count}));
        out.id = format!("{}#count", event.id);
        out.timestamp = event.timestamp;
        out.metadata = event.metadata;
        Ok(Output::One(out))
    }
}

flowctl_sdk::processor!(Count);

#[cfg(test)]
mod tests {
    use super::*;

    fn event(id: &str, user: &str) -> Event {
        let mut e = Event::new("t", json!({"user": user}));
        e.id = id.into();
        e
    }

    #[test]
    fn counts_per_key() {
        let mut count = Count::new(Config { key: "data.user".into() }).expect("new");
        let counts: Vec<Value> = [("1", "a"), ("2", "b"), ("3", "a")]
            .into_iter()
            .map(|(id, user)| match count.process(event(id, user)).expect("process") {
                Output::One(e) => e.data["count"].clone(),
                other => panic!("one output expected, got {other:?}"),
            })
            .collect();
        assert_eq!(counts, [json!(1), json!(1), json!(2)]);
    }
}
