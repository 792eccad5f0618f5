//! What the `nats` source and sink share: connecting to a NATS server (with
//! the official client, `async-nats`) on the process's network runtime, and
//! the JetStream stream they read or write, created when missing.

use std::time::Duration;

use async_nats::jetstream::{self, stream};

use super::ConnectorError;

/// How long connecting (and each JetStream request at start) may take.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// The stream's window in which a repeated `Nats-Msg-Id` is dropped (NATS's own default).
pub const DUPLICATE_WINDOW: Duration = Duration::from_secs(120);

pub(super) fn error(connector: &str, what: impl std::fmt::Display) -> ConnectorError {
    ConnectorError::Other { connector: connector.to_owned(), message: what.to_string() }
}

/// Connects to `url` and returns its JetStream context and `stream`, creating
/// the stream (capturing `subject`) when it does not exist.
pub(super) async fn open_stream(
    connector: &str,
    url: &str,
    stream_name: &str,
    subject: &str,
) -> Result<(jetstream::Context, stream::Stream), ConnectorError> {
    let client = async_nats::ConnectOptions::new()
        .connection_timeout(CONNECT_TIMEOUT)
        .name(format!("flowctl {connector}"))
        .connect(url)
        .await
        .map_err(|e| error(connector, format!("cannot connect to NATS at {url}: {e}")))?;
    let js = jetstream::new(client);
    let config = stream::Config {
        name: stream_name.to_owned(),
        subjects: vec![subject.to_owned()],
        duplicate_window: DUPLICATE_WINDOW,
        ..Default::default()
    };
    let stream = tokio::time::timeout(CONNECT_TIMEOUT, js.get_or_create_stream(config))
        .await
        .map_err(|_| error(connector, format!("NATS at {url}: no JetStream answer (is the server started with -js?)")))?
        .map_err(|e| error(connector, format!("JetStream stream {stream_name} at {url}: {e}")))?;
    Ok((js, stream))
}
