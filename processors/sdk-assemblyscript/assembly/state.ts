// Processor state: keys and values kept by flowctl, not in the module, so
// they survive restarts, reloads and crashes (docs/guarantees.md).
// Granted by `permissions.state` (`flowctl test --allow-state`).

import { takeBuffer } from "./host";

// @ts-ignore: decorator
@external("flowctl", "state_get")
declare function hostStateGet(keyPtr: usize, keyLen: usize): i64;

// @ts-ignore: decorator
@external("flowctl", "state_set")
declare function hostStateSet(keyPtr: usize, keyLen: usize, valuePtr: usize, valueLen: usize): i32;

// @ts-ignore: decorator
@external("flowctl", "state_delete")
declare function hostStateDelete(keyPtr: usize, keyLen: usize): i32;

/** Why a state call was refused: the caps of the processor's `limits`. */
export enum StateError {
  None = 0,
  /** The key is longer than `limits.max_state_key`. */
  KeyTooLarge = 1,
  /** The value is longer than `limits.max_state_value`. */
  ValueTooLarge = 2,
  /** The processor's state would pass `limits.max_state`. */
  StateFull = 3,
}

export namespace state {
  /** The outcome of the last call: `StateError.None`, or why it was refused
   * (a code this SDK does not know is passed on as it is). */
  export let error: i32 = StateError.None;

  /** The value of `key`; null when it has none or when refused (`state.error`). */
  export function get(key: string): ArrayBuffer | null {
    const k = String.UTF8.encode(key);
    const packed = hostStateGet(changetype<usize>(k), <usize>k.byteLength);
    error = StateError.None;
    if (packed == -1) return null;
    if (packed == 0) return new ArrayBuffer(0);
    if (packed < 0) {
      error = packed == -2 ? StateError.KeyTooLarge : <i32>packed;
      return null;
    }
    return takeBuffer(packed);
  }

  /** The value of `key` as UTF-8 text; null as `get`. */
  export function getString(key: string): string | null {
    const v = get(key);
    return v !== null ? String.UTF8.decode(v) : null;
  }

  /** Sets `key` to `value`; `StateError.None` or why it was refused. */
  export function set(key: string, value: ArrayBuffer): i32 {
    const k = String.UTF8.encode(key);
    error = hostStateSet(changetype<usize>(k), <usize>k.byteLength, changetype<usize>(value), <usize>value.byteLength);
    return error;
  }

  export function setString(key: string, value: string): i32 {
    return set(key, String.UTF8.encode(value));
  }

  /** Removes `key` (nothing happens if it has no value). (`delete` is a
   * reserved word.) */
  export function remove(key: string): i32 {
    const k = String.UTF8.encode(key);
    error = hostStateDelete(changetype<usize>(k), <usize>k.byteLength);
    return error;
  }

  /** A counter under `key`: its value plus `by`, stored as a decimal
   * string; the new value (check `state.error`). */
  export function add(key: string, by: i64): i64 {
    const old = getString(key);
    if (error != StateError.None) return 0;
    const now = (old !== null ? parseDecimal(old) : 0) + by;
    setString(key, now.toString());
    return now;
  }
}

/** Rust's `str::parse::<i64>`, 0 when it fails (as the Rust SDK's `add`). */
function parseDecimal(s: string): i64 {
  let i = 0;
  let negative = false;
  if (s.length && (s.charCodeAt(0) == 0x2d || s.charCodeAt(0) == 0x2b)) {
    negative = s.charCodeAt(0) == 0x2d;
    i = 1;
  }
  if (i >= s.length) return 0;
  // Accumulated negative, to reach i64.MIN_VALUE; overflow fails the parse.
  let n: i64 = 0;
  for (; i < s.length; i++) {
    const d = <u32>s.charCodeAt(i) - 0x30;
    if (d >= 10 || n < (i64.MIN_VALUE + <i64>d) / 10) return 0;
    n = n * 10 - d;
  }
  if (!negative && n == i64.MIN_VALUE) return 0;
  return negative ? n : -n;
}
