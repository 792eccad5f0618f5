;; Log flooding: 10,000 `log` calls (level warn) and 10,000 WASI stdout lines
;; per event. flowctl keeps `limits.log_lines_per_second` per processor and
;; counts the rest in flowctl_dropped_guest_log_lines_total.
(module
  (import "flowctl" "log" (func $log (param i32 i32 i32)))
  (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
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
  (data (i32.const 100) "flood line\n")
  (func (export "process_event") (param $p i32) (param $n i32) (result i64)
    (local $i i32)
    (i32.store (i32.const 200) (i32.const 100))
    (i32.store (i32.const 204) (i32.const 11))
    (loop $again
      (call $log (i32.const 2) (i32.const 100) (i32.const 10))
      (drop (call $fd_write (i32.const 1) (i32.const 200) (i32.const 1) (i32.const 208)))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $again (i32.lt_u (local.get $i) (i32.const 10000))))
    (i64.or (i64.shl (i64.extend_i32_u (local.get $p)) (i64.const 32)) (i64.extend_i32_u (local.get $n)))))
