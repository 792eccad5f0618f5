//! Horizon operation records to movements of value: which kind (transfer,
//! mint, burn, clawback) and the kind's body (`from`, `to`, `asset`, `amount`).

use crate::amount::is_decimal;
use crate::wire::{Field, Op, OpField, Record};

/// One movement of value: its kind and the body under that kind. Strings
/// borrow from the input.
pub struct Movement<'a> {
    pub kind: &'static str,
    pub from: &'a str,
    pub to: Option<&'a str>,
    pub asset: Asset<'a>,
    pub amount: Option<&'a str>,
    /// A path payment's sending side: `source_asset` and `source_amount`.
    pub source: Option<(Asset<'a>, &'a str)>,
}

/// `"native"`, or `{"code", "issuer"}` for a credit asset.
pub enum Asset<'a> {
    Native,
    Credit { code: &'a str, issuer: &'a str },
}

/// The movement operation `index` of a transaction made, `Ok(None)` for an
/// operation type that moves no value (or that ttp does not know). Errors
/// name the operation and field and are completed with the transaction by
/// the caller.
pub fn movement<'a>(index: usize, op: &'a Op<'_>) -> Result<Option<Movement<'a>>, String> {
    let record = match op {
        Op::Record(record) => record,
        Op::Other(type_name) => return Err(format!("operation {index} is not an object but {type_name}")),
    };
    let kind = match record.get(OpField::Type) {
        Field::Str(kind) => &**kind,
        Field::Absent => return Err(format!("operation {index}: missing field `type`")),
        other => return Err(format!("operation {index}: field `type` must be a string, got {}", other.type_name())),
    };
    let op = Reader { record, index, kind };
    let movement = match kind {
        "payment" => op.payment()?,
        "create_account" => op.create_account()?,
        "path_payment_strict_send" | "path_payment_strict_receive" => op.path_payment()?,
        "account_merge" => op.account_merge()?,
        "clawback" => op.clawback()?,
        _ => return Ok(None),
    };
    Ok(Some(movement))
}

/// Whether the record says its transaction failed (`transaction_successful: false`).
pub fn failed(op: &Op) -> bool {
    matches!(op, Op::Record(record) if matches!(record.get(OpField::TransactionSuccessful), Field::Bool(false)))
}

/// An asset's fields under one prefix.
struct AssetFields {
    kind: OpField,
    code: OpField,
    issuer: OpField,
}

const ASSET: AssetFields =
    AssetFields { kind: OpField::AssetType, code: OpField::AssetCode, issuer: OpField::AssetIssuer };
const SOURCE_ASSET: AssetFields =
    AssetFields { kind: OpField::SourceAssetType, code: OpField::SourceAssetCode, issuer: OpField::SourceAssetIssuer };

/// An operation record being read, with what error messages need.
struct Reader<'a, 'r> {
    record: &'a Record<'r>,
    index: usize,
    kind: &'a str,
}

impl<'a> Reader<'a, '_> {
    fn error(&self, message: impl std::fmt::Display) -> String {
        format!("operation {} ({}): {message}", self.index, self.kind)
    }

    /// A string field that may be absent (or null).
    fn optional(&self, field: OpField) -> Result<Option<&'a str>, String> {
        match self.record.get(field) {
            Field::Absent | Field::Null => Ok(None),
            Field::Str(s) => Ok(Some(s)),
            other => {
                Err(self.error(format_args!("field `{}` must be a string, got {}", field.name(), other.type_name())))
            }
        }
    }

    fn required(&self, field: OpField) -> Result<&'a str, String> {
        self.optional(field)?.ok_or_else(|| self.error(format_args!("missing field `{}`", field.name())))
    }

    fn check_amount(&self, field: OpField, value: &str) -> Result<(), String> {
        if is_decimal(value) {
            Ok(())
        } else {
            Err(self.error(format_args!("field `{}` is not a decimal amount: {value:?}", field.name())))
        }
    }

    fn amount(&self, field: OpField) -> Result<&'a str, String> {
        let value = self.required(field)?;
        self.check_amount(field, value)?;
        Ok(value)
    }

    /// The asset named by `fields` and its issuer (None for native).
    fn asset(&self, fields: &AssetFields) -> Result<(Asset<'a>, Option<&'a str>), String> {
        match self.required(fields.kind)? {
            "native" => Ok((Asset::Native, None)),
            _ => {
                let code = self.required(fields.code)?;
                let issuer = self.required(fields.issuer)?;
                Ok((Asset::Credit { code, issuer }, Some(issuer)))
            }
        }
    }

    fn payment(&self) -> Result<Movement<'a>, String> {
        let (from, to) = (self.required(OpField::From)?, self.required(OpField::To)?);
        let (asset, issuer) = self.asset(&ASSET)?;
        let amount = self.amount(OpField::Amount)?;
        Ok(Movement::new(issuance(from, to, issuer), from, Some(to), asset, Some(amount)))
    }

    fn create_account(&self) -> Result<Movement<'a>, String> {
        let (from, to) = (self.required(OpField::Funder)?, self.required(OpField::Account)?);
        let amount = self.amount(OpField::StartingBalance)?;
        Ok(Movement::new("transfer", from, Some(to), Asset::Native, Some(amount)))
    }

    /// One transfer of what the recipient got (destination asset and
    /// `amount`), with what the sender spent as `source_asset`/`source_amount`.
    fn path_payment(&self) -> Result<Movement<'a>, String> {
        let (from, to) = (self.required(OpField::From)?, self.required(OpField::To)?);
        let (asset, issuer) = self.asset(&ASSET)?;
        let amount = self.amount(OpField::Amount)?;
        let (source_asset, _) = self.asset(&SOURCE_ASSET)?;
        let source_amount = self.amount(OpField::SourceAmount)?;
        let movement = Movement::new(issuance(from, to, issuer), from, Some(to), asset, Some(amount));
        Ok(Movement { source: Some((source_asset, source_amount)), ..movement })
    }

    /// Horizon's record has no amount (the merged balance is only in the
    /// effects), so `amount` is the record's if it has one, else null.
    fn account_merge(&self) -> Result<Movement<'a>, String> {
        let (from, to) = (self.required(OpField::Account)?, self.required(OpField::Into)?);
        let amount = self.optional(OpField::Amount)?;
        if let Some(amount) = amount {
            self.check_amount(OpField::Amount, amount)?;
        }
        Ok(Movement::new("transfer", from, Some(to), Asset::Native, amount))
    }

    /// Clawed back from `from` to the asset's issuer.
    fn clawback(&self) -> Result<Movement<'a>, String> {
        let from = self.required(OpField::From)?;
        let (asset, issuer) = self.asset(&ASSET)?;
        let issuer = issuer.ok_or_else(|| self.error("the native asset cannot be clawed back"))?;
        let amount = self.amount(OpField::Amount)?;
        Ok(Movement::new("clawback", from, Some(issuer), asset, Some(amount)))
    }
}

impl<'a> Movement<'a> {
    pub fn new(
        kind: &'static str,
        from: &'a str,
        to: Option<&'a str>,
        asset: Asset<'a>,
        amount: Option<&'a str>,
    ) -> Self {
        Movement { kind, from, to, asset, amount, source: None }
    }
}

/// A payment by the asset's issuer creates the asset (mint); one to the
/// issuer destroys it (burn); anything else moves it (transfer).
fn issuance(from: &str, to: &str, issuer: Option<&str>) -> &'static str {
    match issuer {
        Some(issuer) if from == issuer => "mint",
        Some(issuer) if to == issuer => "burn",
        _ => "transfer",
    }
}
