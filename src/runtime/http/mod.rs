//! The `http_request` host function's egress policy: which URLs, ports and
//! addresses a processor may reach, with how large a body, how often.
//!
//! The URL is parsed once with the same parser the client uses (`http::Uri`),
//! so the host that was checked is the host that is contacted; its addresses
//! are checked after the lookup and the connection is pinned to them
//! ([`client`]). Redirects are not followed (a redirect could leave the
//! allow-list) and proxies from the environment are ignored.
//!
//! Files: this one (URL and method rules, [`HttpDenial`]), `address`
//! (non-public ranges, `allowed_networks`), `rate` (the per-processor cap),
//! `client` (the order of the checks, the pinned resolver, the send).

pub mod address;
mod client;
mod rate;

#[cfg(test)]
mod address_tests;
#[cfg(test)]
mod egress_tests;

use std::net::IpAddr;

use ureq::http::{Method, Uri};

pub use address::{IpNetwork, NetworkError};
pub use client::{HttpClient, HttpFailure};
pub use rate::RateWindow;

/// Why a request was not sent or failed. Logged and audited; the guest only sees 0.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum HttpDenial {
    #[error("not a valid URL: {0}")]
    BadUrl(String),
    #[error("scheme `{0}` is not http or https")]
    Scheme(String),
    #[error("URLs with user info are refused")]
    UserInfo,
    #[error("host `{0}` is not in allowed_domains")]
    Host(String),
    #[error("port {0} is not in allowed_ports")]
    Port(u16),
    #[error("host `{host}` resolves to {addr}, a {class} address not in allowed_networks")]
    Address { host: String, addr: IpAddr, class: &'static str },
    #[error("request body of {size} bytes is over max_request_body ({limit} bytes)")]
    RequestTooLarge { size: usize, limit: usize },
    #[error("response body is over max_response_body ({0} bytes)")]
    ResponseTooLarge(u64),
    #[error("unknown method code {0}")]
    Method(i32),
    #[error("rate limit of {0} requests per minute reached")]
    RateLimited(u32),
    #[error("the call's deadline has passed")]
    NoTimeLeft,
}

/// A URL that passed the allow-list: its parsed form, lower-cased host and effective port.
#[derive(Debug)]
pub struct AllowedUrl {
    pub uri: Uri,
    pub host: String,
    pub port: u16,
}

/// Checks `url` against the allowed domains and ports: http(s) only, no user
/// info, a host equal to an allowed domain or a subdomain of one (label
/// boundary, so `evilexample.com` does not match `example.com`), and a port
/// (explicit, or the scheme's 80/443) in `allowed_ports`. An IP literal is a
/// host like any other here; its address is checked with the resolved ones.
pub fn check_url(url: &str, allowed_domains: &[String], allowed_ports: &[u16]) -> Result<AllowedUrl, HttpDenial> {
    let uri: Uri = url.parse().map_err(|e: ureq::http::uri::InvalidUri| HttpDenial::BadUrl(e.to_string()))?;
    let scheme = uri.scheme_str().unwrap_or("");
    if !scheme.eq_ignore_ascii_case("http") && !scheme.eq_ignore_ascii_case("https") {
        return Err(HttpDenial::Scheme(scheme.to_owned()));
    }
    let authority = uri.authority().ok_or_else(|| HttpDenial::BadUrl("no host".into()))?;
    if authority.as_str().contains('@') {
        return Err(HttpDenial::UserInfo);
    }
    let host = authority.host().trim_end_matches('.').to_ascii_lowercase();
    if host.is_empty() {
        return Err(HttpDenial::BadUrl("no host".into()));
    }
    let allowed = allowed_domains.iter().any(|domain| {
        let domain = domain.trim_end_matches('.').to_ascii_lowercase();
        !domain.is_empty()
            && (host == domain
                || (host.len() > domain.len()
                    && host.ends_with(&domain)
                    && host.as_bytes()[host.len() - domain.len() - 1] == b'.'))
    });
    if !allowed {
        return Err(HttpDenial::Host(host));
    }
    let port = authority.port_u16().unwrap_or(if scheme.eq_ignore_ascii_case("https") { 443 } else { 80 });
    if !allowed_ports.contains(&port) {
        return Err(HttpDenial::Port(port));
    }
    Ok(AllowedUrl { uri, host, port })
}

