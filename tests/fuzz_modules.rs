//! Random modules against the runtime: `wasm-smith` builds modules shaped
//! like processors (the ABI's exports, any of the host functions and WASI
//! calls as imports, random bodies: loops, traps, random pointers and
//! lengths, garbage output, memory growth, host calls with random
//! arguments). Whatever a module does, the host must not panic, every guest
//! call must end within its deadline plus a small margin, and the process
//! must stay within a memory bound.
//!
//! `FLOWCTL_FUZZ_MODULES` sets the number of modules (default 150, under a
//! minute in a debug build); `FLOWCTL_FUZZ_SEED` replays a run;
//! `FLOWCTL_FUZZ_VERBOSE` says why each refused module was refused. The
//! longer run and its result are in docs/security.md.

#![allow(clippy::unwrap_used)] // tests: a failed unwrap is a failed test

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::time::{Duration, Instant};

use arbitrary::Unstructured;
use flowctl::runtime::{Limits, ProcessorSpec, Runtime, RuntimeSettings};
use flowctl::Event;
use serde_json::json;

/// Deadline of every guest call.
const TIMEOUT: Duration = Duration::from_millis(50);
/// What a call may take beyond its deadline: the epoch tick, trap
/// unwinding, the host copying the output out, on a loaded CI machine.
const MARGIN: Duration = Duration::from_millis(250);
/// Peak RSS the test process may reach (instances are capped at 16 MiB each).
const MAX_RSS_MB: u64 = 1024;

/// The exports every generated module has (bodies are random).
const EXPORTS: &str = r#"(module
  (memory (export "memory") 1)
  (func (export "allocate") (param i32) (result i32) unreachable)
  (func (export "free") (param i32 i32) unreachable)
  (func (export "process_event") (param i32 i32) (result i64) unreachable)
  (func (export "process_batch") (param i32 i32) (result i64) unreachable)
  (func (export "last_error") (result i64) unreachable))"#;

/// The imports a generated module may use.
const IMPORTS: &str = r#"(module
  (import "flowctl" "log" (func (param i32 i32 i32)))
  (import "flowctl" "record_metric" (func (param i32 i32 f64)))
  (import "flowctl" "http_request" (func (param i32 i32 i32 i32 i32) (result i64)))
  (import "wasi_snapshot_preview1" "poll_oneoff" (func (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_write" (func (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "random_get" (func (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "clock_time_get" (func (param i32 i64 i32) (result i32)))
  (import "wasi_snapshot_preview1" "proc_exit" (func (param i32))))"#;

fn env_number(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// Half the modules cannot trap, so more of them get past loading and run events.
fn config(disallow_traps: bool) -> wasm_smith::Config {
    wasm_smith::Config {
        disallow_traps,
        compact_imports_enabled: false,
        wide_arithmetic_enabled: false,
        exports: Some(wat::parse_str(EXPORTS).unwrap()),
        available_imports: Some(wat::parse_str(IMPORTS).unwrap()),
        max_memory32_bytes: 32 << 20,
        memory64_enabled: false,
        threads_enabled: false,
        shared_everything_threads_enabled: false,
        gc_enabled: false,
        exceptions_enabled: false,
        custom_page_sizes_enabled: false,
        max_funcs: 12,
        max_instructions: 400,
        max_data_segments: 4,
        max_table_elements: 10_000,
        ..wasm_smith::Config::default()
    }
}

fn rss_mb() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let line = status.lines().find(|l| l.starts_with("VmHWM:")).unwrap_or("VmHWM: 0 kB");
    line.split_whitespace().nth(1).and_then(|kb| kb.parse::<u64>().ok()).unwrap_or(0) / 1024
}

fn events(n: usize) -> Vec<Event> {
    (0..n).map(|i| Event::new(format!("e{i}"), "t.v1", 1, json!({"n": i, "s": "x".repeat(i * 40)}))).collect()
}

/// Asserts `call` ends within the deadline plus the margin; returns whether it succeeded.
fn timed<T, E>(what: &str, case: u64, call: impl FnOnce() -> Result<T, E>) -> Option<T> {
    let start = Instant::now();
    let result = call();
    let took = start.elapsed();
    assert!(took <= TIMEOUT + MARGIN, "case {case}: {what} took {took:?}");
    result.ok()
}

#[test]
fn random_modules_never_hurt_the_host() {
    let (seed, cases) = (env_number("FLOWCTL_FUZZ_SEED", 0xf10c), env_number("FLOWCTL_FUZZ_MODULES", 150));
    let runtime = Runtime::new(RuntimeSettings { cache_dir: None, epoch_tick: Duration::from_millis(1) }).unwrap();
    let spec = ProcessorSpec {
        limits: Limits { timeout: TIMEOUT, memory_bytes: 16 << 20, max_outputs: 100, ..Limits::default() },
        ..ProcessorSpec::named("fuzz")
    };
    let (mut loaded, mut ran) = (0, 0);
    for case in 0..cases {
        let mut rng = fastrand::Rng::with_seed(seed.wrapping_add(case));
        let entropy: Vec<u8> = (0..rng.usize(64..8192)).map(|_| rng.u8(..)).collect();
        let module = match wasm_smith::Module::new(config(rng.bool()), &mut Unstructured::new(&entropy)) {
            Ok(module) => module,
            Err(err) => {
                if std::env::var_os("FLOWCTL_FUZZ_VERBOSE").is_some() {
                    eprintln!("case {case}: not generated: {err}");
                }
                continue;
            }
        };
        let wasm = module.to_bytes();
        let outcome = catch_unwind(AssertUnwindSafe(|| {
            // Loading compiles (not bounded by the deadline) and runs `init` once.
            let module = match runtime.load_bytes(&wasm, spec.clone()) {
                Ok(module) => module,
                Err(err) => {
                    if std::env::var_os("FLOWCTL_FUZZ_VERBOSE").is_some() {
                        eprintln!("case {case}: not loaded: {err}");
                    }
                    return (false, false);
                }
            };
            let mut ran = false;
            for batch in [1, 3] {
                let Some(mut instance) = timed("instantiate + init", case, || module.instantiate()) else { continue };
                let events = events(batch);
                if let Some(results) = timed("process_batch", case, || instance.process_batch(&events)) {
                    assert_eq!(results.len(), batch, "case {case}: one result per event");
                    for outputs in results.iter().flatten() {
                        assert!(outputs.len() <= 100, "case {case}: {} outputs", outputs.len());
                    }
                    ran = true;
                }
                if let Some(mut again) = timed("instantiate + init", case, || module.instantiate()) {
                    timed("process_event", case, || again.process_event(&events[0]));
                }
            }
            (true, ran)
        }));
        match outcome {
            Ok((was_loaded, did_run)) => {
                loaded += u64::from(was_loaded);
                ran += u64::from(did_run);
            }
            Err(panic) => {
                let message = panic.downcast_ref::<String>().cloned().unwrap_or_default();
                let path = std::env::temp_dir().join(format!("flowctl-fuzz-{seed}-{case}.wasm"));
                let _ = std::fs::write(&path, &wasm);
                panic!("case {case} (FLOWCTL_FUZZ_SEED={seed}, module saved to {}): {message}", path.display());
            }
        }
        assert!(rss_mb() < MAX_RSS_MB, "case {case}: the test process peaked at {} MB", rss_mb());
    }
    eprintln!("{cases} modules: {loaded} loaded, {ran} answered a batch call whole; peak RSS {} MB", rss_mb());
    assert!(loaded > cases / 4, "too few generated modules load ({loaded} of {cases}): the generator is off");
}
