;; Output amplification: answers every event with a 4 MiB JSON array of `{}`
;; (1,398,101 empty objects), which the host would turn into as many events.
;; flowctl reads at most `limits.max_outputs` of them and dead-letters the event.
(module
  (memory (export "memory") 80)
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
    (local $at i32)
    (local $end i32)
    ;; "[" then "{}," x 1,398,101 with the last "," turned into "]": 4,194,304 bytes at 65536.
    (i32.store8 (i32.const 65536) (i32.const 91))
    (local.set $at (i32.const 65537))
    (local.set $end (i32.add (i32.const 65537) (i32.const 4194303)))
    (loop $fill
      (i32.store16 (local.get $at) (i32.const 0x7d7b)) ;; "{}"
      (i32.store8 (i32.add (local.get $at) (i32.const 2)) (i32.const 44)) ;; ","
      (local.set $at (i32.add (local.get $at) (i32.const 3)))
      (br_if $fill (i32.lt_u (local.get $at) (local.get $end))))
    (i32.store8 (i32.sub (local.get $at) (i32.const 1)) (i32.const 93)) ;; "]"
    (i64.or (i64.shl (i64.const 65536) (i64.const 32))
            (i64.extend_i32_u (i32.sub (local.get $at) (i32.const 65536))))))
