//! The input event as ttp reads it: only the fields the rules use, borrowed
//! from the JSON text where they need no unescaping; everything else is
//! checked and dropped without being built.
//!
//! Two properties keep this read equivalent to the SDK's (`Event` with a
//! `serde_json::Value` as `data`), so the rules see the same input either way:
//! - It accepts exactly the texts the SDK's parse accepts: the envelope is
//!   read by a derive of the same shape, and every value under `data` goes
//!   through the same `deserialize_any` checks a `Value` does (UTF-8, number
//!   range, nesting depth), [`Skip`] included.
//! - It never rejects a field for its JSON type: fields are [`Field`]s, and a
//!   wrong type is the rules' error to report, with the rules' message.

use std::borrow::Cow;
use std::fmt;
use std::marker::PhantomData;

use serde::de::value::{MapAccessDeserializer, SeqAccessDeserializer};
use serde::de::{Deserialize, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::Deserialize as DeriveDeserialize;
use serde_json::{Number, Value};

/// One input event; the same fields, defaults and name as the SDK's `Event`,
/// so that malformed envelopes are refused alike.
#[derive(DeriveDeserialize)]
pub struct Event<'a> {
    #[serde(default, borrow)]
    pub id: Cow<'a, str>,
    #[serde(rename = "type", default, borrow)]
    pub event_type: Cow<'a, str>,
    /// Read only to refuse what the SDK refuses; the host keeps the input's.
    #[serde(rename = "timestamp", default)]
    _timestamp: i64,
    #[serde(default, borrow)]
    pub data: Data<'a>,
    #[serde(rename = "metadata", default)]
    _metadata: Metadata,
}

/// A JSON value a rule reads. Absent and null differ: `operations` and an
/// operation's `type` report them differently.
#[derive(Debug, Default)]
pub enum Field<'a> {
    #[default]
    Absent,
    Null,
    Bool(bool),
    Number(Number),
    Str(Cow<'a, str>),
    /// An array or an object, only ever quoted in an error.
    Tree(Box<Value>),
}

impl Field<'_> {
    /// Null when absent or null, like `Value::get` followed by `is_null`.
    pub fn is_null(&self) -> bool {
        matches!(self, Field::Absent | Field::Null)
    }

    /// The JSON type, for error messages.
    pub fn type_name(&self) -> &'static str {
        match self {
            Field::Absent | Field::Null => "null",
            Field::Bool(_) => "a boolean",
            Field::Number(_) => "a number",
            Field::Str(_) => "a string",
            Field::Tree(tree) if tree.is_array() => "an array",
            Field::Tree(_) => "an object",
        }
    }

    fn to_value(&self) -> Value {
        match self {
            Field::Absent | Field::Null => Value::Null,
            Field::Bool(b) => Value::Bool(*b),
            Field::Number(n) => Value::Number(n.clone()),
            Field::Str(s) => Value::String(s.to_string()),
            Field::Tree(tree) => (**tree).clone(),
        }
    }
}

/// The value as JSON, as a `Value` displays it (errors quote it).
impl fmt::Display for Field<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.to_value().fmt(f)
    }
}

/// A field read from an already parsed value (the unit tests' form).
impl<'a> From<&'a Value> for Field<'a> {
    fn from(value: &'a Value) -> Self {
        match value {
            Value::Null => Field::Null,
            Value::Bool(b) => Field::Bool(*b),
            Value::Number(n) => Field::Number(n.clone()),
            Value::String(s) => Field::Str(Cow::Borrowed(s)),
            tree => Field::Tree(Box::new(tree.clone())),
        }
    }
}

/// A borrowed view of a field, for functions that take either form.
impl<'a> From<&'a Field<'_>> for Field<'a> {
    fn from(field: &'a Field<'_>) -> Self {
        match field {
            Field::Absent => Field::Absent,
            Field::Null => Field::Null,
            Field::Bool(b) => Field::Bool(*b),
            Field::Number(n) => Field::Number(n.clone()),
            Field::Str(s) => Field::Str(Cow::Borrowed(s)),
            Field::Tree(tree) => Field::Tree(tree.clone()),
        }
    }
}

/// `data`: a transaction record, or the JSON type it had instead.
pub enum Data<'a> {
    Tx(Box<Tx<'a>>),
    Other(&'static str),
}

impl Default for Data<'_> {
    fn default() -> Self {
        Data::Other("null")
    }
}

/// The transaction fields the rules read.
#[derive(Default)]
pub struct Tx<'a> {
    pub id: Field<'a>,
    pub hash: Field<'a>,
    pub ledger: Field<'a>,
    pub created_at: Field<'a>,
    pub source_account: Field<'a>,
    pub fee_account: Field<'a>,
    pub fee_charged: Field<'a>,
    pub successful: Field<'a>,
    pub operations: Operations<'a>,
}

