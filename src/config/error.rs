//! What is wrong with a pipeline file, said as `file:line: key: message`.

use std::fmt;
use std::path::{Path, PathBuf};

use serde_saphyr::{Location, Spanned};

/// One problem in a pipeline file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// The file as the user named it, so the message matches what they typed.
    pub file: PathBuf,
    /// 1-based line of the offending YAML node, when known.
    pub line: Option<usize>,
    /// Dotted path to the key, e.g. `spec.processors[0].wasm.limits.memory`; empty for the whole file.
    pub key: String,
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file.display())?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
        }
        if !self.key.is_empty() {
            write!(f, ": {}", self.key)?;
        }
        write!(f, ": {}", self.message)
    }
}

impl std::error::Error for ConfigError {}

/// Every problem found in one file, in file order; never empty when returned as an error.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct ConfigErrors(pub Vec<ConfigError>);

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (index, error) in self.0.iter().enumerate() {
            if index > 0 {
                writeln!(f)?;
            }
            write!(f, "{error}")?;
        }
        Ok(())
    }
}

impl ConfigErrors {
    pub fn iter(&self) -> impl Iterator<Item = &ConfigError> {
        self.0.iter()
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl From<ConfigError> for ConfigErrors {
    fn from(error: ConfigError) -> Self {
        Self(vec![error])
    }
}

/// 1-based line of a YAML location; `None` for synthetic or unknown locations.
pub(crate) fn line_of(location: Location) -> Option<usize> {
    (location.line() > 0).then_some(location.line() as usize)
}

pub(crate) fn line_of_spanned<T>(spanned: &Spanned<T>) -> Option<usize> {
    line_of(spanned.referenced)
}

/// Collects problems during validation so all of them are reported at once.
#[derive(Debug)]
pub(crate) struct Problems {
    file: PathBuf,
    errors: Vec<ConfigError>,
    /// Line used for problems in values that lost their position (a buffered connector `config:`).
    fallback_line: Option<usize>,
}

impl Problems {
    pub(crate) fn new(file: &Path) -> Self {
        Self { file: file.to_path_buf(), errors: Vec::new(), fallback_line: None }
    }

    pub(crate) fn set_fallback_line(&mut self, line: Option<usize>) {
        self.fallback_line = line;
    }

    /// Records a problem at `line` (if known) under `key`.
    pub(crate) fn at(&mut self, line: Option<usize>, key: impl Into<String>, message: impl Into<String>) {
        self.errors.push(ConfigError {
            file: self.file.clone(),
            line: line.or(self.fallback_line),
            key: key.into(),
            message: message.into(),
        });
    }

    /// Records a problem at a spanned value's line.
    pub(crate) fn on<T>(&mut self, spanned: &Spanned<T>, key: impl Into<String>, message: impl Into<String>) {
        self.at(line_of_spanned(spanned), key, message);
    }

    /// `Ok(value)` when nothing was recorded, else every problem sorted by line.
    pub(crate) fn finish<T>(mut self, value: T) -> Result<T, ConfigErrors> {
        if self.errors.is_empty() {
            return Ok(value);
        }
        // Stable sort: problems on one line keep the order they were found in.
        self.errors.sort_by_key(|error| error.line.unwrap_or(usize::MAX));
        Err(ConfigErrors(self.errors))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_is_file_line_key_message() {
        let error = ConfigError {
            file: PathBuf::from("flowctl.yaml"),
            line: Some(12),
            key: "spec.processors[0].wasm.limits.memory".into(),
            message: "\"32XB\" is not a size (use e.g. 32MiB)".into(),
        };
        assert_eq!(
            error.to_string(),
            "flowctl.yaml:12: spec.processors[0].wasm.limits.memory: \"32XB\" is not a size (use e.g. 32MiB)"
        );
    }

    #[test]
    fn display_leaves_out_unknown_parts() {
        let error =
            ConfigError { file: PathBuf::from("a.yaml"), line: None, key: String::new(), message: "gone".into() };
        assert_eq!(error.to_string(), "a.yaml: gone");
    }

    #[test]
    fn problems_are_sorted_by_line_one_per_display_line() {
        let mut problems = Problems::new(Path::new("p.yaml"));
        problems.at(Some(9), "b", "second");
        problems.at(None, "c", "last");
        problems.at(Some(3), "a", "first");
        let errors = problems.finish(()).expect_err("three problems");
        assert_eq!(errors.to_string(), "p.yaml:3: a: first\np.yaml:9: b: second\np.yaml: c: last");
    }
}
