//! What `flowctl new processor NAME --lang L` writes: a project next to the
//! language's SDK in the guest directory (`processors/`) that builds with
//! `flowctl build` and passes `flowctl test` against its own fixture as
//! generated. Templates live beside this file, one folder per language.

mod rust;

use std::path::{Path, PathBuf};

use anyhow::{bail, Context};

/// A guest language with an SDK.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Lang {
    Rust,
    Go,
    #[value(alias = "as")]
    Assemblyscript,
}

/// The files of a new project, and what else changes when they are written.
pub struct Plan {
    /// Paths relative to the project directory.
    files: Vec<(PathBuf, String)>,
    /// A file outside the project to replace afterwards (the Rust workspace manifest).
    amend: Option<(PathBuf, String)>,
}

/// Plans project `name` in `dir` (the guest directory holding the SDKs).
pub fn plan(lang: Lang, dir: &Path, name: &str) -> anyhow::Result<Plan> {
    Ok(match lang {
        Lang::Rust => {
            let amend = rust::prepare(dir, name)?;
            let files = rust::files(name).into_iter().map(|(p, t)| (p.to_path_buf(), t)).collect();
            Plan { files, amend: Some(amend) }
        }
        Lang::Go => {
            require_sdk(dir, "sdk-go", "go.mod", "Go")?;
            Plan { files: from_templates(GO, name), amend: None }
        }
        Lang::Assemblyscript => {
            require_sdk(dir, "sdk-assemblyscript", "package.json", "AssemblyScript")?;
            Plan { files: from_templates(ASSEMBLYSCRIPT, name), amend: None }
        }
    })
}

/// Writes the plan into `project` (which must not exist yet).
pub fn write(plan: &Plan, project: &Path) -> anyhow::Result<()> {
    if project.exists() {
        bail!("{} already exists", project.display());
    }
    for (path, text) in &plan.files {
        let path = project.join(path);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).with_context(|| format!("creating {}", parent.display()))?;
        }
        std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))?;
    }
    if let Some((path, text)) = &plan.amend {
        std::fs::write(path, text).with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(())
}

/// A template: where it goes in the project, and its text with `{{name}}` placeholders.
type Template = (&'static str, &'static str);

const GO: &[Template] = &[
    ("go.mod", include_str!("go/go.mod.tmpl")),
    ("main.go", include_str!("go/main.go.tmpl")),
    ("README.md", include_str!("go/README.md.tmpl")),
    ("tests/fixtures/sample.jsonl", include_str!("go/sample.jsonl")),
    ("tests/fixtures/sample.golden.jsonl", include_str!("go/sample.golden.jsonl")),
];

const ASSEMBLYSCRIPT: &[Template] = &[
    ("package.json", include_str!("assemblyscript/package.json.tmpl")),
    // The compiler options (the `minimal` runtime, -O3) that `asc` reads by itself.
    ("asconfig.json", include_str!("assemblyscript/asconfig.json")),
    ("assembly/index.ts", include_str!("assemblyscript/index.ts.tmpl")),
    ("README.md", include_str!("assemblyscript/README.md.tmpl")),
    ("tests/fixtures/sample.jsonl", include_str!("assemblyscript/sample.jsonl")),
    ("tests/fixtures/sample.golden.jsonl", include_str!("assemblyscript/sample.golden.jsonl")),
];

fn from_templates(templates: &[Template], name: &str) -> Vec<(PathBuf, String)> {
    templates.iter().map(|(path, text)| (PathBuf::from(path), text.replace("{{name}}", name))).collect()
}

/// Fails unless `dir` holds the SDK the project refers to by relative path.
fn require_sdk(dir: &Path, sdk: &str, marker: &str, lang: &str) -> anyhow::Result<()> {
    let path = dir.join(sdk).join(marker);
    if !path.is_file() {
        bail!(
            "no {lang} SDK at {} (the new project refers to it as ../{sdk}): run from a flowctl checkout, or pass --dir",
            path.display()
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_template_names_the_project() {
        for (lang, templates) in [(Lang::Go, GO), (Lang::Assemblyscript, ASSEMBLYSCRIPT)] {
            let files = from_templates(templates, "geo-tag");
            assert!(files.iter().all(|(_, text)| !text.contains("{{")), "{lang:?}: a placeholder is left");
            assert!(files.iter().any(|(_, text)| text.contains("geo-tag")), "{lang:?}");
            for fixture in ["tests/fixtures/sample.jsonl", "tests/fixtures/sample.golden.jsonl"] {
                assert!(files.iter().any(|(p, _)| p == Path::new(fixture)), "{lang:?} lacks {fixture}");
            }
        }
    }

    #[test]
    fn a_missing_sdk_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let err = plan(Lang::Go, dir.path(), "x").err().unwrap().to_string();
        assert!(err.contains("no Go SDK at") && err.contains("sdk-go"), "{err}");
        let err = plan(Lang::Assemblyscript, dir.path(), "x").err().unwrap().to_string();
        assert!(err.contains("no AssemblyScript SDK"), "{err}");
    }
}
