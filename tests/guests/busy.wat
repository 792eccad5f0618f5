;; Burns CPU on every event (about 20 million loop iterations, a few ms), then
;; echoes it: the guest of the CPU quota tests.
(module
  (memory (export "memory") 1)
  (global $bump (mut i32) (i32.const 4096))
  (global $sink (mut i32) (i32.const 0))
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
    (local $x i32)
    (loop $spin
      (local.set $x (i32.add (i32.mul (local.get $x) (i32.const 31)) (local.get $i)))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $spin (i32.lt_u (local.get $i) (i32.const 20000000))))
    (global.set $sink (local.get $x))
    (i64.or (i64.shl (i64.extend_i32_u (local.get $p)) (i64.const 32)) (i64.extend_i32_u (local.get $n)))))
