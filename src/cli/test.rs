//! `flowctl test MODULE --input EVENTS.jsonl`: runs each event through a
//! module outside any pipeline, prints the outputs, and optionally compares
//! them with a golden file.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;

use super::module_opts::ModuleOptions;
use crate::event::{Event, MODULE_VERSION_KEY};
use crate::runtime::{InstanceSlot, Runtime, RuntimeSettings};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The module to test (.wasm, or .wat text).
    pub module: PathBuf,
    /// Input events, one JSON object per line.
    #[arg(long, value_name = "EVENTS.jsonl")]
    pub input: PathBuf,
    /// Expected output events (JSONL); compared ignoring `metadata.flowctl.module_version`.
    #[arg(long, value_name = "GOLDEN.jsonl")]
    pub expect: Option<PathBuf>,
    /// Events per guest call (uses the module's `process_batch` when it has one).
    #[arg(long, default_value_t = 1)]
    pub batch: usize,
    #[command(flatten)]
    pub module_options: ModuleOptions,
}

/// `log_level` is the global `--log-level`; `warn` by default, so guest
/// warnings and audit lines show, and `--log-level info` adds the guest's
/// info lines.
pub fn run(args: Args, log_level: Option<&str>) -> anyhow::Result<ExitCode> {
    anyhow::ensure!(args.batch > 0, "--batch must be at least 1");
    // Log lines go to stderr next to the per-event errors; stdout is outputs only.
    crate::telemetry::logging::init(log_level.unwrap_or("warn"), crate::telemetry::LogFormat::Human);
    let spec = args.module_options.spec(&args.module)?;
    let runtime = Runtime::new(RuntimeSettings::default()).context("starting the wasm runtime")?;
    let module = runtime.load_file(&args.module, spec).with_context(|| format!("loading {}", args.module.display()))?;
    let (events, mut failed) = read_input(&args.input)?;

    let mut slot = InstanceSlot::new(module);
    // Kept only when there is a golden file to compare with.
    let mut outputs: Option<Vec<Event>> = args.expect.as_ref().map(|_| Vec::new());
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    for chunk in events.chunks(args.batch) {
        for (event, result) in chunk.iter().zip(slot.process(chunk)) {
            match result {
                Ok(events) => {
                    for e in events {
                        out.write_all(&e.to_json())?;
                        out.write_all(b"\n")?;
                        if let Some(outputs) = &mut outputs {
                            outputs.push(e);
                        }
                    }
                }
                Err(err) => {
                    failed = true;
                    eprintln!("event {}: {err}", event.id());
                }
            }
        }
    }
    out.flush()?;
    if let (Some(golden), Some(outputs)) = (&args.expect, &outputs) {
        failed |= !matches_golden(golden, outputs)?;
    }
    Ok(if failed { ExitCode::FAILURE } else { ExitCode::SUCCESS })
}

/// The parsable events; malformed lines are reported (`line N: ...`) and make the run fail.
fn read_input(path: &Path) -> anyhow::Result<(Vec<Event>, bool)> {
    let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let mut events = Vec::new();
    let mut failed = false;
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        match Event::from_json(line.as_bytes()) {
            Ok(event) => events.push(event),
            Err(err) => {
                failed = true;
                eprintln!("line {}: {err}", i + 1);
            }
        }
    }
    Ok((events, failed))
}

/// Compares outputs with the golden file, printing the first differences.
fn matches_golden(path: &Path, outputs: &[Event]) -> anyhow::Result<bool> {
    let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let mut expected = Vec::new();
    for (i, line) in text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()) {
        let value: serde_json::Value =
            serde_json::from_str(line).with_context(|| format!("{}:{}: not JSON", path.display(), i + 1))?;
        expected.push(normalize(value));
    }
    let actual: Vec<serde_json::Value> =
        outputs.iter().map(|e| normalize(serde_json::to_value(e).unwrap_or_default())).collect();
    let mut shown = 0;
    for (i, (want, got)) in expected.iter().zip(&actual).enumerate() {
        if want != got && shown < 5 {
            shown += 1;
            eprintln!("output {} differs from {}:{}", i + 1, path.display(), i + 1);
            eprintln!("  expected: {want}");
            eprintln!("  actual:   {got}");
        }
    }
    let differing = expected.iter().zip(&actual).filter(|(w, g)| w != g).count();
    if expected.len() != actual.len() {
        eprintln!("expected {} output events ({}), got {}", expected.len(), path.display(), actual.len());
    }
    if differing > shown {
        eprintln!("... and {} more differing events", differing - shown);
    }
    Ok(differing == 0 && expected.len() == actual.len())
}

/// An event in comparable form: defaults filled in (when it parses as an
/// event), the module version key and empty metadata removed.
fn normalize(value: serde_json::Value) -> serde_json::Value {
    let mut value = match serde_json::from_value::<Event>(value.clone()) {
        Ok(event) => serde_json::to_value(event).unwrap_or(value),
        Err(_) => value,
    };
    if let Some(object) = value.as_object_mut() {
        if let Some(metadata) = object.get_mut("metadata").and_then(|m| m.as_object_mut()) {
            metadata.remove(MODULE_VERSION_KEY);
            if metadata.is_empty() {
                object.remove("metadata");
            }
        }
    }
    value
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn normalize_ignores_the_module_version_and_fills_defaults() {
        let a = normalize(json!({"id": "1", "metadata": {"flowctl.module_version": "abc"}}));
        let b = normalize(json!({"id": "1", "type": "", "timestamp": 0, "data": null}));
        assert_eq!(a, b);
        assert_ne!(a, normalize(json!({"id": "1", "metadata": {"k": "v"}})));
    }
}
