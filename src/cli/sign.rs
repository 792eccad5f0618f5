//! `flowctl sign MODULE.wasm --key KEY`: embeds an Ed25519 signature in the
//! module (a `flowctl.signature` custom section), replacing any earlier one.
//! The file is replaced by a rename, so a pipeline watching it reloads the
//! signed module whole.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;

use crate::signing::{self, SigningKey};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The compiled module (.wasm).
    pub module: PathBuf,
    /// The private key (from `flowctl keygen`, or an Ed25519 PKCS#8 PEM file).
    #[arg(long, value_name = "KEY")]
    pub key: PathBuf,
    /// Write the signed module here instead of replacing MODULE.
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let key = SigningKey::read(&args.key)?;
    let bytes = std::fs::read(&args.module).with_context(|| format!("cannot read {}", args.module.display()))?;
    let signed = signing::sign(&bytes, &key).with_context(|| format!("{}", args.module.display()))?;
    let out = args.out.as_ref().unwrap_or(&args.module);
    signing::trust::replace_file(out, &signed.bytes).with_context(|| format!("cannot write {}", out.display()))?;
    let replaced = match signed.replaced {
        Some(old) if old == signed.key_id => " (signed again with the same key)".to_string(),
        Some(old) => format!(" (replaced the signature by key {old})"),
        None => String::new(),
    };
    println!("{}: signed with key {}{replaced}", out.display(), signed.key_id);
    Ok(ExitCode::SUCCESS)
}
