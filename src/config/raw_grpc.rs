//! The `config:` of the gRPC connectors as written (`docs/grpc.md` lists every
//! key). Every remote component (source, sink, processor) takes the same keys
//! for reaching it, declared once by [`remote_config!`].

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_saphyr::Spanned;

use super::raw::UnitText;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawTls {
    pub ca: Option<Spanned<String>>,
    pub cert: Option<Spanned<String>>,
    pub key: Option<Spanned<String>>,
    pub domain: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawBackoff {
    pub initial: Option<Spanned<UnitText>>,
    pub max: Option<Spanned<UnitText>>,
}

/// The keys of a remote component, borrowed from whichever connector declared them.
pub struct RemoteKeys<'a> {
    pub endpoint: Option<&'a Spanned<String>>,
    pub tls: Option<&'a RawTls>,
    pub headers: &'a BTreeMap<String, String>,
    pub command: Option<&'a Spanned<Vec<String>>>,
    pub env: &'a BTreeMap<String, String>,
    pub ready_timeout: Option<&'a Spanned<UnitText>>,
    pub stop_grace: Option<&'a Spanned<UnitText>>,
    pub connect_timeout: Option<&'a Spanned<UnitText>>,
    pub backoff: Option<&'a RawBackoff>,
}

/// A connector config struct with the remote keys plus its own.
macro_rules! remote_config {
    ($(#[$meta:meta])* $name:ident { $($(#[$field_meta:meta])* $field:ident: $ty:ty,)* }) => {
        $(#[$meta])*
        #[derive(Debug, Default, Deserialize)]
        #[serde(deny_unknown_fields)]
        pub struct $name {
            pub endpoint: Option<Spanned<String>>,
            pub tls: Option<RawTls>,
            #[serde(default)]
            pub headers: BTreeMap<String, String>,
            pub command: Option<Spanned<Vec<String>>>,
            #[serde(default)]
            pub env: BTreeMap<String, String>,
            pub ready_timeout: Option<Spanned<UnitText>>,
            pub stop_grace: Option<Spanned<UnitText>>,
            pub connect_timeout: Option<Spanned<UnitText>>,
            pub backoff: Option<RawBackoff>,
            $($(#[$field_meta])* pub $field: $ty,)*
        }

        impl $name {
            pub fn remote(&self) -> RemoteKeys<'_> {
                RemoteKeys {
                    endpoint: self.endpoint.as_ref(),
                    tls: self.tls.as_ref(),
                    headers: &self.headers,
                    command: self.command.as_ref(),
                    env: &self.env,
                    ready_timeout: self.ready_timeout.as_ref(),
                    stop_grace: self.stop_grace.as_ref(),
                    connect_timeout: self.connect_timeout.as_ref(),
                    backoff: self.backoff.as_ref(),
                }
            }
        }
    };
}

remote_config!(
    /// `type: grpc` source.
    RawGrpcSource {
        #[serde(default)]
        params: BTreeMap<String, String>,
        state_key: Option<String>,
    }
);

remote_config!(
    /// `type: grpc` sink.
    RawGrpcSink {
        stream_events: Option<Spanned<usize>>,
        stream_timeout: Option<Spanned<UnitText>>,
        max_retries: Option<u32>,
    }
);

remote_config!(
    /// `type: grpc` processor.
    RawGrpcProcessor {
        batch_size: Option<Spanned<usize>>,
        batch_timeout: Option<Spanned<UnitText>>,
        concurrency: Option<Spanned<usize>>,
        timeout: Option<Spanned<UnitText>>,
        max_retries: Option<u32>,
    }
);

/// `type: grpc_server` sink.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawGrpcServer {
    pub listen: Spanned<String>,
    pub buffer: Option<Spanned<usize>>,
    pub slow_subscriber: Option<Spanned<String>>,
}
