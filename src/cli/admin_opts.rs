//! Flags shared by the verbs that talk to a running pipeline's admin API
//! (`flowctl status`, `traffic`, `rollback`), and how they report a refusal.

use std::net::SocketAddr;
use std::process::ExitCode;

use crate::admin::{AdminClient, ClientError};

#[derive(Debug, Clone, clap::Args)]
pub struct AdminOptions {
    /// Where the pipeline's `/metrics` and admin API listen (its `settings.metrics_addr`).
    #[arg(long, value_name = "IP:PORT", default_value = "127.0.0.1:9464")]
    pub addr: SocketAddr,
    /// The pipeline's `settings.admin_token`, if it has one.
    #[arg(long)]
    pub token: Option<String>,
}

impl AdminOptions {
    pub fn client(&self) -> AdminClient {
        AdminClient::new(self.addr, self.token.clone())
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
