//! Where the admin token comes from: `admin_token`, `admin_token_file`
//! (relative to the pipeline file) or `FLOWCTL_ADMIN_TOKEN`, and what is wrong with each.

#![allow(clippy::unwrap_used)] // tests: a failed unwrap is a failed test

use std::os::unix::fs::PermissionsExt;

use super::tests::{wrap, Dir, MINIMAL};
use super::*;

/// `MINIMAL` with `lines` under `spec.settings:` (the first at line 6).
fn with_settings(lines: &str) -> String {
    format!("spec:\n  settings:\n{lines}{}", &MINIMAL["spec:\n".len()..])
}

fn token_file(dir: &Dir, text: &str, mode: u32) -> std::path::PathBuf {
    std::fs::create_dir_all(dir.dir.path().join("secrets")).unwrap();
    let path = dir.dir.path().join("secrets/admin");
    std::fs::write(&path, text).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
    path
}

fn env(token: &str) -> Environment {
    Environment { admin_token: Some(token.into()) }
}

fn parse_env(dir: &Dir, spec: &str, env: &Environment) -> Result<Pipeline, ConfigErrors> {
    parse_with(&wrap(spec), &dir.file(), env)
}

#[test]
fn a_token_file_is_read_relative_to_the_pipeline_file() {
    let dir = Dir::new();
    let path = token_file(&dir, "t0ken\n", 0o600);
    let pipeline = dir.parse(&with_settings("    admin_token_file: secrets/admin\n")).unwrap();
    let token = pipeline.settings.admin_token.unwrap();
    assert_eq!(token.secret, "t0ken");
    assert_eq!(token.source, TokenSource::File { path, loose_mode: None });
    assert!(!format!("{token:?}").contains("t0ken"), "Debug shows the secret: {token:?}");
}

#[test]
fn a_token_file_others_can_read_is_noted_for_a_warning() {
    let dir = Dir::new();
    token_file(&dir, "t0ken", 0o644);
    let pipeline = dir.parse(&with_settings("    admin_token_file: secrets/admin\n")).unwrap();
    let source = pipeline.settings.admin_token.unwrap().source;
    assert!(matches!(source, TokenSource::File { loose_mode: Some(0o644), .. }), "{source:?}");
}

#[test]
fn token_file_problems_name_the_file() {
    let dir = Dir::new();
    token_file(&dir, "\n", 0o600);
    let problems = dir.problems(&with_settings("    admin_token_file: secrets/admin\n"));
    assert_eq!(problems, ["6: spec.settings.admin_token_file: secrets/admin is empty"]);
    let problems = dir.problems(&with_settings("    admin_token_file: secrets/nope\n"));
    assert_eq!(problems.len(), 1);
    assert!(problems[0].starts_with("6: spec.settings.admin_token_file: cannot read secrets/nope: "), "{problems:?}");
    let problems = dir.problems(&with_settings("    admin_token: a\n    admin_token_file: secrets/admin\n"));
    assert_eq!(problems, ["6: spec.settings.admin_token: use either admin_token or admin_token_file, not both"]);
}

#[test]
fn the_environment_variable_wins_and_counts_as_a_token() {
    let dir = Dir::new();
    token_file(&dir, "from-file", 0o600);
    let spec = with_settings("    metrics_addr: 0.0.0.0:9464\n    admin_token_file: secrets/admin\n");
    let token = parse_env(&dir, &spec, &env("from-env")).unwrap().settings.admin_token.unwrap();
    assert_eq!(token.secret, "from-env");
    assert_eq!(token.source, TokenSource::Env { overrides: Some("spec.settings.admin_token_file") });
    let off_loopback = with_settings("    metrics_addr: 0.0.0.0:9464\n");
    let token = parse_env(&dir, &off_loopback, &env(" from-env\n")).unwrap().settings.admin_token.unwrap();
    assert_eq!((token.secret.as_str(), token.source), ("from-env", TokenSource::Env { overrides: None }));
    assert!(dir.parse(&off_loopback).is_err(), "without it, off loopback needs a token in the file");
}

#[test]
fn an_empty_environment_variable_is_an_error() {
    let dir = Dir::new();
    let errors = parse_env(&dir, &with_settings("    admin_token: a\n"), &env(" ")).unwrap_err();
    let file = dir.file();
    assert_eq!(
        errors.to_string(),
        format!("{}: FLOWCTL_ADMIN_TOKEN is set but empty (unset it, or set it to the token)", file.display())
    );
}
