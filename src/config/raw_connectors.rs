//! Sources and sinks as written. Their `config:` is typed by their `type:`, so an
//! unknown key inside a connector's `config:` is an error on its own line: when
//! `type:` comes first (the usual order) `config:` is read straight into the typed
//! struct; otherwise it is buffered and typed afterwards by [`super::resolve`].

use std::fmt;

use serde::de::{self, IgnoredAny, MapAccess, Visitor};
use serde::{Deserialize, Deserializer};
use serde_saphyr::Spanned;

use super::raw::UnitText;
use super::raw_grpc::{RawGrpcServer, RawGrpcSink, RawGrpcSource};
use super::raw_nats::{RawNatsSink, RawNatsSource};

/// `generator` source config; missing keys take [`super::defaults`].
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawGenerator {
    pub profile: Option<RawProfile>,
    pub count: Option<u64>,
    pub rate: Option<Spanned<f64>>,
    pub event_size: Option<Spanned<UnitText>>,
    pub seed: Option<u64>,
}

#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RawProfile {
    Simple,
    Stellar,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawFileSource {
    pub path: Spanned<String>,
    #[serde(default)]
    pub follow: bool,
}

/// A connector type that takes no settings still accepts `config: {}`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawNoConfig {}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawStdoutSink {
    #[serde(default)]
    pub pretty: bool,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawFileSink {
    pub path: Spanned<String>,
}

#[derive(Debug)]
pub enum RawSourceConfig {
    Generator(RawGenerator),
    File(RawFileSource),
    Stdin,
    /// Boxed: much larger than the others.
    Grpc(Box<RawGrpcSource>),
    Nats(Box<RawNatsSource>),
}

#[derive(Debug)]
pub enum RawSinkConfig {
    Stdout(RawStdoutSink),
    File(RawFileSink),
    Null,
    /// Boxed: much larger than the others.
    Grpc(Box<RawGrpcSink>),
    GrpcServer(RawGrpcServer),
    Nats(Box<RawNatsSink>),
}

/// `config:` of a connector: typed already, or buffered because it came before `type:`
/// (or because the type is unknown, in which case it is never looked at).
#[derive(Debug)]
pub enum ConnectorConfig<T> {
    Absent,
    Typed(T),
    Buffered(Spanned<serde_json::Value>),
}

#[derive(Debug)]
pub struct RawSource {
    pub id: Spanned<String>,
    pub kind: Spanned<String>,
    /// Present only to report "sources take no inputs" with its line.
    pub inputs: Option<Spanned<IgnoredAny>>,
    pub config: ConnectorConfig<RawSourceConfig>,
}

#[derive(Debug)]
pub struct RawSink {
    pub id: Spanned<String>,
    pub kind: Spanned<String>,
    pub inputs: Option<Spanned<Vec<Spanned<String>>>>,
    pub config: ConnectorConfig<RawSinkConfig>,
}

/// How one connector family reads its typed `config:` value for a given `type:`.
trait ConnectorFamily {
    type Config;
    type Inputs: for<'de> Deserialize<'de>;
    const WHAT: &'static str;
    const TYPES: &'static [&'static str];
    /// Reads `config:` as the struct of `kind`; `None` for an unknown kind (reported later).
    fn next_typed<'de, A: MapAccess<'de>>(kind: &str, map: &mut A) -> Result<Option<Self::Config>, A::Error>;
}

struct Sources;
struct Sinks;

impl ConnectorFamily for Sources {
    type Config = RawSourceConfig;
    type Inputs = Spanned<IgnoredAny>;
    const WHAT: &'static str = "a source: {id, type, config}";
    const TYPES: &'static [&'static str] = &["generator", "file", "stdin", "grpc", "nats"];

    fn next_typed<'de, A: MapAccess<'de>>(kind: &str, map: &mut A) -> Result<Option<RawSourceConfig>, A::Error> {
        Ok(Some(match kind {
            "generator" => RawSourceConfig::Generator(map.next_value()?),
            "file" => RawSourceConfig::File(map.next_value()?),
            "stdin" => {
                map.next_value::<Option<RawNoConfig>>()?;
                RawSourceConfig::Stdin
            }
            "grpc" => RawSourceConfig::Grpc(map.next_value()?),
            "nats" => RawSourceConfig::Nats(map.next_value()?),
            _ => return Ok(None),
        }))
    }
}

