//! Instance behaviour against small hostile and well-behaved guests in WAT.

use std::time::Duration;

use serde_json::json;

use super::test_guests::*;
use super::*;
use crate::event::MODULE_VERSION_KEY;
#[test]
fn echo_guest_passes_events_through_with_the_version() {
    let out = run_one(&process(ECHO), spec()).unwrap();
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].id(), "e1");
    assert_eq!(out[0].data(), json!({"x": 1}));
    assert_eq!(out[0].metadata_map()[MODULE_VERSION_KEY], "v1");
}

#[test]
fn version_defaults_to_the_content_hash() {
    let module = load(&process(ECHO), ProcessorSpec { version: None, ..spec() });
    assert_eq!(module.version().len(), 12);
    assert_eq!(module.version(), &module.sha256()[..12]);
    assert_eq!(module.report().abi_version, 1);
}

#[test]
fn empty_array_filters_the_event() {
    let wat = guest(
        "",
        r#"(data (i32.const 100) "[]")
        (func (export "process_event") (param i32 i32) (result i64) (call $pack (i32.const 100) (i32.const 2)))"#,
    );
    assert_eq!(run_one(&wat, spec()).unwrap(), vec![]);
}

#[test]
fn infinite_loop_hits_the_deadline() {
    let err = run_one(&process("(loop (br 0)) (i64.const 0)"), spec()).unwrap_err();
    assert_eq!(err, ProcessError::DeadlineExceeded { timeout: Duration::from_millis(200) });
}

#[test]
fn infinite_loop_with_fuel_runs_out_of_fuel() {
    let mut spec = spec();
    spec.limits.fuel = Some(10_000);
    spec.limits.timeout = Duration::from_secs(30);
    let err = run_one(&process("(loop (br 0)) (i64.const 0)"), spec).unwrap_err();
    assert_eq!(err, ProcessError::FuelExhausted { budget: 10_000 });
}

#[test]
fn memory_hog_hits_the_memory_limit() {
    let mut spec = spec();
    spec.limits.memory_bytes = 1024 * 1024;
    let err =
        run_one(&process("(loop (br_if 0 (i32.ne (memory.grow (i32.const 1)) (i32.const -1)))) (i64.const 0)"), spec)
            .unwrap_err();
    assert_eq!(err, ProcessError::MemoryLimitExceeded { limit: 1024 * 1024, requested: 1024 * 1024 + 65536 });
}

#[test]
fn initial_memory_beyond_the_limit_refuses_to_load() {
    let wat = r#"(module (memory (export "memory") 100)
        (func (export "allocate") (param i32) (result i32) i32.const 0)
        (func (export "free") (param i32 i32))
        (func (export "process_event") (param i32 i32) (result i64) i64.const 0))"#;
    let mut spec = spec();
    spec.limits.memory_bytes = 1024 * 1024;
    let err = runtime().load_bytes(wat.as_bytes(), spec).unwrap_err();
    assert!(err.to_string().contains("memory limit exceeded"), "{err}");
}

#[test]
fn unreachable_is_a_trap() {
    let err = run_one(&process("unreachable"), spec()).unwrap_err();
    match err {
        ProcessError::Trap(msg) => assert!(msg.contains("unreachable"), "{msg}"),
        other => panic!("expected a trap, got {other:?}"),
    }
}

#[test]
fn out_of_range_output_pointer_is_refused() {
    let err = run_one(&process("(call $pack (i32.const 0x7fff0000) (i32.const 100))"), spec()).unwrap_err();
    assert_eq!(err, ProcessError::InvalidOutputPointer { ptr: 0x7fff0000, len: 100, memory: 65536 });
    let err = run_one(&process("(call $pack (i32.const 65500) (i32.const 100))"), spec()).unwrap_err();
    assert_eq!(err.kind(), "invalid_pointer");
}

#[test]
fn garbage_output_is_malformed() {
    let wat = guest(
        "",
        r#"(data (i32.const 100) "not json")
        (func (export "process_event") (param i32 i32) (result i64) (call $pack (i32.const 100) (i32.const 8)))"#,
    );
    let err = run_one(&wat, spec()).unwrap_err();
    assert_eq!(err.kind(), "malformed_output");
    assert!(err.to_string().starts_with("malformed output: "), "{err}");
}

#[test]
fn guest_reported_failure_keeps_the_instance() {
    let wat = guest(
        "",
        r#"(data (i32.const 100) "bad amount")
        (func (export "process_event") (param i32 i32) (result i64) (i64.const 0))
        (func (export "last_error") (result i64) (call $pack (i32.const 100) (i32.const 10)))"#,
    );
    let module = load(&wat, spec());
    let mut instance = module.instantiate().unwrap();
    let err = instance.process_event(&event("e1")).unwrap_err();
    assert_eq!(err, ProcessError::Guest("bad amount".into()));
    assert!(!err.poisons_instance());
    assert_eq!(instance.process_event(&event("e2")).unwrap_err(), ProcessError::Guest("bad amount".into()));
}

