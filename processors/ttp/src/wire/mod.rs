//! The input event as ttp reads it: only the fields the rules use, borrowed
//! from the input where they need no unescaping, in structs that every
//! reader fills alike:
//! - [`de`], the serde read of the JSON text (the module's path);
//! - [`Event::from_sdk`], from an event already parsed (`Processor::process`).
//!
//! The structs never refuse a field for its JSON type: fields are
//! [`Field`]s, and a wrong type is the rules' error to report, with the
//! rules' message.

mod de;
#[cfg(test)]
mod tests;

use std::borrow::Cow;
use std::fmt;

use serde::Deserialize;
use serde_json::{Map, Number, Value};

/// One input event; the same fields, defaults and name as the SDK's `Event`,
/// so that malformed envelopes are refused alike.
#[derive(Debug, PartialEq, Deserialize)]
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

impl<'a> Event<'a> {
    pub fn new(id: Cow<'a, str>, event_type: Cow<'a, str>, timestamp: i64, data: Data<'a>) -> Self {
        Event { id, event_type, _timestamp: timestamp, data, _metadata: Metadata }
    }

    /// The event as the JSON readers read its JSON, straight from its
    /// `Value`s: no JSON round trip, which could change a float that an
    /// error message quotes.
    pub fn from_sdk(event: &'a flowctl_sdk::Event) -> Self {
        let data = match &event.data {
            Value::Object(tx) => Data::Tx(Box::new(Tx::from_map(tx))),
            other => Data::Other(Field::from(other).type_name()),
        };
        Event::new(Cow::Borrowed(&event.id), Cow::Borrowed(&event.event_type), event.timestamp, data)
    }

    /// Whether the strings the rules may write back can be written as they
    /// are, for an event read from JSON text by [`de`] (one from
    /// [`Event::from_sdk`] borrows every string, escapes or not). serde
    /// borrows a string from the text only when it has no escape, and JSON
    /// text holds no raw quote or control character inside a string, so a
    /// borrowed string needs no escaping; a copy may. Looking at the fields
    /// read costs far less than scanning the whole text for a backslash.
    pub fn written_verbatim(&self) -> bool {
        if matches!(self.id, Cow::Owned(_)) {
            return false;
        }
        let Data::Tx(tx) = &self.data else { return true };
        if tx.scalars().iter().any(|field| field.is_unescaped_copy()) {
            return false;
        }
        let Operations::List(ops) = &tx.operations else { return true };
        !ops.iter().any(|op| matches!(op, Op::Record(record) if record.fields.iter().any(Field::is_unescaped_copy)))
    }
}

/// `metadata`: read only to refuse what the SDK refuses (see [`de`]); the
/// host merges the input's over the output's.
#[derive(Debug, Default, PartialEq)]
struct Metadata;

/// A JSON value a rule reads. Absent and null differ: `operations` and an
/// operation's `type` report them differently.
#[derive(Debug, Default, PartialEq)]
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
    /// A string serde had to unescape into a copy (see [`Event::written_verbatim`]).
    fn is_unescaped_copy(&self) -> bool {
        matches!(self, Field::Str(Cow::Owned(_)))
    }

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

/// A field read from an already parsed value.
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
#[derive(Debug, PartialEq)]
pub enum Data<'a> {
    Tx(Box<Tx<'a>>),
    Other(&'static str),
}

impl Default for Data<'_> {
    fn default() -> Self {
        Data::Other("null")
    }
}