impl ConnectorFamily for Sinks {
    type Config = RawSinkConfig;
    type Inputs = Spanned<Vec<Spanned<String>>>;
    const WHAT: &'static str = "a sink: {id, type, inputs, config}";
    const TYPES: &'static [&'static str] = &["stdout", "file", "null", "grpc", "grpc_server", "nats"];

    fn next_typed<'de, A: MapAccess<'de>>(kind: &str, map: &mut A) -> Result<Option<RawSinkConfig>, A::Error> {
        Ok(Some(match kind {
            "stdout" => RawSinkConfig::Stdout(map.next_value::<Option<RawStdoutSink>>()?.unwrap_or_default()),
            "file" => RawSinkConfig::File(map.next_value()?),
            "null" => {
                map.next_value::<Option<RawNoConfig>>()?;
                RawSinkConfig::Null
            }
            "grpc" => RawSinkConfig::Grpc(map.next_value()?),
            "grpc_server" => RawSinkConfig::GrpcServer(map.next_value()?),
            "nats" => RawSinkConfig::Nats(map.next_value()?),
            _ => return Ok(None),
        }))
    }
}

/// Every key of a connector, in the order found; shared by sources and sinks.
struct Fields<F: ConnectorFamily> {
    id: Option<Spanned<String>>,
    kind: Option<Spanned<String>>,
    inputs: Option<F::Inputs>,
    config: ConnectorConfig<F::Config>,
}

struct ConnectorVisitor<F>(std::marker::PhantomData<F>);

impl<'de, F: ConnectorFamily> Visitor<'de> for ConnectorVisitor<F> {
    type Value = Fields<F>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str(F::WHAT)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        const KEYS: &[&str] = &["id", "type", "inputs", "config"];
        let mut fields = Fields { id: None, kind: None, inputs: None, config: ConnectorConfig::Absent };
        while let Some(key) = map.next_key::<String>()? {
            match key.as_str() {
                "id" => fields.id = Some(map.next_value()?),
                "type" => {
                    // A bare `type: null` is YAML's null; it means the `null` sink.
                    let kind: Spanned<Option<String>> = map.next_value()?;
                    let name = kind.value.unwrap_or_else(|| "null".to_string());
                    fields.kind = Some(Spanned::new(name, kind.referenced, kind.defined));
                }
                "inputs" => fields.inputs = Some(map.next_value()?),
                "config" => {
                    fields.config = match &fields.kind {
                        Some(kind) if F::TYPES.contains(&kind.value.as_str()) => F::next_typed(&kind.value, &mut map)?
                            .map_or(ConnectorConfig::Absent, ConnectorConfig::Typed),
                        Some(_) => {
                            map.next_value::<IgnoredAny>()?;
                            ConnectorConfig::Absent
                        }
                        None => ConnectorConfig::Buffered(map.next_value()?),
                    }
                }
                other => return Err(de::Error::unknown_field(other, KEYS)),
            }
        }
        Ok(fields)
    }
}

fn required<T, E: de::Error>(value: Option<T>, field: &'static str) -> Result<T, E> {
    value.ok_or_else(|| de::Error::missing_field(field))
}

impl<'de> Deserialize<'de> for RawSource {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let fields = deserializer.deserialize_map(ConnectorVisitor::<Sources>(std::marker::PhantomData))?;
        Ok(RawSource {
            id: required(fields.id, "id")?,
            kind: required(fields.kind, "type")?,
            inputs: fields.inputs,
            config: fields.config,
        })
    }
}

impl<'de> Deserialize<'de> for RawSink {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let fields = deserializer.deserialize_map(ConnectorVisitor::<Sinks>(std::marker::PhantomData))?;
        Ok(RawSink {
            id: required(fields.id, "id")?,
            kind: required(fields.kind, "type")?,
            inputs: fields.inputs,
            config: fields.config,
        })
    }
}