/// `operations`: absent, an array, or some other value.
#[derive(Default)]
pub enum Operations<'a> {
    #[default]
    Absent,
    List(Vec<Op<'a>>),
    Other(Field<'a>),
}

/// One entry of `operations`: a record, or the JSON type it had instead.
pub enum Op<'a> {
    Record(Record<'a>),
    Other(&'static str),
}

/// The operation fields the rules read; a [`Record`] holds them in this order.
const OP_FIELDS: [&str; 16] = [
    "type",
    "transaction_successful",
    "from",
    "to",
    "funder",
    "account",
    "into",
    "starting_balance",
    "amount",
    "asset_type",
    "asset_code",
    "asset_issuer",
    "source_asset_type",
    "source_asset_code",
    "source_asset_issuer",
    "source_amount",
];

/// The slot of operation field `key` in a [`Record`], if a rule reads it. A
/// `match` (by length, then bytes) rather than a scan of [`OP_FIELDS`]: this
/// runs for every key of every operation.
fn op_slot(key: &str) -> Option<usize> {
    let slot = match key {
        "type" => 0,
        "transaction_successful" => 1,
        "from" => 2,
        "to" => 3,
        "funder" => 4,
        "account" => 5,
        "into" => 6,
        "starting_balance" => 7,
        "amount" => 8,
        "asset_type" => 9,
        "asset_code" => 10,
        "asset_issuer" => 11,
        "source_asset_type" => 12,
        "source_asset_code" => 13,
        "source_asset_issuer" => 14,
        "source_amount" => 15,
        _ => return None,
    };
    debug_assert_eq!(OP_FIELDS[slot], key);
    Some(slot)
}

/// An operation record: the fields in [`OP_FIELDS`], in that order.
#[derive(Default)]
pub struct Record<'a> {
    fields: [Field<'a>; OP_FIELDS.len()],
}

impl<'a> Record<'a> {
    /// The field `name` (one of [`OP_FIELDS`]; any other reads as absent).
    pub fn get(&self, name: &str) -> &Field<'a> {
        const ABSENT: &Field<'static> = &Field::Absent;
        debug_assert!(OP_FIELDS.contains(&name), "{name} is not read from operations");
        op_slot(name).map_or(ABSENT, |i| &self.fields[i])
    }
}

/// What each kind of value under `data` becomes; the defaults keep arrays and
/// objects whole, for the rare error that quotes them.
trait Shape<'de>: Sized {
    fn scalar(field: Field<'de>) -> Self;

    fn seq<A: SeqAccess<'de>>(seq: A) -> Result<Self, A::Error> {
        Ok(Self::scalar(Field::Tree(Box::new(Value::deserialize(SeqAccessDeserializer::new(seq))?))))
    }

    fn map<A: MapAccess<'de>>(map: A) -> Result<Self, A::Error> {
        Ok(Self::scalar(Field::Tree(Box::new(Value::deserialize(MapAccessDeserializer::new(map))?))))
    }
}

/// Reads any JSON value into a [`Shape`]; it never fails on a type.
struct Lenient<T>(PhantomData<T>);

impl<'de, T: Shape<'de>> Visitor<'de> for Lenient<T> {
    type Value = T;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_unit<E>(self) -> Result<T, E> {
        Ok(T::scalar(Field::Null))
    }
    fn visit_bool<E>(self, b: bool) -> Result<T, E> {
        Ok(T::scalar(Field::Bool(b)))
    }
    fn visit_u64<E>(self, n: u64) -> Result<T, E> {
        Ok(T::scalar(Field::Number(n.into())))
    }
    fn visit_i64<E>(self, n: i64) -> Result<T, E> {
        Ok(T::scalar(Field::Number(n.into())))
    }
    fn visit_f64<E>(self, n: f64) -> Result<T, E> {
        // As `Value` does: JSON has no non-finite numbers to lose here.
        Ok(T::scalar(Number::from_f64(n).map_or(Field::Null, Field::Number)))
    }
    fn visit_borrowed_str<E>(self, s: &'de str) -> Result<T, E> {
        Ok(T::scalar(Field::Str(Cow::Borrowed(s))))
    }
    fn visit_str<E>(self, s: &str) -> Result<T, E> {
        Ok(T::scalar(Field::Str(Cow::Owned(s.to_owned()))))
    }
    fn visit_string<E>(self, s: String) -> Result<T, E> {
        Ok(T::scalar(Field::Str(Cow::Owned(s))))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<T, A::Error> {
        T::seq(seq)
    }
    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<T, A::Error> {
        T::map(map)
    }
}

/// Implements `Deserialize` for a [`Shape`] through [`Lenient`].
macro_rules! lenient {
    ($($ty:ident),*) => {$(
        // Generic over `'a` for `#[serde(borrow)]`; `'de` shortens to it.
        impl<'de: 'a, 'a> Deserialize<'de> for $ty<'a> {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                d.deserialize_any(Lenient::<$ty<'de>>(PhantomData))
            }
        }
    )*};
}
lenient!(Field, Data, Operations, Op);

impl<'de> Shape<'de> for Field<'de> {
    fn scalar(field: Field<'de>) -> Self {
        field
    }
}

