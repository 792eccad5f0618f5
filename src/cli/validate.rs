//! `flowctl validate PATH`: checks a pipeline file (`.yaml`/`.yml`, and every
//! module it names) or a single module (`.wasm`/`.wat`) and says what is wrong.
//! Also shows a module's signature, and checks it for processors with
//! `require_signature` as `flowctl run` would.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use crate::runtime::validate::inspect;
use crate::signing::{self, TrustedKeys};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// A pipeline file (.yaml, .yml) or a processor module (.wasm, .wat).
    #[arg(default_value_os_t = super::default_pipeline_file())]
    pub path: PathBuf,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let is_pipeline = matches!(args.path.extension().and_then(|e| e.to_str()), Some("yaml" | "yml"));
    let usable = if is_pipeline { validate_pipeline(&args.path)? } else { validate_module(&args.path, "", None)? };
    Ok(if usable { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}

fn validate_pipeline(path: &Path) -> anyhow::Result<bool> {
    let pipeline = match crate::config::validate_file(path) {
        Ok(pipeline) => pipeline,
        Err(errors) => {
            eprintln!("{errors}");
            return Ok(false);
        }
    };
    println!(
        "{}: pipeline `{}` is valid: {} source(s), {} processor(s), {} sink(s)",
        path.display(),
        pipeline.name,
        pipeline.sources.len(),
        pipeline.processors.len(),
        pipeline.sinks.len()
    );
    let mut usable = true;
    for processor in &pipeline.processors {
        let Some(wasm) = processor.wasm() else { continue };
        let trusted = wasm.require_signature.then_some(&pipeline.settings.trusted_keys);
        for version in &wasm.versions {
            let label = match &version.name {
                Some(name) => format!("processor `{}` version `{name}`: ", processor.id),
                None => format!("processor `{}`: ", processor.id),
            };
            usable &= validate_module(&version.module, &label, trusted)?;
        }
    }
    Ok(usable)
}

/// Prints the module's report under `label`; whether it is usable (and, with
/// `trusted`, signed by one of those keys).
fn validate_module(path: &Path, label: &str, trusted: Option<&TrustedKeys>) -> anyhow::Result<bool> {
    let bytes = match std::fs::read(path) {
        Ok(bytes) => bytes,
        Err(err) => {
            eprintln!("{label}{}: cannot read the module: {err}", path.display());
            return Ok(false);
        }
    };
    let report = inspect(&bytes);
    println!("{label}{}", path.display());
    for line in report.to_string().lines() {
        println!("  {line}");
    }
    if !report.is_usable() {
        for problem in &report.problems {
            eprintln!("{label}{}: {problem}", path.display());
        }
    }
    let signed = match trusted {
        Some(trusted) => match trusted.verify(&bytes) {
            Ok(verified) => {
                println!("  signature: good, key {} ({})", verified.key_id, verified.key_file.display());
                true
            }
            Err(err) => {
                println!("  signature: refused");
                eprintln!("{label}{}: signature required: {err}", path.display());
                false
            }
        },
        None => {
            match signing::signer(&bytes) {
                Ok(Some(key_id)) => println!("  signature: key {key_id} (not checked; `flowctl verify` checks it)"),
                Ok(None) | Err(_) => println!("  signature: none"),
            }
            true
        }
    };
    Ok(report.is_usable() && signed)
}
