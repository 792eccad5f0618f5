;; GETs the first `http...` string of the event (up to the next `"`), e.g. the
;; event's data.url, and outputs the response body as its output events; on
;; the 0 of a denied or failed request, outputs nothing.
(module
  (import "flowctl" "http_request" (func $http (param i32 i32 i32 i32 i32) (result i64)))
  (memory (export "memory") 1)
  (global $bump (mut i32) (i32.const 4096))
  ;; A bump allocator that wraps: enough for one event and one response at a time.
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
  (data (i32.const 100) "[]")
  (func (export "process_event") (param $p i32) (param $n i32) (result i64)
    (local $i i32) (local $j i32) (local $end i32) (local $r i64)
    (local.set $end (i32.add (local.get $p) (local.get $n)))
    (local.set $i (local.get $p))
    (block $none
      ;; "http" read as a little-endian i32.
      (loop $scan
        (br_if $none (i32.gt_u (i32.add (local.get $i) (i32.const 4)) (local.get $end)))
        (if (i32.ne (i32.load (local.get $i)) (i32.const 0x70747468))
          (then (local.set $i (i32.add (local.get $i) (i32.const 1))) (br $scan))))
      (local.set $j (local.get $i))
      (loop $url
        (br_if $none (i32.ge_u (local.get $j) (local.get $end)))
        (if (i32.ne (i32.load8_u (local.get $j)) (i32.const 34))
          (then (local.set $j (i32.add (local.get $j) (i32.const 1))) (br $url))))
      (local.set $r
        (call $http (i32.const 0) (local.get $i) (i32.sub (local.get $j) (local.get $i)) (i32.const 0) (i32.const 0)))
      (if (i64.ne (local.get $r) (i64.const 0)) (then (return (local.get $r)))))
    (call $pack (i32.const 100) (i32.const 2))))
