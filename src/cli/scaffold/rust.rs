//! The Rust scaffold: a crate in the guest workspace (`processors/`),
//! added to its `members`.

use std::path::Path;

use anyhow::{bail, Context};

/// Adds `name` to the workspace at `dir`; returns the manifest to write once the crate's files are in place.
pub fn prepare(dir: &Path, name: &str) -> anyhow::Result<(std::path::PathBuf, String)> {
    let manifest = dir.join("Cargo.toml");
    let workspace = std::fs::read_to_string(&manifest).with_context(|| {
        format!("no guest workspace at {} (run from a flowctl checkout, or pass --dir)", manifest.display())
    })?;
    let workspace = add_member(&workspace, name).with_context(|| format!("updating {}", manifest.display()))?;
    Ok((manifest, workspace))
}

/// The workspace manifest with `name` appended to `workspace.members`.
fn add_member(manifest: &str, name: &str) -> anyhow::Result<String> {
    let mut doc: toml_edit::DocumentMut = manifest.parse().context("not valid TOML")?;
    if doc.get("workspace").and_then(|w| w.get("dependencies")).is_none_or(|d| d.get("flowctl-sdk").is_none()) {
        bail!("its [workspace.dependencies] has no flowctl-sdk");
    }
    let members = doc
        .get_mut("workspace")
        .and_then(|w| w.get_mut("members"))
        .and_then(|m| m.as_array_mut())
        .context("it has no `[workspace] members` list")?;
    if members.iter().any(|m| m.as_str() == Some(name)) {
        bail!("`{name}` is already a member");
    }
    members.push(name);
    Ok(doc.to_string())
}

/// The crate's files, relative to its directory.
pub fn files(name: &str) -> Vec<(&'static Path, String)> {
    let manifest = format!(
        r#"[package]
name = "{name}"
version.workspace = true
edition.workspace = true
license.workspace = true
publish = false

[lib]
crate-type = ["cdylib", "rlib"]

[dependencies]
flowctl-sdk.workspace = true
serde.workspace = true
serde_json.workspace = true
"#
    );
    let lib = LIB_TEMPLATE.replace("{name}", name);
    let sample = r#"{"id":"e-1","type":"example.v1","timestamp":1700000000000,"data":{"n":1}}
{"id":"e-2","type":"example.v1","timestamp":1700000000001,"data":{"n":2}}
"#;
    let golden = format!(
        r#"{{"id":"e-1","type":"example.v1","timestamp":1700000000000,"data":{{"n":1}},"metadata":{{"{name}.greeting":"hello"}}}}
{{"id":"e-2","type":"example.v1","timestamp":1700000000001,"data":{{"n":2}},"metadata":{{"{name}.greeting":"hello"}}}}
"#
    );
    vec![
        (Path::new("Cargo.toml"), manifest),
        (Path::new("src/lib.rs"), lib),
        (Path::new("tests/fixtures/sample.jsonl"), sample.to_string()),
        (Path::new("tests/fixtures/sample.golden.jsonl"), golden),
    ]
}

const LIB_TEMPLATE: &str = r#"//! `{name}`: a flowctl processor. It tags every event with
//! `metadata["{name}.greeting"]`, taken from the pipeline's `config:`.
//!
//! Build: `flowctl build` (or scripts/build-processors.sh) makes `processors/{name}.wasm`.
//! Test:  `flowctl test processors/{name}.wasm --input processors/{name}/tests/fixtures/sample.jsonl
//!         --expect processors/{name}/tests/fixtures/sample.golden.jsonl`

use flowctl_sdk::{Event, Output, Processor, Result};
use serde::Deserialize;

/// The processor's `config:` block in flowctl.yaml.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    #[serde(default = "default_greeting")]
    pub greeting: String,
}

fn default_greeting() -> String {
    "hello".to_string()
}

pub struct Greeter {
    greeting: String,
}

impl Processor for Greeter {
    type Config = Config;

    fn new(config: Config) -> Result<Self> {
        Ok(Self { greeting: config.greeting })
    }

    fn process(&mut self, mut event: Event) -> Result<Output> {
        event.metadata.insert("{name}.greeting".to_string(), self.greeting.clone());
        Ok(Output::One(event))
    }
}

flowctl_sdk::processor!(Greeter);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_events_with_the_greeting() {
        let mut p = Greeter::new(Config { greeting: "hi".into() }).unwrap();
        let Output::One(out) = p.process(Event::default()).unwrap() else { panic!("one event expected") };
        assert_eq!(out.metadata["{name}.greeting"], "hi");
    }
}
"#;

#[cfg(test)]
mod tests {
    use super::*;

    const WORKSPACE: &str = "[workspace]\nmembers = [\n    \"sdk\",\n    \"filter\",\n]\n\n[workspace.dependencies]\nflowctl-sdk = { path = \"sdk\" }\n";

    #[test]
    fn adds_the_member_and_keeps_the_rest() {
        let out = add_member(WORKSPACE, "geo").unwrap();
        assert!(out.contains("\"filter\",") && out.contains("\"geo\""), "{out}");
        assert!(out.contains("flowctl-sdk = { path = \"sdk\" }"));
        assert!(add_member(&out, "geo").is_err(), "twice is refused");
        assert!(add_member("[package]\nname = \"x\"\n", "geo").is_err(), "not a workspace");
    }
}
