//! Who may call the admin API, checked on every `/admin` request in this
//! order (the threat model is in `docs/operations.md#admin-api-security`):
//!
//! 1. `Host` names the admin listener itself (421 otherwise): a page whose
//!    DNS name was rebound to 127.0.0.1 sends its own name, so it is refused.
//! 2. No cross-site browser request (403): an `Origin` must be this very
//!    origin, and `Sec-Fetch-Site` must be `same-origin` or `none`. Clients
//!    that send neither (curl, `flowctl status`) pass.
//! 3. The bearer token, when one is configured (401).
//! 4. A mutating request says `Content-Type: application/json` (415): a
//!    form post from a web page cannot, and a page's script cannot send it
//!    cross-origin without a CORS preflight this API never approves.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use axum::http::{header, HeaderMap, Method, StatusCode, Uri};

#[derive(Debug, thiserror::Error)]
pub enum AccessError {
    #[error("{0} is not a loopback address, and the admin API listens there too: set spec.settings.admin_token, admin_token_file or FLOWCTL_ADMIN_TOKEN")]
    TokenRequired(SocketAddr),
}

/// Why a request was refused before reaching its handler.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AccessRefusal {
    #[error("Host `{given}` does not name this admin listener ({expected}); requests through another name (DNS rebinding) are refused")]
    WrongHost { given: String, expected: String },
    #[error("cross-origin requests are refused (Origin `{0}`)")]
    CrossOrigin(String),
    #[error("cross-site browser requests are refused (Sec-Fetch-Site: {0})")]
    CrossSite(String),
    #[error("missing or wrong admin token (send Authorization: Bearer <token>)")]
    Token,
    #[error("send the body as JSON with Content-Type: application/json")]
    NotJson,
}

impl AccessRefusal {
    pub fn status(&self) -> StatusCode {
        match self {
            AccessRefusal::WrongHost { .. } => StatusCode::MISDIRECTED_REQUEST,
            AccessRefusal::CrossOrigin(_) | AccessRefusal::CrossSite(_) => StatusCode::FORBIDDEN,
            AccessRefusal::Token => StatusCode::UNAUTHORIZED,
            AccessRefusal::NotJson => StatusCode::UNSUPPORTED_MEDIA_TYPE,
        }
    }
}

/// Who may call the admin API on one listener.
#[derive(Clone, Debug)]
pub struct Access {
    token: Option<Arc<str>>,
    listener: SocketAddr,
}

impl Access {
    /// The API on `addr`, guarded by `token` if given. Refuses a
    /// non-loopback address without a token (the config check catches the
    /// file's value; this catches `--metrics-addr`).
    pub fn new(addr: SocketAddr, token: Option<String>) -> Result<Access, AccessError> {
        if token.is_none() && !addr.ip().is_loopback() {
            return Err(AccessError::TokenRequired(addr));
        }
        Ok(Access { token: token.map(Arc::from), listener: addr })
    }

    /// The same access for the address the listener was bound to (port 0 picks one).
    pub fn listening_on(self, local: SocketAddr) -> Access {
        Access { listener: local, ..self }
    }

    /// Every check of one request, in the order of the module doc.
    pub fn check(&self, method: &Method, uri: &Uri, headers: &HeaderMap) -> Result<(), AccessRefusal> {
        let host = self.checked_host(uri, headers)?;
        self.same_origin(headers, host)?;
        if !self.token_matches(headers) {
            return Err(AccessRefusal::Token);
        }
        let mutating = !matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS);
        if mutating && !is_json(headers) {
            return Err(AccessRefusal::NotJson);
        }
        Ok(())
    }

    /// The Host header (and the request target's authority, if it has one),
    /// each naming this listener; returns the host as parsed.
    fn checked_host(&self, uri: &Uri, headers: &HeaderMap) -> Result<HostPort, AccessRefusal> {
        let header = headers.get(header::HOST).map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
        let target = uri.authority().map(|a| a.as_str().to_owned());
        let wrong = |given: &str| AccessRefusal::WrongHost { given: given.to_owned(), expected: self.expected_hosts() };
        let mut named = None;
        for given in header.iter().chain(target.iter()) {
            match HostPort::parse(given) {
                Some(host) if self.names_listener(&host) => named = Some(host),
                _ => return Err(wrong(given)),
            }
        }
        named.ok_or_else(|| wrong(""))
    }

    fn names_listener(&self, host: &HostPort) -> bool {
        if host.port != self.listener.port() {
            return false;
        }
        let ip = self.listener.ip();
        match &host.name {
            // Any address of the machine reaches a wildcard listener; an IP
            // literal cannot be rebound, only a DNS name can.
            HostName::Ip(_) if ip.is_unspecified() => true,
            HostName::Ip(given) => *given == ip,
            HostName::Localhost => ip.is_loopback() || ip.is_unspecified(),
            HostName::Other => false,
        }
    }

    /// What a Host header may say, for the refusal message.
    fn expected_hosts(&self) -> String {
        let (ip, port) = (self.listener.ip(), self.listener.port());
        if ip.is_unspecified() {
            format!("an IP address of this machine with port {port}, or localhost:{port}")
        } else if ip.is_loopback() {
            format!("{} or localhost:{port}", self.listener)
        } else {
            self.listener.to_string()
        }
    }

    /// A browser's cross-origin or cross-site request is refused; one without
    /// `Origin` and `Sec-Fetch-Site` (not a browser) passes.
    fn same_origin(&self, headers: &HeaderMap, host: HostPort) -> Result<(), AccessRefusal> {
        if let Some(origin) = headers.get(header::ORIGIN) {
            let origin = String::from_utf8_lossy(origin.as_bytes()).into_owned();
            let same = origin
                .get(..7)
                .filter(|scheme| scheme.eq_ignore_ascii_case("http://"))
                .and_then(|_| HostPort::parse(&origin[7..]))
                .is_some_and(|origin_host| origin_host == host);
            if !same {
                return Err(AccessRefusal::CrossOrigin(origin));
            }
        }
        if let Some(site) = headers.get("sec-fetch-site") {
            let site = String::from_utf8_lossy(site.as_bytes()).into_owned();
            if !site.eq_ignore_ascii_case("same-origin") && !site.eq_ignore_ascii_case("none") {
                return Err(AccessRefusal::CrossSite(site));
            }
        }
        Ok(())
    }

    fn token_matches(&self, headers: &HeaderMap) -> bool {
        let Some(token) = &self.token else { return true };
        let given = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .unwrap_or("");
        constant_time_eq(given.as_bytes(), token.as_bytes())
    }
}