/// `operations`: absent, an array, or some other value.
#[derive(Debug, Default, PartialEq)]
pub enum Operations<'a> {
    #[default]
    Absent,
    List(Vec<Op<'a>>),
    Other(Field<'a>),
}

/// One entry of `operations`: a record, or the JSON type it had instead.
// Records are the rule and `Other` an error, so records stay unboxed: a box
// would cost an allocation per operation.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, PartialEq)]
pub enum Op<'a> {
    Record(Record<'a>),
    Other(&'static str),
}

/// Declares [`OpField`] from one list of (variant, JSON name).
macro_rules! op_fields {
    ($($variant:ident = $name:literal,)*) => {
        /// The operation fields the rules read.
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub enum OpField {
            $($variant,)*
        }

        impl OpField {
            const COUNT: usize = [$($name),*].len();

            /// The field's name in Horizon's records.
            pub fn name(self) -> &'static str {
                match self {
                    $(OpField::$variant => $name,)*
                }
            }

            /// The field named `key`, if a rule reads it. A `match` (by
            /// length, then bytes): it runs for every key of every operation.
            pub fn of_key(key: &str) -> Option<Self> {
                match key {
                    $($name => Some(OpField::$variant),)*
                    _ => None,
                }
            }
        }
    };
}

op_fields! {
    Type = "type",
    TransactionSuccessful = "transaction_successful",
    From = "from",
    To = "to",
    Funder = "funder",
    Account = "account",
    Into = "into",
    StartingBalance = "starting_balance",
    Amount = "amount",
    AssetType = "asset_type",
    AssetCode = "asset_code",
    AssetIssuer = "asset_issuer",
    SourceAssetType = "source_asset_type",
    SourceAssetCode = "source_asset_code",
    SourceAssetIssuer = "source_asset_issuer",
    SourceAmount = "source_amount",
}

/// An operation record: the fields the rules read, by [`OpField`].
#[derive(Debug, Default, PartialEq)]
pub struct Record<'a> {
    fields: [Field<'a>; OpField::COUNT],
}

impl<'a> Record<'a> {
    pub fn get(&self, field: OpField) -> &Field<'a> {
        &self.fields[field as usize]
    }

    pub fn get_mut(&mut self, field: OpField) -> &mut Field<'a> {
        &mut self.fields[field as usize]
    }
}

/// A key of the transaction object, as the readers act on it.
pub enum TxKey {
    Field(TxField),
    Operations,
    Other,
}

/// Declares [`Tx`], [`TxField`] and what maps one to the other from one list
/// of (field, variant, JSON name) for the transaction's scalar fields.
macro_rules! tx_fields {
    ($($field:ident: $variant:ident = $name:literal,)*) => {
        /// The transaction fields the rules read.
        #[derive(Debug, Default, PartialEq)]
        pub struct Tx<'a> {
            $(pub $field: Field<'a>,)*
            pub operations: Operations<'a>,
        }

        /// The transaction's scalar fields the rules read.
        #[derive(Clone, Copy)]
        pub enum TxField {
            $($variant,)*
        }

        impl TxKey {
            /// A `match`: it runs for every key of every transaction.
            pub fn of(key: &str) -> TxKey {
                match key {
                    $($name => TxKey::Field(TxField::$variant),)*
                    "operations" => TxKey::Operations,
                    _ => TxKey::Other,
                }
            }
        }

        impl<'a> Tx<'a> {
            pub fn field_mut(&mut self, field: TxField) -> &mut Field<'a> {
                match field {
                    $(TxField::$variant => &mut self.$field,)*
                }
            }

            /// Every scalar field.
            fn scalars(&self) -> [&Field<'a>; [$($name),*].len()] {
                [$(&self.$field),*]
            }
        }
    };
}

tx_fields! {
    id: Id = "id",
    hash: Hash = "hash",
    ledger: Ledger = "ledger",
    created_at: CreatedAt = "created_at",
    source_account: SourceAccount = "source_account",
    fee_account: FeeAccount = "fee_account",
    fee_charged: FeeCharged = "fee_charged",
    successful: Successful = "successful",
}

impl<'a> Tx<'a> {
    fn from_map(map: &'a Map<String, Value>) -> Self {
        let mut tx = Tx::default();
        for (key, value) in map {
            match TxKey::of(key) {
                TxKey::Field(field) => *tx.field_mut(field) = Field::from(value),
                TxKey::Operations => {
                    tx.operations = match value {
                        Value::Array(ops) => Operations::List(ops.iter().map(Op::from_value).collect()),
                        other => Operations::Other(Field::from(other)),
                    }
                }
                TxKey::Other => {}
            }
        }
        tx
    }
}

impl<'a> Op<'a> {
    fn from_value(value: &'a Value) -> Self {
        let Value::Object(map) = value else { return Op::Other(Field::from(value).type_name()) };
        let mut record = Record::default();
        for (key, value) in map {
            if let Some(field) = OpField::of_key(key) {
                *record.get_mut(field) = Field::from(value);
            }
        }
        Op::Record(record)
    }
}
