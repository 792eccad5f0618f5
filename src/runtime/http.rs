//! The `http_request` host function's policy and client: which URLs a
//! processor may reach, how often, and for how long.
//!
//! The URL is parsed once with the same parser the client uses (`http::Uri`),
//! so the host that was checked is the host that is contacted. Redirects are
//! not followed (a redirect could leave the allow-list) and proxies from the
//! environment are ignored.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use ureq::http::{Method, Request, Uri};

use super::permissions::HttpPermission;

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
    #[error("unknown method code {0}")]
    Method(i32),
    #[error("rate limit of {0} requests per minute reached")]
    RateLimited(u32),
    #[error("the call's deadline has passed")]
    NoTimeLeft,
}

/// A URL that passed the allow-list: its parsed form and lower-cased host.
#[derive(Debug)]
pub struct AllowedUrl {
    pub uri: Uri,
    pub host: String,
}

/// Checks `url` against the allowed domains: http(s) only, no user info, and a
/// host equal to an allowed domain or a subdomain of one (label boundary, so
/// `evilexample.com` does not match `example.com`).
pub fn check_url(url: &str, allowed_domains: &[String]) -> Result<AllowedUrl, HttpDenial> {
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
    Ok(AllowedUrl { uri, host })
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

/// Counts requests in the current one-minute window, per processor.
#[derive(Debug)]
pub struct RateWindow {
    state: Mutex<(Instant, u32)>,
}

impl RateWindow {
    pub fn new() -> Self {
        Self { state: Mutex::new((Instant::now(), 0)) }
    }

    /// Takes one request from the budget, or says the cap is reached.
    pub fn take(&self, per_minute: u32) -> Result<(), HttpDenial> {
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let now = Instant::now();
        if now.duration_since(state.0) >= Duration::from_secs(60) {
            *state = (now, 0);
        }
        if state.1 >= per_minute {
            return Err(HttpDenial::RateLimited(per_minute));
        }
        state.1 += 1;
        Ok(())
    }
}

impl Default for RateWindow {
    fn default() -> Self {
        Self::new()
    }
}

/// The client of one processor: no redirects, no proxy, errors as values.
pub fn agent() -> ureq::Agent {
    ureq::Agent::config_builder().max_redirects(0).proxy(None).http_status_as_error(false).build().into()
}

/// Sends the request and returns the response body (any status: the guest
/// sees the body only, as the ABI has no status field), at most `max_body` bytes.
pub fn send(
    agent: &ureq::Agent,
    permission: &HttpPermission,
    url: AllowedUrl,
    method_code: i32,
    body: Vec<u8>,
    deadline: Instant,
    max_body: usize,
) -> Result<Vec<u8>, String> {
    let method = method(method_code).map_err(|e| e.to_string())?;
    let left = deadline.saturating_duration_since(Instant::now());
    if left.is_zero() {
        return Err(HttpDenial::NoTimeLeft.to_string());
    }
    let timeout = permission.timeout.min(left);
    let builder = Request::builder().method(method).uri(url.uri);
    let response = if body.is_empty() {
        let request = builder.body(()).map_err(|e| e.to_string())?;
        let request = agent.configure_request(request).timeout_global(Some(timeout)).build();
        agent.run(request)
    } else {
        let request = builder.body(body).map_err(|e| e.to_string())?;
        let request = agent.configure_request(request).timeout_global(Some(timeout)).build();
        agent.run(request)
    };
    let mut response = response.map_err(|e| e.to_string())?;
    response.body_mut().with_config().limit(max_body as u64).read_to_vec().map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn allowed() -> Vec<String> {
        vec!["example.com".into(), "API.Other.org".into()]
    }

    #[test]
    fn exact_and_subdomain_hosts_are_allowed() {
        assert_eq!(check_url("https://example.com/x", &allowed()).unwrap().host, "example.com");
        assert_eq!(check_url("http://a.b.example.com:8080/", &allowed()).unwrap().host, "a.b.example.com");
        assert_eq!(check_url("https://api.other.org", &allowed()).unwrap().host, "api.other.org");
        assert_eq!(check_url("HTTPS://EXAMPLE.COM./", &allowed()).unwrap().host, "example.com");
    }

    #[test]
    fn lookalike_hosts_are_denied() {
        assert_eq!(
            check_url("https://evilexample.com/", &allowed()).unwrap_err(),
            HttpDenial::Host("evilexample.com".into())
        );
        assert_eq!(
            check_url("https://example.com.evil.net/", &allowed()).unwrap_err(),
            HttpDenial::Host("example.com.evil.net".into())
        );
        assert!(matches!(check_url("https://other.org/", &allowed()), Err(HttpDenial::Host(_))));
    }

    #[test]
    fn userinfo_tricks_are_denied() {
        assert_eq!(check_url("http://example.com@evil.com/", &allowed()).unwrap_err(), HttpDenial::UserInfo);
        assert_eq!(check_url("http://user:pw@example.com/", &allowed()).unwrap_err(), HttpDenial::UserInfo);
    }

    #[test]
    fn other_schemes_and_garbage_are_denied() {
        assert_eq!(
            check_url("file://example.com/etc/passwd", &allowed()).unwrap_err(),
            HttpDenial::Scheme("file".into())
        );
        assert!(matches!(check_url("example.com/x", &allowed()), Err(HttpDenial::Scheme(_) | HttpDenial::BadUrl(_))));
        assert!(matches!(check_url("http://exa mple.com/", &allowed()), Err(HttpDenial::BadUrl(_))));
        assert!(matches!(check_url("", &allowed()), Err(HttpDenial::BadUrl(_))));
    }

    #[test]
    fn rate_window_caps_requests() {
        let window = RateWindow::new();
        assert!(window.take(2).is_ok());
        assert!(window.take(2).is_ok());
        assert_eq!(window.take(2), Err(HttpDenial::RateLimited(2)));
    }

    #[test]
    fn method_codes_follow_the_abi() {
        assert_eq!(method(0).unwrap(), Method::GET);
        assert_eq!(method(5).unwrap(), Method::HEAD);
        assert_eq!(method(9), Err(HttpDenial::Method(9)));
    }
}
