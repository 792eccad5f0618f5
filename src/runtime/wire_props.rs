//! Property test of the guest-output parser: whatever bytes a guest returns
//! (random bytes, mutations of valid output, deep nesting, huge arrays,
//! invalid UTF-8, NaN and huge numbers), parsing never panics, answers one
//! entry per input event or a `malformed_output` error, and never builds
//! more than `max_outputs` events per entry.
//!
//! `FLOWCTL_FUZZ_CASES` sets the number of cases (default 20,000, a couple
//! of seconds); `FLOWCTL_FUZZ_SEED` replays a run. docs/security.md records
//! the longest run.

use std::panic::{catch_unwind, AssertUnwindSafe};

use serde_json::json;

use super::error::ProcessError;
use super::wire;
use crate::event::Event;

const MAX_OUTPUTS: usize = 50;
const FINISH: wire::Finish<'static> = wire::Finish { version: "v1", max_outputs: MAX_OUTPUTS };

fn cases() -> u64 {
    std::env::var("FLOWCTL_FUZZ_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(20_000)
}

fn seed() -> u64 {
    std::env::var("FLOWCTL_FUZZ_SEED").ok().and_then(|v| v.parse().ok()).unwrap_or(0x5eed_f10c)
}

fn input() -> Event {
    Event::new("in", "t", 1, json!({"x": 1}))
}

/// A valid output entry: one event, an array of events or a guest error.
fn valid_entry(rng: &mut fastrand::Rng) -> String {
    let event = |rng: &mut fastrand::Rng| {
        json!({"id": format!("o{}", rng.u32(..)), "data": {"n": rng.i64(..)}, "metadata": {"k": "v"}}).to_string()
    };
    match rng.u8(..4) {
        0 => event(rng),
        // The input unchanged, which the parser recognises by its bytes.
        1 => String::from_utf8_lossy(input().as_json()).into_owned(),
        2 => format!("[{}]", (0..rng.usize(..4)).map(|_| event(rng)).collect::<Vec<_>>().join(",")),
        _ => r#"{"error": "bad input"}"#.to_owned(),
    }
}

/// One hostile output, of one of several shapes.
fn hostile(rng: &mut fastrand::Rng, inputs: usize) -> Vec<u8> {
    match rng.u8(..8) {
        0 => (0..rng.usize(..512)).map(|_| rng.u8(..)).collect(),
        1 => {
            let depth = rng.usize(1..20_000);
            let open = if rng.bool() { "[" } else { "{\"data\":" };
            let mut text = open.repeat(depth);
            text.push_str(&"]".repeat(depth));
            text.into_bytes()
        }
        2 => format!("[{}]", vec!["{}"; rng.usize(..5_000)].join(",")).into_bytes(),
        3 => {
            let mut bytes = br#"{"id":""#.to_vec();
            bytes.extend((0..rng.usize(1..16)).map(|_| 0x80 | rng.u8(..0x40)));
            bytes.extend_from_slice(br#"","data":1}"#);
            bytes
        }
        4 => {
            let numbers = ["NaN", "1e999999", "-1e999999", "18446744073709551616", "-0", "1e-400", "Infinity"];
            let n = numbers[rng.usize(..numbers.len())];
            let field = ["data", "timestamp", "id"][rng.usize(..3)];
            format!(r#"{{"{field}": {n}}}"#).into_bytes()
        }
        5 | 6 => {
            let entries: Vec<String> = (0..inputs).map(|_| valid_entry(rng)).collect();
            let mut bytes = format!("[{}]", entries.join(",")).into_bytes();
            for _ in 0..rng.usize(..4) {
                if !bytes.is_empty() {
                    let at = rng.usize(..bytes.len());
                    bytes[at] = rng.u8(..);
                }
            }
            bytes
        }
        _ => format!("[{}]", vec![valid_entry(rng); inputs + rng.usize(..3)].join(",")).into_bytes(),
    }
}

fn check_entries(entries: &[wire::Entry]) {
    for entry in entries {
        match entry {
            Ok(outs) => {
                assert!(outs.len() <= MAX_OUTPUTS, "{} outputs built", outs.len());
            }
            Err(err) => assert!(
                matches!(err, ProcessError::Guest(_) | ProcessError::TooManyOutputs { limit: MAX_OUTPUTS }),
                "{err:?}"
            ),
        }
    }
}

#[test]
fn any_guest_output_parses_or_fails_cleanly() {
    let (seed, cases) = (seed(), cases());
    let input = input();
    for case in 0..cases {
        let mut rng = fastrand::Rng::with_seed(seed.wrapping_add(case));
        let inputs = rng.usize(1..5);
        let output = hostile(&mut rng, inputs);
        let outcome = catch_unwind(AssertUnwindSafe(|| {
            let batch = vec![input.clone(); inputs];
            match wire::parse_batch_output(&output, &batch, FINISH) {
                Ok(entries) => {
                    assert_eq!(entries.len(), inputs);
                    check_entries(&entries);
                }
                Err(err) => assert_eq!(err.kind(), "malformed_output", "{err:?}"),
            }
            match wire::parse_event_output(&output, &input, FINISH) {
                Ok(entry) => check_entries(std::slice::from_ref(&entry)),
                Err(err) => assert_eq!(err.kind(), "malformed_output", "{err:?}"),
            }
        }));
        if let Err(panic) = outcome {
            let shown = String::from_utf8_lossy(&output[..output.len().min(200)]).into_owned();
            let message = panic.downcast_ref::<String>().cloned().unwrap_or_default();
            panic!("case {case} (FLOWCTL_FUZZ_SEED={seed}, output {shown:?}): {message}");
        }
    }
}
