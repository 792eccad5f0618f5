;; Per event: reads the state of the key at bytes 7..17 of the event (the
;; digits of an id like `e-0000042`), writes 8 bytes of the event as its new
;; value, then echoes the event. Measures `state_get` + `state_set`
;; (benches/progress.rs) and exercises their limits and codes (tests).
(module
  (import "flowctl" "state_get" (func $get (param i32 i32) (result i64)))
  (import "flowctl" "state_set" (func $set (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 16)
  (global $bump (mut i32) (i32.const 4096))
  ;; A bump allocator that wraps: enough for one event and one value at a time.
  (func $alloc (export "allocate") (param $n i32) (result i32)
    (local $p i32)
    (if (i32.gt_u (i32.add (global.get $bump) (local.get $n)) (i32.const 1000000))
      (then (global.set $bump (i32.const 4096))))
    (local.set $p (global.get $bump))
    (global.set $bump (i32.add (local.get $p) (local.get $n)))
    (local.get $p))
  (func (export "free") (param i32 i32))
  (func $pack (param $p i32) (param $n i32) (result i64)
    (i64.or (i64.shl (i64.extend_i32_u (local.get $p)) (i64.const 32)) (i64.extend_i32_u (local.get $n))))
  (func (export "process_event") (param $p i32) (param $n i32) (result i64)
    (drop (call $get (i32.add (local.get $p) (i32.const 7)) (i32.const 10)))
    (drop (call $set (i32.add (local.get $p) (i32.const 7)) (i32.const 10) (local.get $p) (i32.const 8)))
    (call $pack (local.get $p) (local.get $n))))
