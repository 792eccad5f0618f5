//! `filter`: keeps the events matching a field predicate, drops the rest.
//!
//! ```yaml
//! config: {field: data.amount, op: gt, value: 100}
//! ```
//! `field` is a dotted path (`id`, `type`, `timestamp`, `metadata.<key>`,
//! `data.<a>.<b>`). `op` is one of `exists`, `missing`, `eq`, `ne`, `gt`,
//! `gte`, `lt`, `lte`, `contains`, `in`. Ordering operators compare numbers,
//! including numbers written as strings (Horizon's `"12.5000000"`), and fall
//! back to comparing strings. `in` takes a list as `value`.
//!
//! The module reads each event's JSON once for the one field it tests
//! ([`read`]), in the SDK's one pass over a batch, and writes a kept event as the input's own bytes, unchanged (so
//! the host can tell it is unchanged by comparing them); a dropped event's
//! entry is `[]`. [`Processor::process`] gives the same answers on parsed
//! events.

mod read;

use std::cmp::Ordering;

use flowctl_sdk::{BatchOutput, Error, Event, Input, Output, Processor, Result, Value};
use serde::Deserialize;

use read::Path;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Op {
    Exists,
    Missing,
    Eq,
    Ne,
    Gt,
    Gte,
    Lt,
    Lte,
    Contains,
    In,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    pub field: String,
    #[serde(default = "default_op")]
    pub op: Op,
    #[serde(default)]
    pub value: Option<Value>,
}

fn default_op() -> Op {
    Op::Exists
}

pub struct Filter {
    /// For [`Processor::process`]: `Event::get` takes the dotted text.
    field: String,
    /// For the module's path: `field`, resolved once.
    path: Path,
    op: Op,
    value: Value,
}

impl Processor for Filter {
    type Config = Config;
    const INPUT: Input = Input::Json;

    fn new(config: Config) -> Result<Self> {
        let needs_value = !matches!(config.op, Op::Exists | Op::Missing);
        let value = match (config.value, needs_value) {
            (None, true) => return Err(Error::new(format!("op {:?} needs a `value`", config.op))),
            (Some(v), _) => v,
            (None, false) => Value::Null,
        };
        if config.op == Op::In && !value.is_array() {
            return Err(Error::new("op in needs a list as `value`"));
        }
        if config.field.is_empty() {
            return Err(Error::new("`field` must name a field, such as data.amount"));
        }
        Ok(Self { path: Path::parse(&config.field), field: config.field, op: config.op, value })
    }

    fn process(&mut self, event: Event) -> Result<Output> {
        let keep = self.matches(event.get(&self.field).as_ref());
        Ok(if keep { Output::One(event) } else { Output::None })
    }

    fn process_json(&mut self, input: &[u8], out: &mut Vec<u8>) -> Result<()> {
        let actual = read::value_at(input, &self.path).map_err(input_error)?;
        out.extend_from_slice(if self.matches(actual.as_ref()) { input } else { b"[]" });
        Ok(())
    }

    /// The SDK's one pass over the batch, reading each event's tested value
    /// as it goes (rather than finding each event, then parsing it again).
    fn process_batch_json(&mut self, batch: &[u8], out: &mut Vec<u8>) -> Result<BatchOutput> {
        read::with_tested_path(&self.path, || {
            flowctl_sdk::batch::each::<read::Tested, _>(batch, out, |tested, text, out| {
                let read::Tested(actual) = tested.map_err(input_error)?;
                out.extend_from_slice(if self.matches(actual.as_ref()) { text.as_bytes() } else { b"[]" });
                Ok(())
            })
        })?;
        Ok(BatchOutput::Written)
    }
}

fn input_error(err: serde_json::Error) -> Error {
    Error::new(format!("input event: {err}"))
}

impl Filter {
    pub fn matches(&self, actual: Option<&Value>) -> bool {
        let present = actual.is_some_and(|v| !v.is_null());
        match (self.op, actual) {
            (Op::Exists, _) => present,
            (Op::Missing, _) => !present,
            (_, None) => false,
            (Op::Eq, Some(v)) => loosely_equal(v, &self.value),
            (Op::Ne, Some(v)) => !loosely_equal(v, &self.value),
            (Op::Gt, Some(v)) => compare(v, &self.value) == Some(Ordering::Greater),
            (Op::Gte, Some(v)) => matches!(compare(v, &self.value), Some(Ordering::Greater | Ordering::Equal)),
            (Op::Lt, Some(v)) => compare(v, &self.value) == Some(Ordering::Less),
            (Op::Lte, Some(v)) => matches!(compare(v, &self.value), Some(Ordering::Less | Ordering::Equal)),
            (Op::Contains, Some(v)) => contains(v, &self.value),
            (Op::In, Some(v)) => self.value.as_array().is_some_and(|list| list.iter().any(|x| loosely_equal(v, x))),
        }
    }
}

fn number(v: &Value) -> Option<f64> {
    match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

fn loosely_equal(a: &Value, b: &Value) -> bool {
    a == b || matches!((number(a), number(b)), (Some(x), Some(y)) if x == y)
}

fn compare(a: &Value, b: &Value) -> Option<Ordering> {
    match (number(a), number(b)) {
        (Some(x), Some(y)) => x.partial_cmp(&y),
        _ => Some(a.as_str()?.cmp(b.as_str()?)),
    }
}

fn contains(haystack: &Value, needle: &Value) -> bool {
    match (haystack, needle) {
        (Value::String(h), Value::String(n)) => h.contains(n.as_str()),
        (Value::Array(items), n) => items.iter().any(|i| loosely_equal(i, n)),
        (Value::Object(map), Value::String(key)) => map.contains_key(key),
        _ => false,
    }
}

flowctl_sdk::processor!(Filter);

#[cfg(test)]
mod tests;
