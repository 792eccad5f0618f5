;; Metric-name flooding: every event records 1,000 distinct names
;; (`m<event byte><000..999>`). flowctl creates at most 64 names per processor,
;; counts the other updates as dropped, and keeps its per-instance cache bounded.
(module
  (import "flowctl" "record_metric" (func $metric (param i32 i32 f64)))
  (memory (export "memory") 1)
  (global $bump (mut i32) (i32.const 4096))
  (global $round (mut i32) (i32.const 0))
  (func $alloc (export "allocate") (param $n i32) (result i32)
    (local $p i32)
    (if (i32.gt_u (i32.add (global.get $bump) (local.get $n)) (i32.const 60000))
      (then (global.set $bump (i32.const 4096))))
    (local.set $p (global.get $bump))
    (global.set $bump (i32.add (local.get $p) (local.get $n)))
    (local.get $p))
  (func (export "free") (param i32 i32))
  (func (export "process_event") (param $p i32) (param $n i32) (result i64)
    (local $i i32)
    ;; name at 100: "m" + round letter + three digits
    (i32.store8 (i32.const 100) (i32.const 109))
    (i32.store8 (i32.const 101) (i32.add (i32.const 97) (i32.rem_u (global.get $round) (i32.const 26))))
    (global.set $round (i32.add (global.get $round) (i32.const 1)))
    (loop $again
      (i32.store8 (i32.const 102) (i32.add (i32.const 48) (i32.div_u (local.get $i) (i32.const 100))))
      (i32.store8 (i32.const 103) (i32.add (i32.const 48) (i32.rem_u (i32.div_u (local.get $i) (i32.const 10)) (i32.const 10))))
      (i32.store8 (i32.const 104) (i32.add (i32.const 48) (i32.rem_u (local.get $i) (i32.const 10))))
      (call $metric (i32.const 100) (i32.const 5) (f64.const 1))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $again (i32.lt_u (local.get $i) (i32.const 1000))))
    (i64.or (i64.shl (i64.extend_i32_u (local.get $p)) (i64.const 32)) (i64.extend_i32_u (local.get $n)))))