#[test]
fn input_and_output_size_limits() {
    let mut small_in = spec();
    small_in.limits.max_input_bytes = 10;
    let err = run_one(&process(ECHO), small_in).unwrap_err();
    assert!(matches!(err, ProcessError::InputTooLarge { limit: 10, .. }), "{err:?}");
    let mut small_out = spec();
    small_out.limits.max_output_bytes = 10;
    let err = run_one(&process(ECHO), small_out).unwrap_err();
    assert!(matches!(err, ProcessError::OutputTooLarge { limit: 10, .. }), "{err:?}");
}

#[test]
fn init_receives_the_config_and_can_refuse_it() {
    // init keeps the config buffer; process_event returns it as the output event.
    let wat = guest(
        "",
        r#"(global $cp (mut i32) (i32.const 0)) (global $cn (mut i32) (i32.const 0))
        (data (i32.const 100) "no thanks")
        (func (export "init") (param $p i32) (param $n i32) (result i32)
          (global.set $cp (call $alloc (local.get $n)))
          (memory.copy (global.get $cp) (local.get $p) (local.get $n))
          (global.set $cn (local.get $n))
          (i32.ne (i32.load8_u (i32.add (local.get $p) (i32.const 2))) (i32.const 105)))
        (func (export "last_error") (result i64) (call $pack (i32.const 100) (i32.const 9)))
        (func (export "process_event") (param i32 i32) (result i64) (call $pack (global.get $cp) (global.get $cn)))"#,
    );
    let out = run_one(&wat, ProcessorSpec { config: json!({"id": "cfg"}), ..spec() }).unwrap();
    assert_eq!(out[0].id(), "cfg");
    let err = runtime().load_bytes(wat.as_bytes(), ProcessorSpec { config: json!({"x": 1}), ..spec() }).unwrap_err();
    assert!(matches!(&err, RuntimeError::Init(m) if m.contains("no thanks")), "{err}");
}

#[test]
fn batch_export_is_used_and_entries_map_to_events() {
    let wat = guest(
        "",
        &format!(
            r#"(func (export "process_event") (param i32 i32) (result i64) unreachable)
            (func (export "process_batch") (param $p i32) (param $n i32) (result i64) {ECHO})"#
        ),
    );
    let module = load(&wat, spec());
    assert!(module.report().has_process_batch);
    let results = module.instantiate().unwrap().process_batch(&[event("a"), event("b")]).unwrap();
    let ids: Vec<_> = results.iter().map(|r| r.as_ref().unwrap()[0].id().to_owned()).collect();
    assert_eq!(ids, ["a", "b"]);
}

#[test]
fn a_batch_of_one_goes_to_process_event() {
    // `process_batch` would trap: a one-event batch must not reach it.
    let wat = guest(
        "",
        &format!(
            r#"(func (export "process_event") (param $p i32) (param $n i32) (result i64) {ECHO})
            (func (export "process_batch") (param i32 i32) (result i64) unreachable)"#
        ),
    );
    let mut instance = load(&wat, spec()).instantiate().unwrap();
    let results = instance.process_batch(&[event("a")]).unwrap();
    assert_eq!(results[0].as_ref().unwrap()[0].id(), "a");
    assert!(instance.process_batch(&[event("a"), event("b")]).is_err(), "two events go to process_batch");
}

/// Traps when the event's JSON has an odd length.
fn trap_on_odd_length() -> String {
    process(&format!("(if (i32.and (local.get $n) (i32.const 1)) (then unreachable)) {ECHO}"))
}

#[test]
fn slot_isolates_bad_events_in_a_mixed_batch() {
    let module = load(&trap_on_odd_length(), spec());
    let mut slot = InstanceSlot::new(module);
    // "e1" and "e10" differ by one byte, so their JSON lengths alternate parity.
    let events: Vec<Event> = (0..100).map(|i| event(if i % 2 == 0 { "e1" } else { "e10" })).collect();
    let odd = event("e1").to_json().len() % 2 == 1;
    let results = slot.process(&events);
    assert_eq!(results.len(), 100);
    for (i, result) in results.iter().enumerate() {
        let bad = (i % 2 == 0) == odd;
        match result {
            Ok(out) => assert!(!bad && out[0].id() == events[i].id(), "event {i}"),
            Err(err) => assert!(bad && err.kind() == "trap", "event {i}: {err}"),
        }
    }
    // No `process_batch`: one call per event, so only the 50 bad ones cost an instance.
    assert_eq!(slot.restarts(), 50);
    // A later all-good batch runs on a healthy instance.
    let good = if odd { event("e10") } else { event("e1") };
    assert!(slot.process(&[good.clone(), good]).iter().all(Result::is_ok));
}

#[test]
fn slot_reports_each_event_of_a_failing_guest() {
    let wat = guest(
        "",
        r#"(func (export "init") (param i32 i32) (result i32) i32.const 0)
        (func (export "process_event") (param i32 i32) (result i64) unreachable)"#,
    );
    let module = load(&wat, spec());
    let mut slot = InstanceSlot::new(module);
    let results = slot.process(&[event("a"), event("b")]);
    assert!(results.iter().all(|r| r.as_ref().unwrap_err().kind() == "trap"));
}

