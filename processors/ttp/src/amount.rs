//! Stellar amounts as Horizon writes them: decimal strings with up to seven
//! fractional digits (one stroop is 0.0000001), and fees as whole stroops.

use crate::wire::Field;

/// Stroops per unit of an asset.
const STROOPS_PER_UNIT: u64 = 10_000_000;

/// Whether `s` is a non-negative decimal amount as Horizon writes them:
/// digits, then optionally a point and one to seven digits (`"39.0000000"`,
/// `"20"`, `"10.5"`). Signs, exponents and blanks are refused.
pub fn is_decimal(s: &str) -> bool {
    let (whole, fraction) = match s.split_once('.') {
        Some((whole, fraction)) => (whole, Some(fraction)),
        None => (s, None),
    };
    let digits = |part: &str| part.bytes().all(|b| b.is_ascii_digit());
    !whole.is_empty() && digits(whole) && fraction.is_none_or(|f| (1..=7).contains(&f.len()) && digits(f))
}

/// Whole stroops in Horizon's amount form: `100` -> `"0.0000100"`.
pub fn stroops_to_amount(stroops: u64) -> String {
    let mut out = String::with_capacity(28);
    out.push_str(&(stroops / STROOPS_PER_UNIT).to_string());
    out.push('.');
    let fraction = stroops % STROOPS_PER_UNIT;
    // Seven digits, zero-padded on the left.
    let digits = fraction.to_string();
    out.extend(std::iter::repeat_n('0', 7 - digits.len()));
    out.push_str(&digits);
    out
}

/// `fee_charged` as whole stroops. Horizon writes it as a string of digits
/// (`"100"`); Horizon before 1.0 wrote a JSON integer (`300`). Both are taken.
pub fn parse_stroops<'a>(value: impl Into<Field<'a>>) -> Result<u64, String> {
    match value.into() {
        Field::Str(s) if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) => {
            s.parse::<u64>().map_err(|_| format!("`fee_charged` is out of range: {s:?}"))
        }
        Field::Number(n) => n.as_u64().ok_or_else(|| format!("`fee_charged` must be whole stroops, got {n}")),
        other => Err(format!("`fee_charged` must be whole stroops as a string of digits, got {other}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use flowctl_sdk::json;

    #[test]
    fn horizon_amounts_are_decimals() {
        for ok in ["39.0000000", "0.0005045", "99999999959.9999700", "20", "10.5", "0"] {
            assert!(is_decimal(ok), "{ok}");
        }
        for bad in ["", ".5", "5.", "-1.0", "+1", "1e5", "1.00000001", "1,5", " 1", "1.2.3", "abc", "NaN"] {
            assert!(!is_decimal(bad), "{bad}");
        }
    }

    #[test]
    fn stroops_convert_to_seven_decimals() {
        assert_eq!(stroops_to_amount(100), "0.0000100");
        assert_eq!(stroops_to_amount(300), "0.0000300");
        assert_eq!(stroops_to_amount(0), "0.0000000");
        assert_eq!(stroops_to_amount(1), "0.0000001");
        assert_eq!(stroops_to_amount(10_000_000), "1.0000000");
        assert_eq!(stroops_to_amount(123_456_789), "12.3456789");
        assert_eq!(stroops_to_amount(i64::MAX as u64), "922337203685.4775807");
    }

    #[test]
    fn fee_charged_is_a_string_or_an_integer() {
        assert_eq!(parse_stroops(&json!("100")), Ok(100));
        assert_eq!(parse_stroops(&json!(300)), Ok(300));
        assert!(parse_stroops(&json!("")).is_err());
        assert!(parse_stroops(&json!("-100")).is_err());
        assert!(parse_stroops(&json!("1.5")).is_err());
        assert!(parse_stroops(&json!(-1)).is_err());
        assert!(parse_stroops(&json!(1.5)).is_err());
        assert!(parse_stroops(&json!(true)).is_err());
        assert!(parse_stroops(&json!("99999999999999999999999")).unwrap_err().contains("out of range"));
    }
}
