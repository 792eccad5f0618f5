//! `flowctl new processor NAME [--lang rust|go|assemblyscript]`: scaffolds a
//! processor next to the language's SDK that builds, and passes `flowctl test`
//! against its own fixture, as generated (see `scaffold`).

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::bail;

use super::scaffold::{self, Lang};

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    pub what: What,
}

#[derive(Debug, clap::Subcommand)]
pub enum What {
    /// A processor project: a Rust crate in the guest workspace, or a Go module
    /// or AssemblyScript package next to their SDKs.
    Processor {
        /// Project name: lowercase letters, digits and `-`, starting with a letter.
        name: String,
        /// The guest directory holding the SDKs (and, for Rust, the Cargo workspace).
        #[arg(long, default_value = "processors")]
        dir: PathBuf,
        /// The processor's language.
        #[arg(long, value_enum, default_value_t = Lang::Rust)]
        lang: Lang,
    },
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let What::Processor { name, dir, lang } = args.what;
    check_name(&name)?;
    let project = dir.join(&name);
    if project.exists() {
        bail!("{} already exists", project.display());
    }
    let plan = scaffold::plan(lang, &dir, &name)?;
    scaffold::write(&plan, &project)?;

    // Every language's build puts the module next to the project, as Rust's does.
    let wasm = dir.join(format!("{name}.wasm"));
    let fixtures = project.join("tests/fixtures");
    println!("created {}", project.display());
    println!("next:");
    match lang {
        Lang::Rust => println!("  flowctl build {} --package {name}", dir.display()),
        Lang::Go | Lang::Assemblyscript => println!("  flowctl build {}", project.display()),
    }
    println!(
        "  flowctl test {} --input {} --expect {}",
        wasm.display(),
        fixtures.join("sample.jsonl").display(),
        fixtures.join("sample.golden.jsonl").display()
    );
    Ok(ExitCode::SUCCESS)
}

fn check_name(name: &str) -> anyhow::Result<()> {
    let valid = name.starts_with(|c: char| c.is_ascii_lowercase())
        && name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !name.ends_with('-');
    let reserved = ["sdk", "sdk-go", "sdk-assemblyscript", "target", "node_modules"];
    if !valid || reserved.contains(&name) {
        bail!("`{name}` is not a usable processor name: use lowercase letters, digits and `-`, starting with a letter");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_must_be_crate_names() {
        assert!(check_name("geo-ip2").is_ok());
        for bad in ["Geo", "2geo", "geo_ip", "geo-", "sdk", "sdk-go", ""] {
            assert!(check_name(bad).is_err(), "{bad}");
        }
    }
}
