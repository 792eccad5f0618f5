//! Where the admin token comes from besides the command line (where `ps`
//! shows it to every local user): a file, or the `FLOWCTL_ADMIN_TOKEN`
//! environment variable. Used by `flowctl run` (through the config) and by
//! the `status`, `traffic` and `rollback` clients alike.

use std::path::{Path, PathBuf};

/// The environment variable both sides read the token from.
pub const ADMIN_TOKEN_ENV: &str = "FLOWCTL_ADMIN_TOKEN";

#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    #[error("cannot read the admin token file {path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("the admin token file {0} is empty")]
    EmptyFile(PathBuf),
    #[error("the admin token file {0} holds more than one line (write the token alone)")]
    Lines(PathBuf),
    #[error("{ADMIN_TOKEN_ENV} is set but empty (unset it, or set it to the token)")]
    EmptyEnv,
}

/// A token read from a file.
#[derive(Debug)]
pub struct TokenFile {
    pub token: String,
    /// The file's permission bits when group or others may read it (e.g. `0o644`).
    pub loose_mode: Option<u32>,
}

/// Reads the token in `path`: the file's text without surrounding whitespace
/// (so a trailing newline is fine), one line, not empty.
pub fn read_file(path: &Path) -> Result<TokenFile, TokenError> {
    let text = std::fs::read_to_string(path).map_err(|source| TokenError::Read { path: path.to_owned(), source })?;
    let token = text.trim();
    if token.is_empty() {
        return Err(TokenError::EmptyFile(path.to_owned()));
    }
    if token.contains(['\n', '\r']) {
        return Err(TokenError::Lines(path.to_owned()));
    }
    Ok(TokenFile { token: token.to_owned(), loose_mode: loose_mode(path) })
}

/// The token in [`ADMIN_TOKEN_ENV`], or `None` when it is not set.
pub fn from_env() -> Result<Option<String>, TokenError> {
    from_env_value(std::env::var_os(ADMIN_TOKEN_ENV))
}

/// [`from_env`] for a value already read (the config takes it from its `Environment`).
pub fn from_env_value(value: Option<std::ffi::OsString>) -> Result<Option<String>, TokenError> {
    let Some(value) = value else { return Ok(None) };
    let token = value.to_string_lossy().trim().to_owned();
    if token.is_empty() {
        return Err(TokenError::EmptyEnv);
    }
    Ok(Some(token))
}

/// The permission bits of `path` if group or others have any access.
fn loose_mode(path: &Path) -> Option<u32> {
    crate::secret_file::exposed_mode(&std::fs::metadata(path).ok()?)
}

/// The warning for a token file others can read.
pub fn loose_mode_warning(path: &Path, mode: u32) -> String {
    format!(
        "the admin token file {} is readable by group or others (mode {mode:04o}); restrict it with chmod 600",
        path.display()
    )
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    fn write(dir: &tempfile::TempDir, text: &str, mode: u32) -> PathBuf {
        let path = dir.path().join("token");
        std::fs::write(&path, text).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
        path
    }

    #[test]
    fn a_token_file_holds_one_trimmed_line() {
        let dir = tempfile::tempdir().unwrap();
        let file = read_file(&write(&dir, "s3cret\n", 0o600)).unwrap();
        assert_eq!((file.token.as_str(), file.loose_mode), ("s3cret", None));
        assert_eq!(read_file(&write(&dir, "  s3cret  \r\n", 0o400)).unwrap().token, "s3cret");
    }

    #[test]
    fn empty_multi_line_and_missing_files_are_errors_naming_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = write(&dir, " \n\n", 0o600);
        let empty = read_file(&path).unwrap_err();
        assert_eq!(empty.to_string(), format!("the admin token file {} is empty", path.display()));
        assert!(matches!(read_file(&write(&dir, "a\nb\n", 0o600)), Err(TokenError::Lines(_))));
        let missing = dir.path().join("nope");
        let error = read_file(&missing).unwrap_err().to_string();
        assert!(error.starts_with(&format!("cannot read the admin token file {}: ", missing.display())), "{error}");
    }

    #[test]
    fn a_file_others_can_read_is_flagged() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(read_file(&write(&dir, "t", 0o644)).unwrap().loose_mode, Some(0o644));
        assert_eq!(read_file(&write(&dir, "t", 0o640)).unwrap().loose_mode, Some(0o640));
        assert_eq!(read_file(&write(&dir, "t", 0o600)).unwrap().loose_mode, None);
        let path = dir.path().join("token");
        assert_eq!(
            loose_mode_warning(&path, 0o644),
            format!(
                "the admin token file {} is readable by group or others (mode 0644); restrict it with chmod 600",
                path.display()
            )
        );
    }

    #[test]
    fn the_environment_variable_is_trimmed_and_must_not_be_empty() {
        assert_eq!(from_env_value(None).unwrap(), None);
        assert_eq!(from_env_value(Some("t0ken\n".into())).unwrap(), Some("t0ken".into()));
        assert!(matches!(from_env_value(Some("  ".into())), Err(TokenError::EmptyEnv)));
    }
}
