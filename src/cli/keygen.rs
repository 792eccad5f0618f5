//! `flowctl keygen [--out NAME]`: a new Ed25519 key pair for signing modules:
//! the private key at NAME (mode 0600), the public key at NAME.pub.

use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Private key file to create; the public key goes to the same name plus `.pub`. Never overwrites.
    #[arg(long, value_name = "NAME", default_value = "flowctl-signing.key")]
    pub out: PathBuf,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let pair = crate::signing::keys::generate(&args.out)?;
    println!(
        "private key: {} (keep it secret; sign with `flowctl sign MODULE.wasm --key {}`)",
        pair.private.display(),
        pair.private.display()
    );
    println!("public key:  {} (list it in spec.settings.trusted_keys)", pair.public.display());
    println!("key id:      {}", pair.id);
    Ok(ExitCode::SUCCESS)
}
