//! The admin API's token: `FLOWCTL_ADMIN_TOKEN`, else `admin_token_file`
//! (relative to the pipeline file), else `admin_token`; mandatory when the
//! listener it shares with `/metrics` is not on loopback.

use std::net::SocketAddr;

use super::model::{AdminToken, Settings, TokenSource};
use super::raw::RawSettings;
use super::resolve::Resolver;
use crate::admin::token::{self, TokenError, ADMIN_TOKEN_ENV};

/// What [`super::load`] takes from the process environment rather than the file.
#[derive(Debug, Clone, Default)]
pub struct Environment {
    /// `FLOWCTL_ADMIN_TOKEN` as set (`None`: unset).
    pub admin_token: Option<std::ffi::OsString>,
}

impl Environment {
    pub fn from_process() -> Self {
        Self { admin_token: std::env::var_os(ADMIN_TOKEN_ENV) }
    }
}

/// The admin API changes routing, so off loopback it must be guarded by a token.
pub(crate) fn admin_access(r: &mut Resolver, raw: &RawSettings, settings: &mut Settings) {
    let from_file = file_token(r, raw);
    settings.admin_token = match token::from_env_value(r.env.admin_token.clone()) {
        Ok(Some(secret)) => {
            let overrides = match (&raw.admin_token, &raw.admin_token_file) {
                (_, Some(_)) => Some("spec.settings.admin_token_file"),
                (Some(_), None) => Some("spec.settings.admin_token"),
                (None, None) => None,
            };
            Some(AdminToken { secret, source: TokenSource::Env { overrides } })
        }
        Ok(None) => from_file,
        Err(error) => {
            r.problems.at(None, "", error.to_string());
            from_file
        }
    };
    // An address that does not parse is reported by `settings`.
    let Some(addr) = &raw.metrics_addr else { return };
    let Ok(parsed) = addr.value.parse::<SocketAddr>() else { return };
    if !parsed.ip().is_loopback() && settings.admin_token.is_none() {
        let message = format!(
            "{parsed} is not a loopback address, and the admin API listens there too: set spec.settings.admin_token_file (or admin_token, or {ADMIN_TOKEN_ENV})"
        );
        r.problems.on(addr, "spec.settings.metrics_addr", message);
    }
}

/// The token the file gives, from `admin_token_file` or `admin_token`.
fn file_token(r: &mut Resolver, raw: &RawSettings) -> Option<AdminToken> {
    match (&raw.admin_token, &raw.admin_token_file) {
        (Some(inline), Some(_)) => {
            r.problems.on(inline, "spec.settings.admin_token", "use either admin_token or admin_token_file, not both");
            None
        }
        (Some(inline), None) if inline.value.trim().is_empty() => {
            r.problems.on(inline, "spec.settings.admin_token", "must not be empty");
            None
        }
        (Some(inline), None) => Some(AdminToken { secret: inline.value.clone(), source: TokenSource::Setting }),
        (None, Some(written)) => {
            let path = r.path(&written.value);
            match token::read_file(&path) {
                Ok(file) => Some(AdminToken {
                    secret: file.token,
                    source: TokenSource::File { path, loose_mode: file.loose_mode },
                }),
                Err(error) => {
                    let message = match error {
                        TokenError::Read { source, .. } => format!("cannot read {}: {source}", written.value),
                        TokenError::EmptyFile(_) => format!("{} is empty", written.value),
                        other => other.to_string(),
                    };
                    r.problems.on(written, "spec.settings.admin_token_file", message);
                    None
                }
            }
        }
        (None, None) => None,
    }
}
