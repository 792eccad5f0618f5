//! The serde read of the input: [`Deserialize`] for the [`wire`](super)
//! structs. It accepts exactly the texts the SDK's parse (an `Event` whose
//! `data` is a `serde_json::Value`) accepts, so that the caller can fall
//! back to that parse for its error message: the envelope is a derive of the
//! same shape, and every value under `data` goes through the checks a
//! `Value` gets (`deserialize_any`: UTF-8, number range, nesting depth),
//! [`Skip`]ped ones included.

use std::borrow::Cow;
use std::fmt;
use std::marker::PhantomData;

use serde::de::value::{MapAccessDeserializer, SeqAccessDeserializer};
use serde::de::{Deserialize, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Number, Value};

use super::{Data, Field, Metadata, Op, OpField, Operations, Record, Tx, TxKey};

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
        while let Some(key) = map.next_key_seed(KeyAs(TxKey::of))? {
            // Repeated keys: the last one counts, as in a `Value` map.
            match key {
                TxKey::Field(field) => *tx.field_mut(field) = map.next_value()?,
                TxKey::Operations => tx.operations = map.next_value()?,
                TxKey::Other => {
                    map.next_value::<Skip>()?;
                }
            }
        }
        Ok(Data::Tx(tx))
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
        while let Some(field) = map.next_key_seed(KeyAs(OpField::of_key))? {
            match field {
                Some(field) => *record.get_mut(field) = map.next_value()?,
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
/// String>` is, then dropped.
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
