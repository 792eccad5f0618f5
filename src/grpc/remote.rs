//! Dialing a remote `flowctl.v1` component: its endpoint, TLS files, per-call
//! metadata headers, and the backoff between attempts. Every gRPC client of
//! flowctl (source, sink, processor) connects through [`Remote`].

use std::path::Path;
use std::time::Duration;

use tonic::metadata::{AsciiMetadataKey, AsciiMetadataValue, MetadataMap};
use tonic::service::interceptor::InterceptedService;
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Endpoint, Identity};

use crate::config::{BackoffSpec, RemoteSpec};

/// A channel that adds the configured headers to every call.
pub type RemoteChannel = InterceptedService<Channel, Headers>;

#[derive(Debug, thiserror::Error)]
pub enum RemoteError {
    #[error("no endpoint (set `endpoint:`, or `command:` to have flowctl start the component)")]
    NoEndpoint,
    #[error("{endpoint:?} is not a gRPC endpoint: {reason}")]
    Endpoint { endpoint: String, reason: String },
    #[error("cannot read {what} {path}: {source}")]
    TlsFile { what: &'static str, path: String, source: std::io::Error },
    #[error("TLS for {endpoint}: {reason}")]
    Tls { endpoint: String, reason: String },
    #[error("header {name:?}: {reason}")]
    Header { name: String, reason: String },
}

/// Where and how to dial one remote component.
#[derive(Debug, Clone)]
pub struct Remote {
    uri: String,
    endpoint: Endpoint,
    headers: Headers,
}

impl Remote {
    /// Checks the endpoint, reads the TLS files and the headers now, so a
    /// mistake stops the pipeline before it starts, by name.
    pub fn new(uri: &str, spec: &RemoteSpec) -> Result<Self, RemoteError> {
        let bad = |reason: String| RemoteError::Endpoint { endpoint: uri.to_owned(), reason };
        let mut endpoint = Endpoint::from_shared(uri.to_owned()).map_err(|e| bad(e.to_string()))?;
        endpoint = endpoint
            .connect_timeout(spec.connect_timeout)
            .tcp_nodelay(true)
            .http2_keep_alive_interval(Duration::from_secs(30))
            .keep_alive_while_idle(true);
        if let Some(tls) = &spec.tls {
            let mut config = ClientTlsConfig::new();
            if let Some(ca) = &tls.ca {
                config = config.ca_certificate(Certificate::from_pem(read(ca, "CA certificate")?));
            }
            match (&tls.cert, &tls.key) {
                (Some(cert), Some(key)) => {
                    config = config.identity(Identity::from_pem(read(cert, "certificate")?, read(key, "key")?));
                }
                (None, None) => {}
                _ => {
                    return Err(RemoteError::Tls {
                        endpoint: uri.to_owned(),
                        reason: "a client certificate needs both `cert` and `key`".into(),
                    })
                }
            }
            if let Some(domain) = &tls.domain {
                config = config.domain_name(domain.clone());
            }
            endpoint = endpoint
                .tls_config(config)
                .map_err(|e| RemoteError::Tls { endpoint: uri.to_owned(), reason: e.to_string() })?;
        } else if uri.starts_with("https://") {
            endpoint = endpoint
                .tls_config(ClientTlsConfig::new().with_enabled_roots())
                .map_err(|e| RemoteError::Tls { endpoint: uri.to_owned(), reason: e.to_string() })?;
        }
        Ok(Self { uri: uri.to_owned(), endpoint, headers: Headers::new(&spec.headers)? })
    }

    /// The remote a component's config names. The process driver fills the
    /// endpoint of a component it starts before connectors are built, so a
    /// missing one means neither `endpoint:` nor a started process.
    pub fn for_spec(spec: &RemoteSpec) -> Result<Self, RemoteError> {
        Self::new(spec.endpoint.as_deref().ok_or(RemoteError::NoEndpoint)?, spec)
    }

    pub fn uri(&self) -> &str {
        &self.uri
    }

    /// Connects once (must run on the gRPC runtime, see [`super::io`]).
    pub async fn connect(&self) -> Result<RemoteChannel, tonic::transport::Error> {
        let channel = self.endpoint.connect().await?;
        Ok(InterceptedService::new(channel, self.headers.clone()))
    }

    /// A channel that connects on first use and reconnects by itself.
    pub fn connect_lazy(&self) -> RemoteChannel {
        InterceptedService::new(self.endpoint.connect_lazy(), self.headers.clone())
    }
}

fn read(path: &Path, what: &'static str) -> Result<Vec<u8>, RemoteError> {
    std::fs::read(path).map_err(|source| RemoteError::TlsFile { what, path: path.display().to_string(), source })
}

/// Metadata added to every call (`headers:` in the config, e.g. an API key).
#[derive(Debug, Clone, Default)]
pub struct Headers(MetadataMap);

impl Headers {
    pub fn new(headers: &std::collections::BTreeMap<String, String>) -> Result<Self, RemoteError> {
        let mut map = MetadataMap::new();
        for (name, value) in headers {
            let bad = |reason: &str| RemoteError::Header { name: name.clone(), reason: reason.to_owned() };
            let key = AsciiMetadataKey::from_bytes(name.to_ascii_lowercase().as_bytes())
                .map_err(|_| bad("not a valid header name"))?;
            let value = AsciiMetadataValue::try_from(value.as_str()).map_err(|_| bad("not a valid header value"))?;
            map.insert(key, value);
        }
        Ok(Self(map))
    }
}

impl tonic::service::Interceptor for Headers {
    fn call(&mut self, mut request: tonic::Request<()>) -> Result<tonic::Request<()>, tonic::Status> {
        for entry in self.0.iter() {
            if let tonic::metadata::KeyAndValueRef::Ascii(key, value) = entry {
                request.metadata_mut().insert(key.clone(), value.clone());
            }
        }
        Ok(request)
    }
}

/// Exponential backoff between reconnect attempts, reset after a success.
#[derive(Debug, Clone)]
pub struct Backoff {
    spec: BackoffSpec,
    next: Duration,
}

impl Backoff {
    pub fn new(spec: &BackoffSpec) -> Self {
        Self { spec: spec.clone(), next: spec.initial }
    }

    /// The wait before the next attempt; doubles each call up to the maximum.
    pub fn next_delay(&mut self) -> Duration {
        let delay = self.next;
        self.next = (self.next * 2).min(self.spec.max);
        delay
    }

    pub fn reset(&mut self) {
        self.next = self.spec.initial;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_to_its_cap_and_resets() {
        let spec = BackoffSpec { initial: Duration::from_millis(100), max: Duration::from_millis(350) };
        let mut backoff = Backoff::new(&spec);
        let delays: Vec<u128> = (0..4).map(|_| backoff.next_delay().as_millis()).collect();
        assert_eq!(delays, vec![100, 200, 350, 350]);
        backoff.reset();
        assert_eq!(backoff.next_delay().as_millis(), 100);
    }

    #[test]
    fn bad_endpoint_and_header_are_named() {
        let spec = RemoteSpec::new(None);
        let err = Remote::new("not a uri", &spec).unwrap_err();
        assert!(err.to_string().contains("not a uri"), "{err}");
        let mut spec = RemoteSpec::new(None);
        spec.headers.insert("bad header".into(), "v".into());
        let err = Remote::new("http://127.0.0.1:1", &spec).unwrap_err();
        assert!(err.to_string().contains("bad header"), "{err}");
    }
}
