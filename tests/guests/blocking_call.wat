;; Echoes events. One whose id ends in an odd digit first blocks in WASI
;; `poll_oneoff` on a relative monotonic clock: 3 s, or an hour when the digit
;; is 9. Epoch deadlines interrupt wasm code, not a host call, so under a short
;; `timeout` such a call runs on past its deadline (unless the host bounds the
;; call itself by the deadline: then it ends at the deadline instead).
(module
  (import "wasi_snapshot_preview1" "poll_oneoff" (func $poll (param i32 i32 i32 i32) (result i32)))
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
  ;; One 48-byte clock subscription at 256; the event comes back at 320, its count at 352.
  (func $sleep (param $ns i64)
    (i64.store (i32.const 256) (i64.const 0))      ;; userdata
    (i32.store8 (i32.const 264) (i32.const 0))     ;; tag: clock
    (i32.store (i32.const 272) (i32.const 1))      ;; clock id: monotonic
    (i64.store (i32.const 280) (local.get $ns))    ;; timeout, nanoseconds
    (i64.store (i32.const 288) (i64.const 0))      ;; precision
    (i32.store16 (i32.const 296) (i32.const 0))    ;; flags: relative
    (drop (call $poll (i32.const 256) (i32.const 320) (i32.const 1) (i32.const 352))))
  ;; The host serializes `id` first: {"id":"...". Find the closing quote; look at the byte before it.
  (func (export "process_event") (param $p i32) (param $n i32) (result i64)
    (local $i i32)
    (local $last i32)
    (local.set $i (i32.add (local.get $p) (i32.const 7)))
    (block $done
      (loop $scan
        (br_if $done (i32.ge_u (local.get $i) (i32.add (local.get $p) (local.get $n))))
        (br_if $done (i32.eq (i32.load8_u (local.get $i)) (i32.const 34)))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $scan)))
    (local.set $last (i32.load8_u (i32.sub (local.get $i) (i32.const 1))))
    (if (i32.eq (local.get $last) (i32.const 57))
      (then (call $sleep (i64.const 3600000000000)))
      (else (if (i32.and (local.get $last) (i32.const 1))
        (then (call $sleep (i64.const 3000000000))))))
    (call $pack (local.get $p) (local.get $n))))
