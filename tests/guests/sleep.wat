;; A guest that sleeps 60 s in WASI `poll_oneoff` (a relative monotonic clock
;; subscription) on every event. Epoch interruption does not reach into host
;; calls; flowctl's `poll_oneoff` ends the call at its deadline instead.
(module
  (import "wasi_snapshot_preview1" "poll_oneoff" (func $poll (param i32 i32 i32 i32) (result i32)))
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
  (func (export "process_event") (param $p i32) (param $n i32) (result i64)
    ;; Subscription at 1024: userdata 0, tag 0 (clock), clock id 1 (monotonic),
    ;; timeout 60 s, precision 0, flags 0 (relative). Events at 1100, count at 1200.
    (i64.store (i32.const 1024) (i64.const 0))
    (i32.store8 (i32.const 1032) (i32.const 0))
    (i32.store (i32.const 1040) (i32.const 1))
    (i64.store (i32.const 1048) (i64.const 60000000000))
    (i64.store (i32.const 1056) (i64.const 0))
    (i32.store16 (i32.const 1064) (i32.const 0))
    (drop (call $poll (i32.const 1024) (i32.const 1100) (i32.const 1) (i32.const 1200)))
    (i64.or (i64.shl (i64.extend_i32_u (local.get $p)) (i64.const 32)) (i64.extend_i32_u (local.get $n)))))