/// `application/json`, with or without parameters (`; charset=utf-8`).
fn is_json(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|media| media.trim().eq_ignore_ascii_case("application/json"))
}

/// Compares without an early exit, so timing does not reveal a prefix of the token.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// A `host[:port]` as a Host header or an Origin carries it (port 80 when left out).
#[derive(Debug, Clone, PartialEq, Eq)]
struct HostPort {
    name: HostName,
    port: u16,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum HostName {
    Ip(IpAddr),
    Localhost,
    Other,
}

impl HostPort {
    fn parse(text: &str) -> Option<HostPort> {
        let (name, port) = match text.rsplit_once(':') {
            // `[::1]:9464`, or `127.0.0.1:9464`, or `name:9464`; not a bare `::1`.
            Some((name, port)) if !name.contains(':') || name.ends_with(']') => (name, port.parse().ok()?),
            _ => (text, 80),
        };
        let name = if let Some(v6) = name.strip_prefix('[').and_then(|n| n.strip_suffix(']')) {
            HostName::Ip(IpAddr::V6(v6.parse().ok()?))
        } else if let Ok(ip) = name.parse::<std::net::Ipv4Addr>() {
            HostName::Ip(IpAddr::V4(ip))
        } else if name.eq_ignore_ascii_case("localhost") {
            HostName::Localhost
        } else if name.is_empty() || name.contains(['[', ']', ':', '/', '@']) {
            return None;
        } else {
            HostName::Other
        };
        Some(HostPort { name, port })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn access(listener: &str, token: Option<&str>) -> Access {
        Access::new(listener.parse().unwrap(), token.map(str::to_owned)).unwrap()
    }

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (name, value) in pairs {
            h.append(header::HeaderName::from_bytes(name.as_bytes()).unwrap(), value.parse().unwrap());
        }
        h
    }

    fn get(access: &Access, pairs: &[(&str, &str)]) -> Result<(), AccessRefusal> {
        access.check(&Method::GET, &Uri::from_static("/admin/status"), &headers(pairs))
    }

    fn put(access: &Access, pairs: &[(&str, &str)]) -> Result<(), AccessRefusal> {
        access.check(&Method::PUT, &Uri::from_static("/admin/processors/p/traffic"), &headers(pairs))
    }

    #[test]
    fn off_loopback_needs_a_token() {
        let public: SocketAddr = "0.0.0.0:9464".parse().unwrap();
        let local: SocketAddr = "127.0.0.1:9464".parse().unwrap();
        assert!(Access::new(public, None).is_err());
        assert!(Access::new(public, Some("t".into())).is_ok());
        assert!(Access::new(local, None).is_ok());
    }

