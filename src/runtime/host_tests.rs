//! Host functions (log, metrics, http) and WASI as guests see them.

use std::io::{Read, Write};

use serde_json::json;

use std::sync::Arc;

use super::scope::MetricAdmission;
use super::test_guests::*;
use super::*;

const HTTP_IMPORT: &str = r#"(import "flowctl" "http_request" (func $http (param i32 i32 i32 i32 i32) (result i64)))"#;

/// Calls `http_request(GET, url)` and returns the response body as its output, or `[]` on 0.
fn http_guest(url: &str) -> String {
    guest(
        HTTP_IMPORT,
        &format!(
            r#"(data (i32.const 100) "[]") (data (i32.const 200) "{url}")
            (func (export "process_event") (param i32 i32) (result i64) (local $r i64)
              (local.set $r (call $http (i32.const 0) (i32.const 200) (i32.const {len}) (i32.const 0) (i32.const 0)))
              (if (result i64) (i64.eqz (local.get $r))
                (then (call $pack (i32.const 100) (i32.const 2)))
                (else (local.get $r))))"#,
            len = url.len()
        ),
    )
}

#[test]
fn ungranted_import_is_capability_denied() {
    let (result, logs) = capture_logs(|| run_one(&http_guest("http://example.com/"), spec()));
    let err = result.unwrap_err();
    let audit =
        logs.lines().find(|l| l.contains("flowctl::audit")).unwrap_or_else(|| panic!("no audit line in {logs}"));
    assert!(
        audit.contains("processor=test") && audit.contains("http_request") && audit.contains("allowed=false"),
        "{audit}"
    );
    assert!(audit.contains("http://example.com/"), "{audit}");
    assert_eq!(
        err,
        ProcessError::CapabilityDenied { function: "http_request".into(), target: Some("http://example.com/".into()) }
    );
    assert_eq!(err.to_string(), "capability denied: http_request (http://example.com/)");
}

#[test]
fn log_can_be_withheld() {
    let wat = guest(
        r#"(import "env" "log" (func $log (param i32 i32 i32)))"#,
        r#"(func (export "process_event") (param $p i32) (param $n i32) (result i64)
            (call $log (i32.const 1) (local.get $p) (local.get $n)) (call $pack (local.get $p) (local.get $n)))"#,
    );
    assert_eq!(run_one(&wat, spec()).unwrap().len(), 1);
    let mut no_log = spec();
    no_log.permissions.log = false;
    let err = run_one(&wat, no_log).unwrap_err();
    assert_eq!(err, ProcessError::CapabilityDenied { function: "log".into(), target: None });
}

#[test]
fn log_with_a_bad_pointer_is_refused() {
    let wat = guest(
        r#"(import "flowctl" "log" (func $log (param i32 i32 i32)))"#,
        r#"(func (export "process_event") (param i32 i32) (result i64)
            (call $log (i32.const 1) (i32.const 65530) (i32.const 100)) (i64.const 0))"#,
    );
    assert_eq!(run_one(&wat, spec()).unwrap_err().kind(), "invalid_pointer");
}

/// Serves one HTTP request on 127.0.0.1 with `body`, and returns the port.
fn serve_once(body: &'static str) -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        let (mut conn, _) = listener.accept().unwrap();
        let mut request = Vec::new();
        let mut buf = [0u8; 1024];
        while !request.windows(4).any(|w| w == b"\r\n\r\n") {
            let n = conn.read(&mut buf).unwrap();
            if n == 0 {
                break;
            }
            request.extend_from_slice(&buf[..n]);
        }
        let response = format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}", body.len());
        conn.write_all(response.as_bytes()).unwrap();
    });
    port
}

/// HTTP to 127.0.0.1 on `port`: loopback and the port must both be granted.
fn loopback_permission(port: u16) -> HttpPermission {
    let mut permission = HttpPermission::new(vec!["127.0.0.1".into()]);
    permission.allowed_networks = vec!["127.0.0.0/8".parse().unwrap()];
    permission.allowed_ports = vec![port];
    permission
}

