//! `flowctl traffic PROCESSOR v1=90 v2=10`: sets a running processor's
//! traffic split. Versions not named keep their weight.

use std::collections::BTreeMap;
use std::process::ExitCode;

use super::admin_opts::{finish, AdminOptions};
use super::status::print_split;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The processor's id.
    pub processor: String,
    /// New weights as VERSION=WEIGHT (relative shares; 0 = no traffic).
    #[arg(required = true, value_name = "VERSION=WEIGHT", value_parser = parse_weight)]
    pub weights: Vec<(String, u32)>,
    #[command(flatten)]
    pub admin: AdminOptions,
}

fn parse_weight(text: &str) -> Result<(String, u32), String> {
    let (name, weight) = text.split_once('=').ok_or_else(|| format!("{text:?} is not VERSION=WEIGHT (e.g. v2=10)"))?;
    let weight =
        weight.trim().parse().map_err(|_| format!("{weight:?} is not a weight (a whole number, 0 or more)"))?;
    match name.trim() {
        "" => Err(format!("{text:?} names no version")),
        name => Ok((name.to_string(), weight)),
    }
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let mut weights = BTreeMap::new();
    for (name, weight) in args.weights {
        if weights.insert(name.clone(), weight).is_some() {
            anyhow::bail!("version {name} is given twice");
        }
    }
    finish(args.admin.client()?.set_traffic(&args.processor, &weights), |status| print_split(&status))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weights_parse() {
        assert_eq!(parse_weight("v1=90"), Ok(("v1".into(), 90)));
        assert_eq!(parse_weight("abc123def456=0"), Ok(("abc123def456".into(), 0)));
        assert!(parse_weight("v1").is_err());
        assert!(parse_weight("v1=-3").is_err());
        assert!(parse_weight("=5").is_err());
    }
}
