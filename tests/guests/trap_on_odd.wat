;; Echoes events whose id ends in an even digit; traps on an odd one (ids like e0, e1, ...).
(module

  (memory (export "memory") 1)
  (global $bump (mut i32) (i32.const 4096))
  ;; A bump allocator that wraps: enough for one event at a time.
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
  ;; The host serializes `id` first: {"id":"...". Find the closing quote; look at the byte before it.
  (func (export "process_event") (param $p i32) (param $n i32) (result i64)
    (local $i i32)
    (local.set $i (i32.add (local.get $p) (i32.const 7)))
    (block $done
      (loop $scan
        (br_if $done (i32.ge_u (local.get $i) (i32.add (local.get $p) (local.get $n))))
        (br_if $done (i32.eq (i32.load8_u (local.get $i)) (i32.const 34)))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $scan)))
    (if (i32.and (i32.load8_u (i32.sub (local.get $i) (i32.const 1))) (i32.const 1)) (then unreachable))
    (call $pack (local.get $p) (local.get $n))))