    #[test]
    fn the_host_must_name_the_listener() {
        let v4 = access("127.0.0.1:9464", None);
        for ok in ["127.0.0.1:9464", "localhost:9464", "LOCALHOST:9464"] {
            assert_eq!(get(&v4, &[("host", ok)]), Ok(()), "{ok}");
        }
        for bad in [
            "evil.example:9464",
            "127.0.0.1:9465",
            "127.0.0.2:9464",
            "127.0.0.1",
            "localhost",
            "[::1]:9464",
            "",
            "127.0.0.1:9464:1",
            "localhost.:9464",
        ] {
            let refused = get(&v4, &[("host", bad)]).unwrap_err();
            assert!(matches!(refused, AccessRefusal::WrongHost { .. }), "{bad}: {refused:?}");
            assert_eq!(refused.status(), StatusCode::MISDIRECTED_REQUEST);
        }
        assert!(matches!(get(&v4, &[]), Err(AccessRefusal::WrongHost { .. })), "no Host at all");
        let refused = get(&v4, &[("host", "rebound.example:9464")]).unwrap_err();
        assert_eq!(refused.to_string(), "Host `rebound.example:9464` does not name this admin listener (127.0.0.1:9464 or localhost:9464); requests through another name (DNS rebinding) are refused");

        let v6 = access("[::1]:80", None);
        for ok in ["[::1]:80", "[::1]", "localhost"] {
            assert_eq!(get(&v6, &[("host", ok)]), Ok(()), "{ok}");
        }
        assert!(get(&v6, &[("host", "::1")]).is_err());

        let specific = access("10.0.0.5:9464", Some("t"));
        let auth = ("authorization", "Bearer t");
        assert_eq!(get(&specific, &[("host", "10.0.0.5:9464"), auth]), Ok(()));
        for bad in ["localhost:9464", "flowctl.internal:9464", "10.0.0.6:9464"] {
            assert!(get(&specific, &[("host", bad), auth]).is_err(), "{bad}");
        }

        let wildcard = access("0.0.0.0:9464", Some("t"));
        for ok in ["10.0.0.5:9464", "192.168.1.2:9464", "[fd00::1]:9464", "localhost:9464"] {
            assert_eq!(get(&wildcard, &[("host", ok), auth]), Ok(()), "{ok}");
        }
        for bad in ["flowctl.internal:9464", "10.0.0.5:9465"] {
            assert!(get(&wildcard, &[("host", bad), auth]).is_err(), "{bad}");
        }
    }

    #[test]
    fn an_absolute_request_target_must_name_the_listener_too() {
        let access = access("127.0.0.1:9464", None);
        let uri = Uri::from_static("http://evil.example:9464/admin/status");
        let refused = access.check(&Method::GET, &uri, &headers(&[("host", "127.0.0.1:9464")])).unwrap_err();
        assert!(matches!(refused, AccessRefusal::WrongHost { .. }), "{refused:?}");
    }

    #[test]
    fn browsers_may_only_call_from_the_same_origin() {
        let access = access("127.0.0.1:9464", None);
        let host = ("host", "127.0.0.1:9464");
        assert_eq!(get(&access, &[host, ("origin", "http://127.0.0.1:9464")]), Ok(()));
        assert_eq!(get(&access, &[host, ("sec-fetch-site", "same-origin")]), Ok(()));
        assert_eq!(get(&access, &[host, ("sec-fetch-site", "none")]), Ok(()));
        for origin in
            ["http://evil.example", "http://localhost:9464", "https://127.0.0.1:9464", "http://127.0.0.1:3000", "null"]
        {
            let refused = get(&access, &[host, ("origin", origin)]).unwrap_err();
            assert_eq!(refused, AccessRefusal::CrossOrigin(origin.into()), "{origin}");
            assert_eq!(refused.status(), StatusCode::FORBIDDEN);
        }
        for site in ["cross-site", "same-site"] {
            assert_eq!(get(&access, &[host, ("sec-fetch-site", site)]), Err(AccessRefusal::CrossSite(site.into())));
        }
        let local = ("host", "localhost:9464");
        assert_eq!(get(&access, &[local, ("origin", "http://localhost:9464")]), Ok(()));
    }

    #[test]
    fn the_token_is_checked_exactly() {
        let access = access("0.0.0.0:1", Some("s3cret"));
        let host = ("host", "127.0.0.1:1");
        assert_eq!(get(&access, &[host, ("authorization", "Bearer s3cret")]), Ok(()));
        for wrong in ["Bearer s3cre", "Bearer s3cret2", "s3cret", "bearer s3cret"] {
            assert_eq!(get(&access, &[host, ("authorization", wrong)]), Err(AccessRefusal::Token), "{wrong}");
        }
        assert_eq!(get(&access, &[host]), Err(AccessRefusal::Token));
        assert_eq!(AccessRefusal::Token.status(), StatusCode::UNAUTHORIZED);
    }

    #[test]
    fn changes_must_be_sent_as_json() {
        let access = access("127.0.0.1:9464", None);
        let host = ("host", "127.0.0.1:9464");
        for ok in ["application/json", "Application/JSON; charset=utf-8"] {
            assert_eq!(put(&access, &[host, ("content-type", ok)]), Ok(()), "{ok}");
        }
        for bad in
            ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x", "application/jsonp"]
        {
            assert_eq!(put(&access, &[host, ("content-type", bad)]), Err(AccessRefusal::NotJson), "{bad}");
        }
        assert_eq!(put(&access, &[host]), Err(AccessRefusal::NotJson));
        assert_eq!(AccessRefusal::NotJson.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
        assert_eq!(get(&access, &[host]), Ok(()), "reading needs no content type");
    }

    #[test]
    fn the_bound_port_replaces_port_zero() {
        let access = access("127.0.0.1:0", None).listening_on("127.0.0.1:41234".parse().unwrap());
        assert_eq!(get(&access, &[("host", "127.0.0.1:41234")]), Ok(()));
        assert!(get(&access, &[("host", "127.0.0.1:0")]).is_err());
    }
}
