//! The admin API's guards on the real binary: a change must be sent as JSON,
//! the Host must name the listener (DNS rebinding), a browser's cross-origin
//! or cross-site request is refused, while `flowctl status` / `traffic` and
//! plain curl-like requests pass; and the token may come from
//! `settings.admin_token_file` or `FLOWCTL_ADMIN_TOKEN` on both sides.

#![allow(clippy::unwrap_used)] // tests: a failed unwrap is a failed test

mod engine_common;
mod live_common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::os::unix::fs::PermissionsExt;
use std::process::Stdio;

use live_common::*;
use serde_json::Value;

/// Two versions of a passthrough processor, fed forever.
fn two_versions(ws: &Workspace, settings: &str) -> std::path::PathBuf {
    let pass = guest("passthrough");
    ws.live_pipeline_with(
        settings,
        &format!(
            r#"
  sources: [{{id: gen, type: generator, config: {{rate: 200, event_size: 64}}}}]
  processors:
    - id: p
      type: wasm
      inputs: [gen]
      wasm: {{versions: [{{name: v1, module: "{0}", weight: 90}}, {{name: v2, module: "{0}", weight: 10}}]}}
  sinks: [{{id: out, type: 'null', inputs: [p]}}]
"#,
            pass.display()
        ),
    )
}

/// One HTTP/1.1 exchange written by hand (so Host and every header are
/// exactly as given); the status and the JSON body.
fn raw(addr: &str, head: &str, body: &str) -> (u16, Value) {
    let mut stream = TcpStream::connect(addr).unwrap();
    let request = format!("{head}Content-Length: {}\r\nConnection: close\r\n\r\n{body}", body.len());
    stream.write_all(request.as_bytes()).unwrap();
    let mut text = String::new();
    stream.read_to_string(&mut text).unwrap();
    let status = text.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    let body = text.split_once("\r\n\r\n").map_or("", |(_, b)| b);
    (status, serde_json::from_str(body).unwrap_or(Value::Null))
}

fn weights(live: &Live) -> Vec<u64> {
    (0..2).map(|v| live.version("p", v)["weight"].as_u64().unwrap()).collect()
}