impl<'de> Shape<'de> for Data<'de> {
    fn scalar(field: Field<'de>) -> Self {
        Data::Other(field.type_name())
    }

    fn map<A: MapAccess<'de>>(mut map: A) -> Result<Self, A::Error> {
        let mut tx = Box::<Tx>::default();
        while let Some(key) = map.next_key_seed(KeyAs(tx_key))? {
            // Repeated keys: the last one counts, as in a `Value` map.
            let slot = match key {
                TxKey::Id => &mut tx.id,
                TxKey::Hash => &mut tx.hash,
                TxKey::Ledger => &mut tx.ledger,
                TxKey::CreatedAt => &mut tx.created_at,
                TxKey::SourceAccount => &mut tx.source_account,
                TxKey::FeeAccount => &mut tx.fee_account,
                TxKey::FeeCharged => &mut tx.fee_charged,
                TxKey::Successful => &mut tx.successful,
                TxKey::Operations => {
                    tx.operations = map.next_value()?;
                    continue;
                }
                TxKey::Other => {
                    map.next_value::<Skip>()?;
                    continue;
                }
            };
            *slot = map.next_value()?;
        }
        Ok(Data::Tx(tx))
    }
}

/// The transaction fields the rules read.
enum TxKey {
    Id,
    Hash,
    Ledger,
    CreatedAt,
    SourceAccount,
    FeeAccount,
    FeeCharged,
    Successful,
    Operations,
    Other,
}

fn tx_key(key: &str) -> TxKey {
    match key {
        "id" => TxKey::Id,
        "hash" => TxKey::Hash,
        "ledger" => TxKey::Ledger,
        "created_at" => TxKey::CreatedAt,
        "source_account" => TxKey::SourceAccount,
        "fee_account" => TxKey::FeeAccount,
        "fee_charged" => TxKey::FeeCharged,
        "successful" => TxKey::Successful,
        "operations" => TxKey::Operations,
        _ => TxKey::Other,
    }
}

impl<'de> Shape<'de> for Operations<'de> {
    fn scalar(field: Field<'de>) -> Self {
        Operations::Other(field)
    }

    fn seq<A: SeqAccess<'de>>(mut seq: A) -> Result<Self, A::Error> {
        let mut ops = Vec::with_capacity(seq.size_hint().unwrap_or(4));
        while let Some(op) = seq.next_element()? {
            ops.push(op);
        }
        Ok(Operations::List(ops))
    }
}

impl<'de> Shape<'de> for Op<'de> {
    fn scalar(field: Field<'de>) -> Self {
        Op::Other(field.type_name())
    }

    fn map<A: MapAccess<'de>>(mut map: A) -> Result<Self, A::Error> {
        let mut record = Record::default();
        while let Some(slot) = map.next_key_seed(KeyAs(op_slot))? {
            match slot {
                Some(i) => record.fields[i] = map.next_value()?,
                None => {
                    map.next_value::<Skip>()?;
                }
            }
        }
        Ok(Op::Record(record))
    }
}

/// Reads an object key straight into what it names, without keeping it
/// (as derived field identifiers do): this runs for every key of the input.
struct KeyAs<T>(fn(&str) -> T);

impl<'de, T> DeserializeSeed<'de> for KeyAs<T> {
    type Value = T;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<T, D::Error> {
        d.deserialize_identifier(self)
    }
}

impl<'de, T> Visitor<'de> for KeyAs<T> {
    type Value = T;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a field name")
    }
    fn visit_str<E>(self, key: &str) -> Result<T, E> {
        Ok((self.0)(key))
    }
}

/// A value no rule reads: checked as a `Value` would be, then dropped.
struct Skip;

impl<'de> Deserialize<'de> for Skip {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(SkipVisitor)
    }
}

struct SkipVisitor;

impl<'de> Visitor<'de> for SkipVisitor {
    type Value = Skip;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_unit<E>(self) -> Result<Skip, E> {
        Ok(Skip)
    }
    fn visit_bool<E>(self, _: bool) -> Result<Skip, E> {
        Ok(Skip)
    }
    fn visit_u64<E>(self, _: u64) -> Result<Skip, E> {
        Ok(Skip)
    }
    fn visit_i64<E>(self, _: i64) -> Result<Skip, E> {
        Ok(Skip)
    }
    fn visit_f64<E>(self, _: f64) -> Result<Skip, E> {
        Ok(Skip)
    }
    fn visit_str<E>(self, _: &str) -> Result<Skip, E> {
        Ok(Skip)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Skip, A::Error> {
        while seq.next_element::<Skip>()?.is_some() {}
        Ok(Skip)
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Skip, A::Error> {
        while map.next_entry::<Skip, Skip>()?.is_some() {}
        Ok(Skip)
    }
}

/// `metadata`: checked to be a map of strings as the SDK's `BTreeMap<String,
/// String>` is, then dropped (the host merges the input's over ours).
#[derive(Default)]
struct Metadata;

impl<'de> Deserialize<'de> for Metadata {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_map(MetadataVisitor)
    }
}

struct MetadataVisitor;

impl<'de> Visitor<'de> for MetadataVisitor {
    type Value = Metadata;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a map")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Metadata, A::Error> {
        while map.next_entry::<Cow<'de, str>, Cow<'de, str>>()?.is_some() {}
        Ok(Metadata)
    }
}