#[test]
fn granted_http_reaches_an_allowed_host() {
    let port = serve_once(r#"{"id": "from-http", "data": {"ok": true}}"#);
    let mut spec = spec();
    spec.permissions.http = Some(loopback_permission(port));
    let out = run_one(&http_guest(&format!("http://127.0.0.1:{port}/lookup")), spec).unwrap();
    assert_eq!(out[0].id(), "from-http");
    assert_eq!(out[0].data(), json!({"ok": true}));
}

#[test]
fn http_to_a_host_outside_the_allow_list_returns_zero() {
    let mut spec = spec();
    spec.permissions.http = Some(HttpPermission::new(vec!["127.0.0.1".into()]));
    // Denied before any connection: the guest sees 0 and filters the event.
    let (out, logs) = capture_logs(|| run_one(&http_guest("http://127.0.0.1.evil.test/x"), spec.clone()));
    assert_eq!(out.unwrap(), vec![]);
    assert!(logs.contains("flowctl::audit") && logs.contains("not in allowed_domains"), "{logs}");
    assert_eq!(run_one(&http_guest("http://127.0.0.1@evil.test/x"), spec).unwrap(), vec![]);
}

const WASI_IMPORTS: &str = r#"
  (import "wasi_snapshot_preview1" "environ_sizes_get" (func $env_sizes (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "args_sizes_get" (func $args_sizes (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "path_open"
    (func $path_open (param i32 i32 i32 i32 i32 i64 i64 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))"#;

#[test]
fn wasi_is_locked_down() {
    // Traps unless: no environment, no arguments, opening "/etc/passwd" via fd 3 fails,
    // and writing a line to stdout succeeds.
    let wat = guest(
        WASI_IMPORTS,
        &format!(
            r#"(data (i32.const 100) "etc/passwd") (data (i32.const 200) "hello from wasi\n")
            (func (export "process_event") (param $p i32) (param $n i32) (result i64)
              (if (call $env_sizes (i32.const 300) (i32.const 304)) (then unreachable))
              (if (i32.load (i32.const 300)) (then unreachable))
              (if (call $args_sizes (i32.const 300) (i32.const 304)) (then unreachable))
              (if (i32.load (i32.const 300)) (then unreachable))
              (if (i32.eqz (call $path_open (i32.const 3) (i32.const 0) (i32.const 100) (i32.const 10)
                    (i32.const 0) (i64.const 0) (i64.const 0) (i32.const 0) (i32.const 308))) (then unreachable))
              (i32.store (i32.const 320) (i32.const 200)) (i32.store (i32.const 324) (i32.const 16))
              (if (call $fd_write (i32.const 1) (i32.const 320) (i32.const 1) (i32.const 328)) (then unreachable))
              (if (i32.ne (i32.load (i32.const 328)) (i32.const 16)) (then unreachable))
              {ECHO})"#
        ),
    );
    let module = load(&wat, spec());
    assert!(module.report().uses_wasi);
    let (out, logs) = capture_logs(|| module.instantiate().unwrap().process_event(&event("w")).unwrap());
    assert_eq!(out[0].id(), "w");
    let line =
        logs.lines().find(|l| l.contains("hello from wasi")).unwrap_or_else(|| panic!("stdout not logged: {logs}"));
    assert!(line.contains("flowctl::guest") && line.contains("processor=test") && line.contains("stdout"), "{line}");
}

#[test]
fn guest_metric_names_are_capped_per_processor() {
    // Records 70 distinct names `m00` .. `m69`.
    let wat = guest(
        r#"(import "flowctl" "record_metric" (func $metric (param i32 i32 f64)))"#,
        &format!(
            r#"(data (i32.const 100) "m")
            (func (export "process_event") (param $p i32) (param $n i32) (result i64) (local $i i32)
              (loop $next
                (i32.store8 (i32.const 101) (i32.add (i32.const 48) (i32.div_u (local.get $i) (i32.const 10))))
                (i32.store8 (i32.const 102) (i32.add (i32.const 48) (i32.rem_u (local.get $i) (i32.const 10))))
                (call $metric (i32.const 100) (i32.const 3) (f64.convert_i32_u (local.get $i)))
                (local.set $i (i32.add (local.get $i) (i32.const 1)))
                (br_if $next (i32.lt_u (local.get $i) (i32.const 70))))
              {ECHO})"#
        ),
    );
    let runtime = runtime();
    let module = runtime.load_bytes(wat.as_bytes(), spec()).unwrap();
    let mut instance = module.instantiate().unwrap();
    instance.process_event(&event("m")).unwrap();
    instance.process_event(&event("m")).unwrap();
    let scope = &module.shared.scope;
    assert_eq!(scope.admit_metric("m00"), MetricAdmission::Known);
    assert_eq!(scope.admit_metric("m63"), MetricAdmission::Known);
    assert_eq!(scope.admit_metric("m64"), MetricAdmission::Refused);
    // A reloaded version of the processor shares the cap: it cannot start over.
    let reloaded = runtime.load_bytes(wat.as_bytes(), ProcessorSpec { version: Some("v2".into()), ..spec() }).unwrap();
    assert!(Arc::ptr_eq(&reloaded.shared.scope, scope));
    assert_eq!(reloaded.shared.scope.admit_metric("fresh"), MetricAdmission::Refused);
}

#[test]
fn a_wasi_sleep_within_the_deadline_completes() {
    let wat = guest(
        r#"(import "wasi_snapshot_preview1" "poll_oneoff" (func $poll (param i32 i32 i32 i32) (result i32)))"#,
        &format!(
            r#"(func (export "process_event") (param $p i32) (param $n i32) (result i64)
              ;; one relative monotonic clock subscription of 20 ms at 1024; event at 1100, count at 1200
              (i32.store8 (i32.const 1032) (i32.const 0))
              (i32.store (i32.const 1040) (i32.const 1))
              (i64.store (i32.const 1048) (i64.const 20000000))
              (i32.store16 (i32.const 1064) (i32.const 0))
              (if (call $poll (i32.const 1024) (i32.const 1100) (i32.const 1) (i32.const 1200)) (then unreachable))
              (if (i32.ne (i32.load (i32.const 1200)) (i32.const 1)) (then unreachable))
              {ECHO})"#
        ),
    );
    let module = load(&wat, spec());
    let mut instance = module.instantiate().unwrap();
    let start = std::time::Instant::now();
    assert_eq!(instance.process_event(&event("s")).unwrap().len(), 1);
    assert!(start.elapsed() >= std::time::Duration::from_millis(20), "the guest slept");
    let mut short = spec();
    short.limits.timeout = std::time::Duration::from_millis(5);
    let err = load(&wat, short).instantiate().unwrap().process_event(&event("s")).unwrap_err();
    assert_eq!(err, ProcessError::DeadlineExceeded { timeout: std::time::Duration::from_millis(5) });
}

#[test]
fn http_rate_cap_denies_requests_beyond_it() {
    let port = serve_once(r#"{"id": "first"}"#);
    let mut spec = spec();
    let mut permission = loopback_permission(port);
    permission.max_requests_per_minute = 1;
    spec.permissions.http = Some(permission);
    let module = load(&http_guest(&format!("http://127.0.0.1:{port}/")), spec);
    let mut instance = module.instantiate().unwrap();
    assert_eq!(instance.process_event(&event("a")).unwrap()[0].id(), "first");
    let (second, logs) = capture_logs(|| instance.process_event(&event("b")));
    assert_eq!(second.unwrap(), vec![]);
    assert!(logs.contains("rate limit of 1 requests per minute reached"), "{logs}");
}

#[test]
fn ungranted_imports_are_noted_at_load() {
    let module = load(&http_guest("http://example.com/"), spec());
    assert!(
        module.report().notes.iter().any(|n| n.contains("`http_request`, which is not granted")),
        "{:?}",
        module.report().notes
    );
    let mut granted = spec();
    granted.permissions.http = Some(HttpPermission::new(vec!["example.com".into()]));
    let module = load(&http_guest("http://example.com/"), granted);
    assert!(!module.report().notes.iter().any(|n| n.contains("not granted")));
}