/// The ABI's method codes.
pub fn method(code: i32) -> Result<Method, HttpDenial> {
    Ok(match code {
        0 => Method::GET,
        1 => Method::POST,
        2 => Method::PUT,
        3 => Method::DELETE,
        4 => Method::PATCH,
        5 => Method::HEAD,
        other => return Err(HttpDenial::Method(other)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn allowed() -> Vec<String> {
        vec!["example.com".into(), "API.Other.org".into()]
    }

    /// `check_url` with the default ports plus 8080.
    fn check(url: &str, domains: &[String]) -> Result<AllowedUrl, HttpDenial> {
        check_url(url, domains, &[80, 443, 8080])
    }

    #[test]
    fn exact_and_subdomain_hosts_are_allowed() {
        assert_eq!(check("https://example.com/x", &allowed()).unwrap().host, "example.com");
        assert_eq!(check("http://a.b.example.com:8080/", &allowed()).unwrap().host, "a.b.example.com");
        assert_eq!(check("https://api.other.org", &allowed()).unwrap().host, "api.other.org");
        assert_eq!(check("HTTPS://EXAMPLE.COM./", &allowed()).unwrap().host, "example.com");
    }

    #[test]
    fn lookalike_hosts_are_denied() {
        assert_eq!(
            check("https://evilexample.com/", &allowed()).unwrap_err(),
            HttpDenial::Host("evilexample.com".into())
        );
        assert_eq!(
            check("https://example.com.evil.net/", &allowed()).unwrap_err(),
            HttpDenial::Host("example.com.evil.net".into())
        );
        assert!(matches!(check("https://other.org/", &allowed()), Err(HttpDenial::Host(_))));
    }

    #[test]
    fn userinfo_tricks_are_denied() {
        assert_eq!(check("http://example.com@evil.com/", &allowed()).unwrap_err(), HttpDenial::UserInfo);
        assert_eq!(check("http://user:pw@example.com/", &allowed()).unwrap_err(), HttpDenial::UserInfo);
    }

    #[test]
    fn other_schemes_and_garbage_are_denied() {
        assert_eq!(check("file://example.com/etc/passwd", &allowed()).unwrap_err(), HttpDenial::Scheme("file".into()));
        assert!(matches!(check("example.com/x", &allowed()), Err(HttpDenial::Scheme(_) | HttpDenial::BadUrl(_))));
        assert!(matches!(check("http://exa mple.com/", &allowed()), Err(HttpDenial::BadUrl(_))));
        assert!(matches!(check("", &allowed()), Err(HttpDenial::BadUrl(_))));
    }

    #[test]
    fn only_listed_ports_are_allowed() {
        let domains = allowed();
        assert_eq!(check_url("http://example.com/", &domains, &[80]).unwrap().port, 80);
        assert_eq!(check_url("https://example.com/", &domains, &[443]).unwrap().port, 443);
        assert_eq!(check_url("http://example.com:8443/", &domains, &[8443]).unwrap().port, 8443);
        assert_eq!(check_url("https://example.com/", &domains, &[80]).unwrap_err(), HttpDenial::Port(443));
        assert_eq!(check_url("http://example.com:22/", &domains, &[80, 443]).unwrap_err(), HttpDenial::Port(22));
        // An explicit default port is the same port.
        assert_eq!(check_url("http://example.com:80/", &domains, &[80]).unwrap().port, 80);
        assert_eq!(check_url("http://example.com:443/", &domains, &[80]).unwrap_err(), HttpDenial::Port(443));
    }

    #[test]
    fn ip_literals_are_hosts_like_any_other() {
        let domains = vec!["127.0.0.1".to_string(), "[::1]".to_string()];
        assert_eq!(check("http://127.0.0.1/", &domains).unwrap().host, "127.0.0.1");
        assert_eq!(check("http://[::1]:8080/", &domains).unwrap().host, "[::1]");
        assert_eq!(check("http://169.254.169.254/", &domains).unwrap_err(), HttpDenial::Host("169.254.169.254".into()));
    }

    #[test]
    fn method_codes_follow_the_abi() {
        assert_eq!(method(0).unwrap(), Method::GET);
        assert_eq!(method(5).unwrap(), Method::HEAD);
        assert_eq!(method(9), Err(HttpDenial::Method(9)));
    }
}
