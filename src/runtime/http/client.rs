//! One processor's HTTP client: the checks of a request in order (URL, port,
//! method, body size, rate cap, then every resolved address), and the send.
//!
//! The addresses are checked inside the agent's resolver, and ureq connects to
//! exactly the addresses its resolver returned: the address that was checked
//! is the address that is contacted, with no second lookup a DNS server could
//! answer differently (rebinding). TLS still verifies the certificate against
//! the URL's host name.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Instant;

use ureq::http::{Request, Uri};
use ureq::unversioned::resolver::{DefaultResolver, ResolvedSocketAddrs, Resolver};
use ureq::unversioned::transport::{DefaultConnector, NextTimeout};

use super::address::{self, IpNetwork};
use super::rate::RateWindow;
use super::{check_url, method, HttpDenial};
use crate::runtime::permissions::HttpPermission;

/// Why a request did not return a body.
#[derive(Debug, Clone, PartialEq)]
pub enum HttpFailure {
    /// A rule of the processor's HTTP permission refused it: audited.
    Denied(HttpDenial),
    /// Allowed, but it failed (connection refused, timeout, bad answer).
    Failed(String),
}

/// What the resolver refuses; travels through ureq as `Error::Other`.
#[derive(Debug, thiserror::Error)]
#[error("{addr} is {class}")]
struct AddressRefused {
    addr: IpAddr,
    class: &'static str,
}

/// The HTTP side of one processor version.
pub struct HttpClient {
    permission: HttpPermission,
    agent: ureq::Agent,
    /// Shared by every version of the processor (see [`super::rate`]).
    rate: Arc<RateWindow>,
}

impl HttpClient {
    pub fn new(permission: HttpPermission, rate: Arc<RateWindow>) -> Self {
        let config = ureq::Agent::config_builder().max_redirects(0).proxy(None).http_status_as_error(false).build();
        let resolver =
            CheckedResolver { allowed: permission.allowed_networks.clone(), inner: DefaultResolver::default() };
        let agent = ureq::Agent::with_parts(config, DefaultConnector::new(), resolver);
        Self { permission, agent, rate }
    }

    pub fn permission(&self) -> &HttpPermission {
        &self.permission
    }

    /// Sends the request if every rule allows it and returns the response body
    /// (any status: the guest sees the body only, as the ABI has no status field).
    pub fn request(
        &self,
        url: &str,
        method_code: i32,
        body: Vec<u8>,
        deadline: Instant,
    ) -> Result<Vec<u8>, HttpFailure> {
        let p = &self.permission;
        let allowed = check_url(url, &p.allowed_domains, &p.allowed_ports).map_err(HttpFailure::Denied)?;
        let method = method(method_code).map_err(HttpFailure::Denied)?;
        if body.len() > p.max_request_body {
            return Err(HttpFailure::Denied(HttpDenial::RequestTooLarge {
                size: body.len(),
                limit: p.max_request_body,
            }));
        }
        self.rate.take(p.max_requests_per_minute).map_err(HttpFailure::Denied)?;
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(HttpFailure::Failed(HttpDenial::NoTimeLeft.to_string()));
        }
        // Bounds the name lookup too: the resolver runs under this timeout.
        let timeout = p.timeout.min(left);
        let builder = Request::builder().method(method).uri(allowed.uri);
        let sent = if body.is_empty() {
            let request = builder.body(()).map_err(|e| HttpFailure::Failed(e.to_string()))?;
            self.agent.run(self.agent.configure_request(request).timeout_global(Some(timeout)).build())
        } else {
            let request = builder.body(body).map_err(|e| HttpFailure::Failed(e.to_string()))?;
            self.agent.run(self.agent.configure_request(request).timeout_global(Some(timeout)).build())
        };
        let mut response = sent.map_err(|e| failure(e, &allowed.host))?;
        let limit = p.max_response_body;
        response.body_mut().with_config().limit(limit as u64).read_to_vec().map_err(|e| failure(e, &allowed.host))
    }
}

fn failure(error: ureq::Error, host: &str) -> HttpFailure {
    match error {
        ureq::Error::Other(inner) => match inner.downcast::<AddressRefused>() {
            Ok(refused) => HttpFailure::Denied(HttpDenial::Address {
                host: host.to_owned(),
                addr: refused.addr,
                class: refused.class,
            }),
            Err(other) => HttpFailure::Failed(other.to_string()),
        },
        ureq::Error::BodyExceedsLimit(limit) => HttpFailure::Denied(HttpDenial::ResponseTooLarge(limit)),
        other => HttpFailure::Failed(other.to_string()),
    }
}

/// Resolves like ureq does (under the request's timeout), then keeps only
/// the addresses the processor may reach; none left is a refusal naming the
/// first address that was dropped.
#[derive(Debug)]
struct CheckedResolver {
    allowed: Vec<IpNetwork>,
    inner: DefaultResolver,
}

impl Resolver for CheckedResolver {
    fn resolve(
        &self,
        uri: &Uri,
        config: &ureq::config::Config,
        timeout: NextTimeout,
    ) -> Result<ResolvedSocketAddrs, ureq::Error> {
        let resolved = self.inner.resolve(uri, config, timeout)?;
        let mut kept = self.empty();
        let mut first_refused = None;
        for addr in resolved.iter() {
            match address::check(addr.ip(), &self.allowed) {
                Ok(()) => kept.push(*addr),
                Err(class) => {
                    first_refused.get_or_insert(AddressRefused { addr: addr.ip(), class });
                }
            }
        }
        match first_refused {
            Some(refused) if kept.is_empty() => Err(ureq::Error::Other(Box::new(refused))),
            _ => Ok(kept),
        }
    }
}
