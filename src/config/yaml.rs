//! YAML text to [`RawFile`], turning a syntax or type error into a [`ConfigError`]
//! with its line and the dotted key path it happened under.

use std::path::Path;

use super::error::{line_of, ConfigError};
use super::raw::RawFile;

/// Parses the whole file. Serde stops at the first syntax or type error, so this yields one error;
/// semantic checks after a successful parse report every problem.
pub(crate) fn parse(text: &str, file: &Path) -> Result<RawFile, ConfigError> {
    let mut path = String::new();
    let result = serde_saphyr::with_deserializer_from_str(text, |deserializer| {
        serde_path_to_error::deserialize::<_, RawFile>(deserializer).map_err(|error| {
            path = error.path().to_string();
            error.into_inner()
        })
    });
    result.map_err(|error| {
        let key = user_key_path(&path);
        let mut message = bare_message(&error);
        if key.is_empty() && message == "unexpected end of input" {
            message = "no pipeline in this file (expected apiVersion, kind, metadata and spec)".into();
        }
        ConfigError { file: file.to_path_buf(), line: error.location().and_then(line_of), key, message }
    })
}

/// The path serde tracked, minus what is not a key the user wrote: `Spanned`'s inner
/// `value` field and `?` for a position serde could not name.
pub(crate) fn user_key_path(path: &str) -> String {
    let parts: Vec<&str> = path.split('.').filter(|part| *part != "value" && *part != "?").collect();
    let joined = parts.join(".");
    if joined == "." {
        String::new()
    } else {
        joined
    }
}

/// The error's message without serde-saphyr's ` at line L, column C` suffix or snippet:
/// the line is printed by [`ConfigError`]'s own format.
fn bare_message(error: &serde_saphyr::Error) -> String {
    let text = format!("{:?}", error.without_snippet());
    let text = match text.rfind(" at line ") {
        Some(index) => text[..index].to_string(),
        None => text,
    };
    user_wording(&text)
}

/// Rewords the parser's developer-facing messages for people editing a pipeline file.
fn user_wording(text: &str) -> String {
    if let Some(rest) = text.strip_prefix("unknown field ") {
        return match rest.strip_suffix(", expected one of ") {
            Some(key) => format!("unknown key {key} (this type takes no settings)"),
            None => format!("unknown key {rest}"),
        };
    }
    if let Some(key) = text.strip_prefix("duplicate mapping key: ") {
        let key = key.split(", set DuplicateKeyPolicy").next().unwrap_or(key);
        return format!("key `{key}` appears twice");
    }
    let reworded = match text {
        "invalid u64" | "invalid u32" | "invalid usize" | "invalid u16" | "invalid u8" => {
            "expected a whole number, 0 or more"
        }
        "invalid f64" | "invalid f32" => "expected a number",
        "expected string scalar" => "expected a single value, not a list or mapping",
        "expected mapping start" => "expected a mapping (key: value)",
        "expected sequence start" => "expected a list, e.g. [a, b]",
        _ => return text.to_string(),
    };
    reworded.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parser_wording_is_reworded_for_users() {
        assert_eq!(user_wording("invalid u64"), "expected a whole number, 0 or more");
        assert_eq!(
            user_wording("unknown field `a`, expected one of "),
            "unknown key `a` (this type takes no settings)"
        );
        assert_eq!(user_wording("unknown field `a`, expected one of b, c"), "unknown key `a`, expected one of b, c");
        assert_eq!(
            user_wording("duplicate mapping key: id, set DuplicateKeyPolicy in Options if acceptable"),
            "key `id` appears twice"
        );
        assert_eq!(user_wording("missing field `id`"), "missing field `id`");
    }

    #[test]
    fn spanned_internals_are_not_part_of_the_key() {
        assert_eq!(user_key_path("spec.processors[0].wasm.pool_size.value"), "spec.processors[0].wasm.pool_size");
        assert_eq!(user_key_path("spec.items[0].?"), "spec.items[0]");
        assert_eq!(user_key_path("."), "");
    }

    #[test]
    fn an_empty_file_says_so() {
        for text in ["", "# only a comment\n"] {
            let error = parse(text, Path::new("f.yaml")).expect_err("empty");
            assert_eq!(error.message, "no pipeline in this file (expected apiVersion, kind, metadata and spec)");
        }
    }

    #[test]
    fn a_syntax_error_has_its_line() {
        let error = parse("apiVersion: flowctl/v1\nkind: [\n", Path::new("f.yaml")).expect_err("unclosed");
        assert_eq!(error.line, Some(2));
        assert!(!error.message.contains("at line"), "{}", error.message);
    }

    #[test]
    fn an_unknown_key_is_named_with_its_line_and_path() {
        let text = "apiVersion: flowctl/v1\nkind: Pipeline\nmetadata: {name: p}\nspec:\n  sorces: []\n";
        let error = parse(text, Path::new("f.yaml")).expect_err("typo");
        assert_eq!(error.line, Some(5));
        assert_eq!(error.key, "spec.sorces");
        assert!(error.message.starts_with("unknown key `sorces`"), "{}", error.message);
    }
}
