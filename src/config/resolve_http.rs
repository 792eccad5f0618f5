//! `wasm.permissions.http`: which hosts, networks and ports a processor may
//! reach, and its time, rate and body caps (defaults in [`super::defaults`]).

use serde_saphyr::Spanned;

use super::raw::{RawHttp, UnitText};
use super::resolve::Resolver;
use crate::runtime::http::IpNetwork;
use crate::runtime::HttpPermission;

pub(crate) fn permission(r: &mut Resolver, raw: &RawHttp, key: &str) -> HttpPermission {
    if raw.allowed_domains.value.is_empty() {
        let message = "needs at least one domain (leave out `http:` to deny HTTP)";
        r.problems.on(&raw.allowed_domains, format!("{key}.allowed_domains"), message);
    }
    for (index, domain) in raw.allowed_domains.value.iter().enumerate() {
        let name = &domain.value;
        if name.is_empty() || name.contains("://") || name.contains('/') || name.contains(char::is_whitespace) {
            let message = format!("{name:?} is not a host name (write e.g. api.example.com, no scheme or path)");
            r.problems.on(domain, format!("{key}.allowed_domains[{index}]"), message);
        }
    }
    let mut http = HttpPermission::new(raw.allowed_domains.value.iter().map(|d| d.value.clone()).collect());
    if let Some(networks) = &raw.allowed_networks {
        http.allowed_networks = allowed_networks(r, networks, &format!("{key}.allowed_networks"));
    }
    if let Some(ports) = &raw.allowed_ports {
        http.allowed_ports = allowed_ports(r, ports, &format!("{key}.allowed_ports"));
    }
    if let Some(timeout) = &raw.timeout {
        http.timeout = r.duration(timeout, &format!("{key}.timeout")).unwrap_or(http.timeout);
    }
    if let Some(rate) = &raw.max_requests_per_minute {
        if rate.value == 0 {
            r.problems.on(rate, format!("{key}.max_requests_per_minute"), "must be at least 1");
        }
        http.max_requests_per_minute = rate.value;
    }
    for (text, field, target) in [
        (&raw.max_request_body, "max_request_body", &mut http.max_request_body),
        (&raw.max_response_body, "max_response_body", &mut http.max_response_body),
    ] {
        if let Some(text) = text {
            *target = body_cap(r, text, &format!("{key}.{field}")).unwrap_or(*target);
        }
    }
    http
}

fn allowed_networks(r: &mut Resolver, raw: &Spanned<Vec<Spanned<String>>>, key: &str) -> Vec<IpNetwork> {
    let mut networks = Vec::with_capacity(raw.value.len());
    for (index, written) in raw.value.iter().enumerate() {
        match written.value.parse::<IpNetwork>() {
            Ok(network) => networks.push(network),
            Err(error) => r.problems.on(written, format!("{key}[{index}]"), error.to_string()),
        }
    }
    networks
}

fn allowed_ports(r: &mut Resolver, raw: &Spanned<Vec<Spanned<u32>>>, key: &str) -> Vec<u16> {
    if raw.value.is_empty() {
        r.problems.on(raw, key, "needs at least one port (leave out `http:` to deny HTTP)");
    }
    let mut ports = Vec::with_capacity(raw.value.len());
    for (index, port) in raw.value.iter().enumerate() {
        match u16::try_from(port.value) {
            Ok(valid) if valid > 0 => ports.push(valid),
            _ => r.problems.on(port, format!("{key}[{index}]"), format!("{} is not a port (1 to 65535)", port.value)),
        }
    }
    ports
}

/// A body size cap: above 0 and addressable.
fn body_cap(r: &mut Resolver, text: &Spanned<UnitText>, key: &str) -> Option<usize> {
    let bytes = r.size(text, key)?;
    match usize::try_from(bytes) {
        Ok(bytes) if bytes > 0 => Some(bytes),
        _ => {
            r.problems.on(text, key, "must be above 0 and fit in memory");
            None
        }
    }
}
