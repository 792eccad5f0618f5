//! The egress rules as a guest meets them: real requests to servers on
//! 127.0.0.1, and proof (an empty accept queue) that a denied request never
//! opened a connection.

use std::io::{ErrorKind, Read, Write};
use std::net::TcpListener;

use crate::runtime::test_guests::*;
use crate::runtime::{HttpPermission, ProcessorSpec};

const HTTP_IMPORT: &str = r#"(import "flowctl" "http_request" (func $http (param i32 i32 i32 i32 i32) (result i64)))"#;

/// Calls `http_request(method, url)` with `body_len` zero bytes as the body;
/// outputs the response body, or `[]` on 0.
fn http_guest(method: i32, url: &str, body_len: usize) -> String {
    guest(
        HTTP_IMPORT,
        &format!(
            r#"(data (i32.const 100) "[]") (data (i32.const 200) "{url}")
            (func (export "process_event") (param i32 i32) (result i64) (local $r i64)
              (local.set $r (call $http (i32.const {method}) (i32.const 200) (i32.const {len}) (i32.const 1024) (i32.const {body_len})))
              (if (result i64) (i64.eqz (local.get $r))
                (then (call $pack (i32.const 100) (i32.const 2)))
                (else (local.get $r))))"#,
            len = url.len()
        ),
    )
}

/// A listener on 127.0.0.1 that answers every request with `body`.
fn serve(body: &'static str) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut conn) = conn else { return };
            let mut request = Vec::new();
            let mut buf = [0u8; 4096];
            while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                match conn.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => request.extend_from_slice(&buf[..n]),
                }
            }
            let answer =
                format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}", body.len());
            let _ = conn.write_all(answer.as_bytes());
        }
    });
    port
}

/// A listener nobody answers on: after a denied call its queue must be empty.
fn silent_listener() -> (TcpListener, u16) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let port = listener.local_addr().unwrap().port();
    (listener, port)
}

fn assert_never_connected(listener: &TcpListener) {
    match listener.accept() {
        Err(e) if e.kind() == ErrorKind::WouldBlock => {}
        other => panic!("a denied request reached the server: {other:?}"),
    }
}

fn spec_with(permission: HttpPermission) -> ProcessorSpec {
    let mut spec = spec();
    spec.permissions.http = Some(permission);
    spec
}

fn permission(domain: &str, port: u16, networks: &[&str]) -> HttpPermission {
    let mut permission = HttpPermission::new(vec![domain.into()]);
    permission.allowed_ports = vec![port];
    permission.allowed_networks = networks.iter().map(|n| n.parse().unwrap()).collect();
    permission
}

#[test]
fn loopback_is_refused_before_connecting_unless_its_network_is_listed() {
    let (listener, port) = silent_listener();
    for host in ["127.0.0.1", "localhost"] {
        let wat = http_guest(0, &format!("http://{host}:{port}/"), 0);
        let (out, logs) = capture_logs(|| run_one(&wat, spec_with(permission(host, port, &[]))));
        assert_eq!(out.unwrap(), vec![], "the guest sees 0");
        let audit = logs.lines().find(|l| l.contains("flowctl::audit")).unwrap_or_else(|| panic!("{logs}"));
        assert!(audit.contains("allowed=false") && audit.contains("action=\"http_request\""), "{audit}");
        assert!(audit.contains(&format!("host `{host}` resolves to ")), "{audit}");
        assert!(audit.contains("loopback address not in allowed_networks"), "{audit}");
        assert_never_connected(&listener);
    }

    let port = serve(r#"{"id": "reached"}"#);
    for host in ["127.0.0.1", "localhost"] {
        let wat = http_guest(0, &format!("http://{host}:{port}/"), 0);
        let out = run_one(&wat, spec_with(permission(host, port, &["127.0.0.0/8"]))).unwrap();
        assert_eq!(out[0].id(), "reached", "{host}");
    }
}

#[test]
fn a_port_that_is_not_listed_is_refused() {
    let (listener, port) = silent_listener();
    let mut granted = permission("127.0.0.1", port, &["127.0.0.0/8"]);
    granted.allowed_ports = vec![80, 443];
    let wat = http_guest(0, &format!("http://127.0.0.1:{port}/"), 0);
    let (out, logs) = capture_logs(|| run_one(&wat, spec_with(granted)));
    assert_eq!(out.unwrap(), vec![]);
    assert!(logs.contains(&format!("port {port} is not in allowed_ports")), "{logs}");
    assert_never_connected(&listener);
}

#[test]
fn bodies_over_their_caps_are_refused() {
    let port = serve(r#"{"id": "a response of 40 bytes or so"}"#);
    let mut granted = permission("127.0.0.1", port, &["127.0.0.1"]);
    granted.max_request_body = 10;
    let url = format!("http://127.0.0.1:{port}/");
    assert_eq!(run_one(&http_guest(1, &url, 10), spec_with(granted.clone())).unwrap().len(), 1, "10 bytes may go");
    let (out, logs) = capture_logs(|| run_one(&http_guest(1, &url, 11), spec_with(granted.clone())));
    assert_eq!(out.unwrap(), vec![]);
    assert!(logs.contains("request body of 11 bytes is over max_request_body (10 bytes)"), "{logs}");

    granted.max_response_body = 16;
    let (out, logs) = capture_logs(|| run_one(&http_guest(0, &url, 0), spec_with(granted)));
    assert_eq!(out.unwrap(), vec![]);
    assert!(logs.contains("flowctl::audit") && logs.contains("over max_response_body (16 bytes)"), "{logs}");
}

#[test]
fn the_rate_cap_is_one_budget_for_every_version_of_a_processor() {
    let port = serve(r#"{"id": "ok"}"#);
    let mut granted = permission("127.0.0.1", port, &["127.0.0.0/8"]);
    granted.max_requests_per_minute = 1;
    let wat = http_guest(0, &format!("http://127.0.0.1:{port}/"), 0);
    // One runtime, as in `flowctl run`: a reload loads the new version on it.
    let runtime = runtime();
    let version = |name: &str, processor: &str| {
        let mut spec = spec_with(granted.clone());
        spec.name = processor.into();
        spec.version = Some(name.into());
        runtime.load_bytes(wat.as_bytes(), spec).unwrap()
    };
    let v1 = version("v1", "lookup");
    assert_eq!(v1.instantiate().unwrap().process_event(&event("a")).unwrap()[0].id(), "ok");
    let v2 = version("v2", "lookup");
    let (out, logs) = capture_logs(|| v2.instantiate().unwrap().process_event(&event("b")));
    assert_eq!(out.unwrap(), vec![], "the reloaded version got a fresh budget");
    assert!(logs.contains("rate limit of 1 requests per minute reached"), "{logs}");
    let other = version("v1", "another");
    assert_eq!(other.instantiate().unwrap().process_event(&event("c")).unwrap()[0].id(), "ok");
}
