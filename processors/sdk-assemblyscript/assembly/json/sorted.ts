// Keys in code point order, as Rust orders `String`s (and so as
// serde_json's `Value` writes objects), and copies of sorted StaticArrays.

/** Orders strings by code point, as Rust orders `String`s (UTF-16 order
 * differs only for characters past U+FFFF against U+E000..U+FFFF). */
export function byCodePoint(a: string, b: string): i32 {
  const n = min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const x = a.charCodeAt(i), y = b.charCodeAt(i);
    if (x != y) return rank(x) - rank(y);
  }
  return a.length - b.length;
}

// @ts-ignore: decorator
@inline function rank(unit: i32): i32 {
  // Surrogates (0xD800..0xDFFF) sort above 0xE000..0xFFFF in code point order.
  return unit >= 0xd800 ? (unit >= 0xe000 ? unit - 0x800 : unit + 0x2000) : unit;
}

/** Where `key` is in the sorted `keys[0, n)`, or `-(where it would go) - 1`. */
export function search(keys: StaticArray<string>, n: i32, key: string): i32 {
  let lo = 0, hi = n;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    const c = byCodePoint(unchecked(keys[mid]), key);
    if (c == 0) return mid;
    if (c < 0) lo = mid + 1;
    else hi = mid;
  }
  return -lo - 1;
}

export function inserted<T>(list: StaticArray<T>, at: i32, item: T): StaticArray<T> {
  const out = new StaticArray<T>(list.length + 1);
  for (let i = 0; i < at; i++) unchecked((out[i] = list[i]));
  unchecked((out[at] = item));
  for (let i = at; i < list.length; i++) unchecked((out[i + 1] = list[i]));
  return out;
}

export function removed<T>(list: StaticArray<T>, at: i32): StaticArray<T> {
  const out = new StaticArray<T>(list.length - 1);
  for (let i = 0; i < at; i++) unchecked((out[i] = list[i]));
  for (let i = at + 1; i < list.length; i++) unchecked((out[i - 1] = list[i]));
  return out;
}

export function prefix<T>(list: StaticArray<T>, n: i32): StaticArray<T> {
  const out = new StaticArray<T>(n);
  for (let i = 0; i < n; i++) unchecked((out[i] = list[i]));
  return out;
}
