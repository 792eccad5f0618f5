//! Helpers for runtime tests: small guests in WAT and a runtime to load them.

use std::io::Write;
use std::sync::Arc;
use std::time::Duration;

use serde_json::json;

use super::*;
use crate::event::Event;

/// Memory, a wrapping bump allocator, a no-op free and a `$pack` helper.
pub(crate) const PRELUDE: &str = r#"
  (memory (export "memory") 1)
  (global $bump (mut i32) (i32.const 4096))
  (func $alloc (export "allocate") (param $n i32) (result i32)
    (local $p i32)
    (if (i32.gt_u (i32.add (global.get $bump) (local.get $n)) (i32.const 60000))
      (then (global.set $bump (i32.const 4096))))
    (local.set $p (global.get $bump))
    (global.set $bump (i32.add (local.get $p) (local.get $n)))
    (local.get $p))
  (func (export "free") (param i32 i32))
  (func $pack (param $p i32) (param $n i32) (result i64)
    (i64.or (i64.shl (i64.extend_i32_u (local.get $p)) (i64.const 32)) (i64.extend_i32_u (local.get $n))))
"#;

pub(super) fn guest(imports: &str, body: &str) -> String {
    format!("(module {imports} {PRELUDE} {body})")
}

/// A guest whose `process_event` body is `body` (params `$p`, `$n`; result i64).
pub(super) fn process(body: &str) -> String {
    guest("", &format!(r#"(func (export "process_event") (param $p i32) (param $n i32) (result i64) {body})"#))
}

pub(super) const ECHO: &str = "(call $pack (local.get $p) (local.get $n))";

pub(super) fn runtime() -> Runtime {
    Runtime::new(RuntimeSettings { cache_dir: None, epoch_tick: Duration::from_millis(1) }).unwrap()
}

pub(super) fn spec() -> ProcessorSpec {
    ProcessorSpec {
        version: Some("v1".into()),
        limits: Limits { timeout: Duration::from_millis(200), ..Limits::default() },
        ..ProcessorSpec::named("test")
    }
}

pub(super) fn load(wat: &str, spec: ProcessorSpec) -> Arc<LoadedModule> {
    runtime().load_bytes(wat.as_bytes(), spec).unwrap()
}

/// A guest that outputs nothing, loaded as version `version` of processor
/// `p`: for tests of what surrounds modules (traffic control, metrics).
pub(crate) fn versioned(version: &str) -> Arc<LoadedModule> {
    let wat = r#"(module (memory (export "memory") 1)
        (func (export "allocate") (param i32) (result i32) (i32.const 1024))
        (func (export "free") (param i32 i32))
        (func (export "process_event") (param i32 i32) (result i64) (i64.const 0)))"#;
    load(wat, ProcessorSpec { version: Some(version.into()), ..ProcessorSpec::named("p") })
}

pub(super) fn event(id: &str) -> Event {
    Event::new(id, "t.v1", 1, json!({"x": 1}))
}

thread_local! {
    /// Log output of the current thread while it is being captured.
    static CAPTURED: std::cell::RefCell<Option<Vec<u8>>> = const { std::cell::RefCell::new(None) };
}

/// Writes into the current thread's capture buffer, or nowhere.
struct ThreadWriter;

impl Write for ThreadWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        CAPTURED.with(|c| {
            if let Some(captured) = c.borrow_mut().as_mut() {
                captured.extend_from_slice(buf);
            }
        });
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Runs `f` and returns the log lines it wrote on this thread. One global
/// subscriber interested in everything (rather than a scoped one per test)
/// keeps tracing's per-callsite interest cache from racing between parallel tests.
pub(super) fn capture_logs<T>(f: impl FnOnce() -> T) -> (T, String) {
    static INIT: std::sync::Once = std::sync::Once::new();
    INIT.call_once(|| {
        let _ = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::DEBUG)
            .with_ansi(false)
            .with_writer(|| ThreadWriter)
            .try_init();
    });
    CAPTURED.with(|c| *c.borrow_mut() = Some(Vec::new()));
    let result = f();
    let captured = CAPTURED.with(|c| c.borrow_mut().take()).unwrap_or_default();
    (result, String::from_utf8_lossy(&captured).into_owned())
}

pub(super) fn run_one(wat: &str, spec: ProcessorSpec) -> Result<Vec<Event>, ProcessError> {
    load(wat, spec).instantiate()?.process_event(&event("e1"))
}
