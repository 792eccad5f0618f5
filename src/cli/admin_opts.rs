//! Flags shared by the verbs that talk to a running pipeline's admin API
//! (`flowctl status`, `traffic`, `rollback`), and how they report a refusal.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;

use crate::admin::token::{self, ADMIN_TOKEN_ENV};
use crate::admin::{AdminClient, ClientError};

#[derive(Debug, Clone, clap::Args)]
pub struct AdminOptions {
    /// Where the pipeline's `/metrics` and admin API listen (its `settings.metrics_addr`).
    #[arg(long, value_name = "IP:PORT", default_value = "127.0.0.1:9464")]
    pub addr: SocketAddr,
    /// The pipeline's admin token. Other local users can see it in `ps`:
    /// prefer --token-file or FLOWCTL_ADMIN_TOKEN.
    #[arg(long, conflicts_with = "token_file")]
    pub token: Option<String>,
    /// A file holding the pipeline's admin token (e.g. its `settings.admin_token_file`).
    /// Without --token or --token-file, FLOWCTL_ADMIN_TOKEN is used if set.
    #[arg(long, value_name = "PATH")]
    pub token_file: Option<PathBuf>,
}

impl AdminOptions {
    pub fn client(&self) -> anyhow::Result<AdminClient> {
        Ok(AdminClient::new(self.addr, self.resolve_token()?))
    }

    /// --token, else --token-file, else FLOWCTL_ADMIN_TOKEN, else none.
    fn resolve_token(&self) -> anyhow::Result<Option<String>> {
        if let Some(token) = &self.token {
            return Ok(Some(token.clone()));
        }
        if let Some(path) = &self.token_file {
            let file = token::read_file(path).context("--token-file")?;
            if let Some(mode) = file.loose_mode {
                eprintln!("warning: {}", token::loose_mode_warning(path, mode));
            }
            return Ok(Some(file.token));
        }
        token::from_env()
            .with_context(|| format!("{ADMIN_TOKEN_ENV} (used when neither --token nor --token-file is given)"))
    }
}

/// Exit code when the pipeline refused the request (unknown processor, bad weights...).
const EXIT_REFUSED: u8 = 1;

/// The outcome of an admin call as an exit code: a refusal is printed as the
/// server worded it (exit 1); an unreachable server is an error (exit 2).
pub fn finish<T>(result: Result<T, ClientError>, print: impl FnOnce(T)) -> anyhow::Result<ExitCode> {
    match result {
        Ok(answer) => {
            print(answer);
            Ok(ExitCode::SUCCESS)
        }
        Err(ClientError::Refused { message, .. }) => {
            eprintln!("error: {message}");
            Ok(ExitCode::from(EXIT_REFUSED))
        }
        Err(other) => Err(other.into()),
    }
}