#[test]
fn browser_style_and_rebound_requests_are_refused_while_the_cli_works() {
    let ws = Workspace::new();
    let live = ws.start(&two_versions(&ws, "{}"), Stdio::null());
    let addr = live.addr.clone();
    let host = format!("Host: {addr}\r\n");
    let traffic = "PUT /admin/processors/p/traffic HTTP/1.1\r\n";
    let json = "Content-Type: application/json\r\n";
    let weights_body = r#"{"v1": 0, "v2": 100}"#;

    // A form post a web page could send: no JSON content type.
    for content_type in ["", "Content-Type: text/plain\r\n", "Content-Type: application/x-www-form-urlencoded\r\n"] {
        let (status, body) = raw(&addr, &format!("{traffic}{host}{content_type}"), weights_body);
        assert_eq!(status, 415, "{content_type:?}: {body}");
        assert_eq!(body["error"], "send the body as JSON with Content-Type: application/json");
    }
    let (status, _) = raw(&addr, &format!("POST /admin/processors/p/rollback HTTP/1.1\r\n{host}"), "");
    assert_eq!(status, 415, "a rollback without a body still needs the JSON content type");

    // A page on another name rebound to 127.0.0.1 sends its own Host.
    let port = addr.rsplit_once(':').unwrap().1;
    let rebound = format!("Host: rebound.example:{port}\r\n");
    let (status, body) = raw(&addr, &format!("GET /admin/status HTTP/1.1\r\n{rebound}"), "");
    assert_eq!(status, 421, "{body}");
    assert!(body["error"].as_str().unwrap().contains("does not name this admin listener"), "{body}");
    let (status, _) = raw(&addr, &format!("{traffic}{rebound}{json}"), weights_body);
    assert_eq!(status, 421);

    // A script on a foreign origin, or any cross-site browser request.
    for browser in [
        "Origin: http://evil.example\r\n".to_string(),
        "Origin: null\r\n".to_string(),
        format!("Origin: http://127.0.0.1:{}\r\n", port.parse::<u16>().unwrap() + 1),
        "Sec-Fetch-Site: cross-site\r\n".to_string(),
    ] {
        let (status, body) = raw(&addr, &format!("{traffic}{host}{json}{browser}"), weights_body);
        assert_eq!(status, 403, "{browser:?}: {body}");
        let (status, _) = raw(&addr, &format!("GET /admin/status HTTP/1.1\r\n{host}{browser}"), "");
        assert_eq!(status, 403, "{browser:?}");
    }
    assert_eq!(weights(&live), [90, 10], "a refused request changed the routing");

    // curl-like (no Origin), the same origin, and localhost all pass.
    let (status, body) = raw(&addr, &format!("GET /admin/status HTTP/1.1\r\n{host}"), "");
    assert_eq!((status, &body["processors"][0]["id"]), (200, &Value::from("p")), "{body}");
    let same_origin = format!("Origin: http://{addr}\r\nSec-Fetch-Site: same-origin\r\n");
    let (status, _) = raw(&addr, &format!("GET /admin/status HTTP/1.1\r\n{host}{same_origin}"), "");
    assert_eq!(status, 200);
    let (status, _) = raw(&addr, &format!("GET /admin/status HTTP/1.1\r\nHost: localhost:{port}\r\n"), "");
    assert_eq!(status, 200);
    let (status, body) =
        raw(&addr, &format!("{traffic}{host}Content-Type: application/json; charset=utf-8\r\n"), r#"{"v1": 50}"#);
    assert_eq!(status, 200, "{body}");
    assert_eq!(weights(&live), [50, 10]);

    // The CLI sends what the guards want.
    let status = live.cli(&["status"]);
    assert_eq!(status.code, Some(0), "{}", status.stderr);
    let traffic = live.cli(&["traffic", "p", "v1=0", "v2=100"]);
    assert_eq!(traffic.code, Some(0), "{}", traffic.stderr);
    let rollback = live.cli(&["rollback", "p", "--to", "v1"]);
    assert_eq!(rollback.code, Some(0), "{}", rollback.stderr);
    assert_eq!(weights(&live), [100, 0]);
    let (code, log) = live.stop();
    assert_eq!(code, Some(0), "{log}");
}

/// A `flowctl` admin verb with `envs` set (and no inherited token variable).
fn cli_with_env(live: &Live, args: &[&str], envs: &[(&str, &str)]) -> Cli {
    let output = flowctl()
        .args(args)
        .args(["--addr", &live.addr])
        .env_remove("FLOWCTL_ADMIN_TOKEN")
        .envs(envs.iter().copied())
        .output()
        .unwrap();
    Cli {
        code: output.status.code(),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

fn secret_file(ws: &Workspace, name: &str, text: &str, mode: u32) -> String {
    let path = ws.path(name);
    std::fs::write(&path, text).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
    path.display().to_string()
}

#[test]
fn the_token_comes_from_a_file_or_the_environment_on_both_sides() {
    // The pipeline reads its token from admin_token_file (relative to the file).
    let ws = Workspace::new();
    secret_file(&ws, "admin.token", "file-s3cret\n", 0o600);
    let file = two_versions(&ws, "{admin_token_file: admin.token}");
    let live = ws.start_with_env(&file, Stdio::null(), Some("file-s3cret"), &[]);
    let refused = cli_with_env(&live, &["status"], &[]);
    assert_eq!(refused.code, Some(1), "{}", refused.stderr);
    assert!(refused.stderr.contains("missing or wrong admin token"), "{}", refused.stderr);
    let client_file = secret_file(&ws, "client.token", "file-s3cret", 0o600);
    let by_file = cli_with_env(&live, &["status", "--token-file", &client_file], &[]);
    assert_eq!(by_file.code, Some(0), "{}", by_file.stderr);
    assert!(by_file.stderr.is_empty(), "{}", by_file.stderr);
    let by_env = cli_with_env(&live, &["status"], &[("FLOWCTL_ADMIN_TOKEN", "file-s3cret")]);
    assert_eq!(by_env.code, Some(0), "{}", by_env.stderr);
    let wrong_env = cli_with_env(&live, &["status"], &[("FLOWCTL_ADMIN_TOKEN", "guess")]);
    assert_eq!(wrong_env.code, Some(1), "{}", wrong_env.stderr);
    // A client token file others can read works, with a warning.
    let loose = secret_file(&ws, "loose.token", "file-s3cret", 0o644);
    let warned = cli_with_env(&live, &["status", "--token-file", &loose], &[]);
    assert_eq!(warned.code, Some(0), "{}", warned.stderr);
    assert!(warned.stderr.contains("is readable by group or others (mode 0644)"), "{}", warned.stderr);
    let empty = secret_file(&ws, "empty.token", "\n", 0o600);
    let refused = cli_with_env(&live, &["status", "--token-file", &empty], &[]);
    assert_eq!(refused.code, Some(2), "{}", refused.stderr);
    assert!(refused.stderr.contains(&format!("the admin token file {empty} is empty")), "{}", refused.stderr);
    let (code, log) = live.stop();
    assert_eq!(code, Some(0), "{log}");

    // The pipeline reads FLOWCTL_ADMIN_TOKEN, which wins over the file's token.
    let ws = Workspace::new();
    secret_file(&ws, "admin.token", "file-s3cret", 0o644);
    let file = two_versions(&ws, "{admin_token_file: admin.token}");
    let live = ws.start_with_env(&file, Stdio::null(), Some("env-s3cret"), &[("FLOWCTL_ADMIN_TOKEN", "env-s3cret")]);
    let by_env = cli_with_env(&live, &["status"], &[("FLOWCTL_ADMIN_TOKEN", "env-s3cret")]);
    assert_eq!(by_env.code, Some(0), "{}", by_env.stderr);
    let old = cli_with_env(&live, &["status", "--token", "file-s3cret"], &[]);
    assert_eq!(old.code, Some(1), "{}", old.stderr);
    let log = live.log_text();
    assert!(
        log.contains(
            "the admin API token comes from FLOWCTL_ADMIN_TOKEN, which overrides spec.settings.admin_token_file"
        ),
        "{log}"
    );
    let (code, log) = live.stop();
    assert_eq!(code, Some(0), "{log}");
}

#[test]
fn a_loose_or_empty_token_file_of_the_pipeline_is_flagged() {
    let ws = Workspace::new();
    secret_file(&ws, "admin.token", "s3cret", 0o644);
    let file = two_versions(&ws, "{admin_token_file: admin.token}");
    let live = ws.start_with_env(&file, Stdio::null(), Some("s3cret"), &[]);
    assert!(live.log_text().contains("admin.token is readable by group or others (mode 0644)"), "{}", live.log_text());
    drop(live);

    secret_file(&ws, "admin.token", "", 0o600);
    let run = cli(&["validate", file.to_str().unwrap()]);
    assert_eq!(run.code, Some(1), "{}", run.stderr);
    assert!(run.stderr.contains("spec.settings.admin_token_file: admin.token is empty"), "{}", run.stderr);
}
