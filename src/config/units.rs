//! Sizes and durations as people write them (`32MiB`, `50ms`), parsed in one place
//! so the config file and the CLI flags agree.
//!
//! Sizes: a whole or decimal number, optional spaces, then a unit (case-insensitive):
//! none or `B` = bytes; `KB`, `MB`, `GB`, `TB` = powers of 1000 (so `1MB` = 1,000,000);
//! `KiB`, `MiB`, `GiB`, `TiB` = powers of 1024 (so `1MiB` = 1,048,576).
//! A fractional result is rounded down to whole bytes; a result beyond `u64` is an error.
//!
//! Durations: `humantime` syntax, e.g. `250us`, `50ms`, `5s`, `1m`, `1h 30m`.
//! A bare number is rejected because its unit would be a guess.

use std::time::Duration;

/// Why a size or duration string did not parse. `Display` is the user-facing message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UnitError {
    #[error("{0:?} is not a size (use e.g. 32MiB, 64KiB, 1GB or a number of bytes)")]
    NotASize(String),
    #[error("{0:?} is too large a size")]
    SizeOverflow(String),
    #[error("{0:?} is not a duration (use e.g. 250us, 50ms, 5s, 1m)")]
    NotADuration(String),
}

/// Parses a byte size: `512`, `512B`, `64KiB`, `32MiB`, `1GiB`, `1.5MB`.
pub fn parse_bytes(text: &str) -> Result<u64, UnitError> {
    let not_a_size = || UnitError::NotASize(text.to_string());
    let trimmed = text.trim();
    let split = trimmed.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(trimmed.len());
    let (number, unit) = trimmed.split_at(split);
    let multiplier = unit_multiplier(unit.trim_start()).ok_or_else(not_a_size)?;
    if number.is_empty() || number.starts_with('.') || number.ends_with('.') {
        return Err(not_a_size());
    }
    match number.split_once('.') {
        None => {
            let whole: u64 = number.parse().map_err(|_| UnitError::SizeOverflow(text.to_string()))?;
            whole.checked_mul(multiplier).ok_or_else(|| UnitError::SizeOverflow(text.to_string()))
        }
        Some((_, fraction)) if fraction.contains('.') => Err(not_a_size()),
        Some(_) => {
            let value: f64 = number.parse().map_err(|_| not_a_size())?;
            let bytes = value * multiplier as f64;
            if bytes >= u64::MAX as f64 {
                return Err(UnitError::SizeOverflow(text.to_string()));
            }
            // Truncation is the documented rounding (down to whole bytes).
            Ok(bytes as u64)
        }
    }
}

fn unit_multiplier(unit: &str) -> Option<u64> {
    const KI: u64 = 1024;
    let multiplier = match unit.to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "kb" => 1_000,
        "mb" => 1_000_000,
        "gb" => 1_000_000_000,
        "tb" => 1_000_000_000_000,
        "kib" => KI,
        "mib" => KI * KI,
        "gib" => KI * KI * KI,
        "tib" => KI * KI * KI * KI,
        _ => return None,
    };
    Some(multiplier)
}

/// Parses a duration: `250us`, `50ms`, `5s`, `1m`, `1h 30m`.
pub fn parse_duration(text: &str) -> Result<Duration, UnitError> {
    humantime::parse_duration(text.trim()).map_err(|_| UnitError::NotADuration(text.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn binary_sizes_are_powers_of_1024() {
        assert_eq!(parse_bytes("64KiB"), Ok(64 * 1024));
        assert_eq!(parse_bytes("32MiB"), Ok(32 * 1024 * 1024));
        assert_eq!(parse_bytes("1GiB"), Ok(1 << 30));
        assert_eq!(parse_bytes("2 TiB"), Ok(2 << 40));
        assert_eq!(parse_bytes("32mib"), Ok(32 << 20));
    }

    #[test]
    fn decimal_sizes_are_powers_of_1000() {
        assert_eq!(parse_bytes("1MB"), Ok(1_000_000));
        assert_eq!(parse_bytes("3kb"), Ok(3_000));
        assert_eq!(parse_bytes("1.5GB"), Ok(1_500_000_000));
        assert_eq!(parse_bytes("0.5KiB"), Ok(512));
    }

    #[test]
    fn bare_numbers_are_bytes() {
        assert_eq!(parse_bytes("512"), Ok(512));
        assert_eq!(parse_bytes("512B"), Ok(512));
        assert_eq!(parse_bytes("0"), Ok(0));
    }

    #[test]
    fn bad_sizes_are_rejected_with_the_text() {
        for bad in ["32XB", "", "MiB", "-1MiB", "1..2MB", ".5MB", "5.MB", "1.2.3", "ten"] {
            let err = parse_bytes(bad).expect_err(bad);
            assert_eq!(err, UnitError::NotASize(bad.to_string()), "{bad}");
        }
        assert_eq!(
            parse_bytes("32XB").map_err(|e| e.to_string()),
            Err("\"32XB\" is not a size (use e.g. 32MiB, 64KiB, 1GB or a number of bytes)".to_string())
        );
    }

    #[test]
    fn oversized_sizes_are_errors_not_saturated() {
        assert!(matches!(parse_bytes("99999999999TiB"), Err(UnitError::SizeOverflow(_))));
        assert!(matches!(parse_bytes("99999999999999999999999"), Err(UnitError::SizeOverflow(_))));
        assert!(matches!(parse_bytes("99999999999.5TiB"), Err(UnitError::SizeOverflow(_))));
    }

    #[test]
    fn durations_use_humantime_units() {
        assert_eq!(parse_duration("50ms"), Ok(Duration::from_millis(50)));
        assert_eq!(parse_duration("5s"), Ok(Duration::from_secs(5)));
        assert_eq!(parse_duration("1m"), Ok(Duration::from_secs(60)));
        assert_eq!(parse_duration("250us"), Ok(Duration::from_micros(250)));
        assert_eq!(parse_duration("1h 30m"), Ok(Duration::from_secs(5400)));
    }

    #[test]
    fn bad_durations_are_rejected_with_the_text() {
        for bad in ["50", "5 parsecs", "", "ms", "-5s"] {
            assert_eq!(parse_duration(bad), Err(UnitError::NotADuration(bad.to_string())), "{bad}");
        }
    }
}
