//! `flowctl verify MODULE.wasm --pubkey KEY [--pubkey KEY ...]`: checks the
//! module's embedded signature against the given public keys, exactly as a
//! processor with `require_signature` does. Exit 0: signed by one of them;
//! 1: unsigned, unknown key, modified module or bad signature.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;

use crate::signing::TrustedKeys;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The module (.wasm).
    pub module: PathBuf,
    /// A trusted public key (`.pub` file); repeatable.
    #[arg(long = "pubkey", value_name = "KEY.pub", required = true)]
    pub pubkeys: Vec<PathBuf>,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let trusted = TrustedKeys::read(&args.pubkeys)?;
    let bytes = std::fs::read(&args.module).with_context(|| format!("cannot read {}", args.module.display()))?;
    match trusted.verify(&bytes) {
        Ok(verified) => {
            println!(
                "{}: good signature by key {} ({})",
                args.module.display(),
                verified.key_id,
                verified.key_file.display()
            );
            Ok(ExitCode::SUCCESS)
        }
        Err(err) => {
            eprintln!("{}: {err}", args.module.display());
            Ok(ExitCode::FAILURE)
        }
    }
}
