//! `state_get`, `state_set`, `state_delete` as guests see them.

use crate::runtime::test_guests::*;
use crate::runtime::*;

const STATE_IMPORTS: &str = r#"(import "flowctl" "state_get" (func $get (param i32 i32) (result i64)))
    (import "flowctl" "state_set" (func $set (param i32 i32 i32 i32) (result i32)))
    (import "flowctl" "state_delete" (func $del (param i32 i32) (result i32)))"#;

/// Sets key "k" to the 3-byte value "abc" (or, with `then_trap`, traps after
/// setting it), then outputs `state_get("k")`'s buffer or, on a negative
/// code, the code's event `[]`.
fn setter(then_trap: bool) -> String {
    let trap = if then_trap { "(unreachable)" } else { "" };
    guest(
        STATE_IMPORTS,
        &format!(
            r#"(data (i32.const 100) "k") (data (i32.const 110) "abc") (data (i32.const 120) "[]")
            (func (export "process_event") (param i32 i32) (result i64)
              (drop (call $set (i32.const 100) (i32.const 1) (i32.const 110) (i32.const 3)))
              {trap}
              (call $pack (i32.const 120) (i32.const 2)))"#
        ),
    )
}

/// Returns the code of `state_set` with a key of `key_len` bytes, as the `data.code` of an output.
fn oversized(key_len: usize, value_len: usize) -> String {
    guest(
        STATE_IMPORTS,
        &format!(
            r#"(data (i32.const 100) "[{{\"id\":\"c\",\"data\":0}}]")
            (func (export "process_event") (param i32 i32) (result i64)
              (i32.store8 (i32.const 118)
                (i32.add (i32.const 48) (call $set (i32.const 1000) (i32.const {key_len}) (i32.const 9000) (i32.const {value_len}))))
              (call $pack (i32.const 100) (i32.const 21)))"#
        ),
    )
}

fn granted() -> ProcessorSpec {
    let mut spec = spec();
    spec.permissions.state = true;
    spec.limits.state = StateCaps { max_key_bytes: 16, max_value_bytes: 32, max_bytes: 1024 };
    spec
}

#[test]
fn writes_are_shared_by_instances_and_versions_and_dropped_when_the_call_fails() {
    let runtime = runtime();
    let module = runtime.load_bytes(setter(false).as_bytes(), granted()).unwrap();
    module.instantiate().unwrap().process_event(&event("e1")).unwrap();
    let state = runtime.processor_state("test").expect("state granted");
    assert_eq!(state.get(b"k"), Some(b"abc".to_vec()));
    state.apply([(b"k".to_vec(), None)].into_iter().collect(), Default::default());

    let v2 = ProcessorSpec { version: Some("v2".into()), ..granted() };
    let trapping = runtime.load_bytes(setter(true).as_bytes(), v2).unwrap();
    assert!(trapping.instantiate().unwrap().process_event(&event("e2")).is_err());
    assert_eq!(state.get(b"k"), None, "a trapped call leaves no write behind");
}

#[test]
fn held_writes_wait_for_their_settlement() {
    let runtime = runtime();
    let module = runtime.load_bytes(setter(false).as_bytes(), granted()).unwrap();
    let state = runtime.processor_state("test").expect("state granted");
    let mut instance = module.instantiate().unwrap();
    instance.process_batch_held(&[event("e1")]).unwrap();
    assert_eq!(state.get(b"k"), None, "held, not applied");
    instance.settle_state(false);
    instance.process_batch_held(&[event("e2")]).unwrap();
    instance.settle_state(true);
    assert_eq!(state.get(b"k"), Some(b"abc".to_vec()), "only the kept call's write is applied");
}

#[test]
fn caps_answer_with_their_codes() {
    let code = |key_len, value_len| {
        let out = run_one(&oversized(key_len, value_len), granted()).unwrap();
        out[0].data_json().to_vec()
    };
    assert_eq!(code(4, 4), b"0");
    assert_eq!(code(17, 4), b"1", "key over max_state_key");
    assert_eq!(code(4, 33), b"2", "value over max_state_value");
}

#[test]
fn not_granted_is_capability_denied() {
    let err = run_one(&setter(false), spec()).unwrap_err();
    assert!(err.to_string().contains("capability denied: state_set"), "{err}");
}