#[test]
fn a_cached_module_is_loaded_from_disk_the_second_time() {
    let dir = tempfile::tempdir().unwrap();
    let runtime =
        Runtime::new(RuntimeSettings { cache_dir: Some(dir.path().into()), epoch_tick: Duration::from_millis(1) })
            .unwrap();
    let first = runtime.load_bytes(process(ECHO).as_bytes(), spec()).unwrap();
    assert_eq!(first.cache_outcome(), CacheOutcome::Miss);
    let second = runtime.load_bytes(process(ECHO).as_bytes(), spec()).unwrap();
    assert_eq!(second.cache_outcome(), CacheOutcome::Hit);
    assert_eq!(second.instantiate().unwrap().process_event(&event("c")).unwrap()[0].id(), "c");
}

#[test]
fn modules_with_abi_problems_do_not_load() {
    let err = runtime().load_bytes(br#"(module (memory (export "memory") 1))"#, spec()).unwrap_err();
    assert!(matches!(&err, RuntimeError::Abi(m) if m.contains("missing export `allocate`")), "{err}");
    let err = runtime().load_bytes(b"not wasm", spec()).unwrap_err();
    assert!(matches!(err, RuntimeError::Compile(_)));
}

#[test]
fn output_is_read_before_the_input_is_freed() {
    // `free` scribbles over the buffer, as a real allocator's free list does;
    // the guest returns its input buffer as its output.
    let wat = r#"(module
        (memory (export "memory") 1)
        (func (export "allocate") (param i32) (result i32) i32.const 1024)
        (func (export "free") (param $p i32) (param $n i32)
          (memory.fill (local.get $p) (i32.const 255) (local.get $n)))
        (func (export "process_event") (param $p i32) (param $n i32) (result i64)
          (i64.or (i64.shl (i64.extend_i32_u (local.get $p)) (i64.const 32)) (i64.extend_i32_u (local.get $n)))))"#;
    let module = load(wat, spec());
    let mut instance = module.instantiate().unwrap();
    assert_eq!(instance.process_event(&event("a")).unwrap()[0].id(), "a");
    assert_eq!(instance.process_event(&event("b")).unwrap()[0].id(), "b");
}

/// A reactor whose exports trap until `_initialize` has run, as Go's do.
const REACTOR: &str = r#"
  (global $ready (mut i32) (i32.const 0))
  (global $initialized (mut i32) (i32.const 0))
  (func (export "_initialize")
    (global.set $initialized (i32.add (global.get $initialized) (i32.const 1)))
    (global.set $ready (i32.const 1)))
  (func (export "process_event") (param $p i32) (param $n i32) (result i64)
    (if (i32.eqz (global.get $ready)) (then unreachable))
    ;; Initialized more than once would be a bug: trap on it too.
    (if (i32.ne (global.get $initialized) (i32.const 1)) (then unreachable))
    (call $pack (local.get $p) (local.get $n)))"#;

#[test]
fn a_reactor_is_initialized_once_per_instance_before_its_first_call() {
    let module = load(&guest("", REACTOR), spec());
    assert_eq!(module.report().kind, validate::ModuleKind::Reactor);
    let mut instance = module.instantiate().unwrap();
    for id in ["e1", "e2"] {
        assert_eq!(instance.process_event(&event(id)).unwrap()[0].id(), id);
    }
    // A second instance gets its own start-up.
    assert_eq!(module.instantiate().unwrap().process_event(&event("e3")).unwrap().len(), 1);
}

#[test]
fn a_looping_initialize_hits_the_deadline_and_fails_the_instance() {
    let wat = guest(
        "",
        r#"(func (export "_initialize") (loop (br 0)))
        (func (export "process_event") (param $p i32) (param $n i32) (result i64) (call $pack (local.get $p) (local.get $n)))"#,
    );
    // Loading makes the first instance, which fails.
    let err = runtime().load_bytes(wat.as_bytes(), spec()).unwrap_err();
    assert!(err.to_string().contains("`_initialize` failed") && err.to_string().contains("deadline"), "{err}");
}

#[test]
fn an_assemblyscript_abort_fails_the_event_with_the_guest_message() {
    // "boom" and "a.ts" as AssemblyScript strings: byte length, then UTF-16LE.
    let wat = guest(
        r#"(import "env" "abort" (func $abort (param i32 i32 i32 i32)))"#,
        r#"(data (i32.const 1000) "\08\00\00\00b\00o\00o\00m\00")
        (data (i32.const 1100) "\08\00\00\00a\00.\00t\00s\00")
        (func (export "process_event") (param i32 i32) (result i64)
          (call $abort (i32.const 1004) (i32.const 1104) (i32.const 12) (i32.const 7))
          unreachable)"#,
    );
    let err = run_one(&wat, spec()).unwrap_err();
    assert!(err.to_string().contains("the guest aborted: boom (at a.ts:12:7)"), "{err}");
}
