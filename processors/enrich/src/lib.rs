//! `enrich`: adds fields to every event, and optionally the response of an
//! HTTP lookup (which the pipeline must grant with `permissions.http`).
//!
//! ```yaml
//! config:
//!   set: {metadata.region: eu-west, data.pipeline: stellar}
//!   lookup: {url: "https://api.example.com/accounts/{data.from}", into: data.account}
//! ```
//! `set` writes each value at its path (`data.<path>` or `metadata.<key>`).
//! `lookup.url` may hold `{path}` placeholders filled from the event; the
//! response body is stored at `lookup.into`, parsed as JSON when it is JSON,
//! as a string otherwise. A failed lookup fails the event (it is
//! dead-lettered with the reason) unless `lookup.optional` is true.

use std::collections::BTreeMap;

use flowctl_sdk::{host, Error, Event, Output, Processor, Result, Value};
use serde::Deserialize;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    #[serde(default)]
    pub set: BTreeMap<String, Value>,
    #[serde(default)]
    pub lookup: Option<Lookup>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Lookup {
    pub url: String,
    pub into: String,
    #[serde(default)]
    pub optional: bool,
}

pub struct Enrich {
    set: Vec<(String, Value)>,
    lookup: Option<Lookup>,
}

fn is_writable(path: &str) -> bool {
    path.strip_prefix("data.").or_else(|| path.strip_prefix("metadata.")).is_some_and(|rest| !rest.is_empty())
}

impl Processor for Enrich {
    type Config = Config;

    fn new(config: Config) -> Result<Self> {
        let targets = config.set.keys().chain(config.lookup.as_ref().map(|l| &l.into));
        if let Some(bad) = targets.into_iter().find(|p| !is_writable(p)) {
            return Err(Error::new(format!("cannot write `{bad}`: use data.<path> or metadata.<key>")));
        }
        Ok(Self { set: config.set.into_iter().collect(), lookup: config.lookup })
    }

    fn process(&mut self, mut event: Event) -> Result<Output> {
        for (path, value) in &self.set {
            event.set(path, value.clone());
        }
        if let Some(lookup) = &self.lookup {
            let url = fill_template(&lookup.url, &event)?;
            match host::http_get(&url) {
                Ok(body) => {
                    event.set(&lookup.into, parse_body(body));
                }
                Err(err) if lookup.optional => host::warn(&format!("lookup skipped: {err}")),
                Err(err) => return Err(err),
            }
        }
        Ok(Output::One(event))
    }
}

/// `url` with each `{path}` replaced by the event's value at that path.
pub fn fill_template(url: &str, event: &Event) -> Result<String> {
    let mut out = String::with_capacity(url.len() + 32);
    let mut rest = url;
    while let Some(start) = rest.find('{') {
        out.push_str(&rest[..start]);
        let end = rest[start..].find('}').ok_or_else(|| Error::new(format!("unclosed `{{` in url {url}")))? + start;
        let path = &rest[start + 1..end];
        match event.get(path) {
            Some(Value::String(s)) => out.push_str(&s),
            Some(v) if !v.is_null() => out.push_str(&v.to_string()),
            _ => return Err(Error::new(format!("url placeholder {{{path}}}: the event has no such field"))),
        }
        rest = &rest[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

fn parse_body(body: Vec<u8>) -> Value {
    serde_json::from_slice(&body).unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&body).into_owned()))
}

flowctl_sdk::processor!(Enrich);

#[cfg(test)]
mod tests {
    use super::*;
    use flowctl_sdk::json;

    fn enrich(config: Value) -> Result<Enrich> {
        Enrich::new(serde_json::from_value(config).map_err(|e| Error::new(e.to_string()))?)
    }

    #[test]
    fn sets_data_and_metadata() {
        let mut e = enrich(json!({"set": {"data.source": "flowctl", "metadata.region": "eu"}})).unwrap();
        let Output::One(out) = e.process(Event::new("t", json!({"a": 1}))).unwrap() else { panic!() };
        assert_eq!(out.data, json!({"a": 1, "source": "flowctl"}));
        assert_eq!(out.metadata["region"], "eu");
    }

    #[test]
    fn fills_url_templates_from_the_event() {
        let event = Event { id: "x".into(), data: json!({"from": "GABC", "n": 3}), ..Event::default() };
        assert_eq!(fill_template("https://h/a/{data.from}?n={data.n}", &event).unwrap(), "https://h/a/GABC?n=3");
        assert!(fill_template("https://h/{data.nope}", &event).is_err());
        assert!(fill_template("https://h/{data.from", &event).is_err());
    }

    #[test]
    fn lookup_failures_fail_the_event_unless_optional() {
        let mut strict = enrich(json!({"lookup": {"url": "https://h/{id}", "into": "data.x"}})).unwrap();
        let event = Event { id: "e1".into(), ..Event::default() };
        assert!(strict.process(event.clone()).is_err(), "no http outside flowctl");
        let mut lenient =
            enrich(json!({"lookup": {"url": "https://h/{id}", "into": "data.x", "optional": true}})).unwrap();
        assert!(lenient.process(event).is_ok());
    }

    #[test]
    fn refuses_paths_it_cannot_write() {
        assert!(enrich(json!({"set": {"id": "x"}})).is_err());
        assert!(enrich(json!({"lookup": {"url": "u", "into": "data."}})).is_err());
    }
}
