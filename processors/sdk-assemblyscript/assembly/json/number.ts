// Decimal text to f64 without building a string: the filter compares a
// number per event, and parsing in place keeps that allocation-free.

/** The value of the last successful `parseNumber`. */
export let parsedNumber: f64 = 0;

// Exact powers of ten: any of these times an integer below 2^53 is one
// correctly rounded operation (Clinger's fast path).
const POW10: StaticArray<f64> = [
  1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11,
  1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22,
];

@inline function isDigit(c: u32): bool {
  return c - 0x30 < 10;
}

/** Parses `[p, end)` as Rust's `f64::from_str` does: an optional sign, then
 * `inf`, `infinity` or `nan` (any case), or digits with an optional point
 * and exponent (`5`, `5.`, `.5`, `1e-3`). Sets `parsedNumber` and returns
 * true; false (and `parsedNumber` untouched) when the text is not a number.
 * A JSON number token is in this grammar, so it reads those too. */
export function parseNumber(p: usize, end: usize): bool {
  const start = p;
  if (p >= end) return false;
  let negative = false;
  let c = <u32>load<u8>(p);
  if (c == 0x2b || c == 0x2d) {
    negative = c == 0x2d;
    if (++p >= end) return false;
  }
  const special = specialValue(p, end);
  if (!isNaN(special) || isNanText(p, end)) {
    parsedNumber = negative ? -special : special;
    return true;
  }
  let mantissa: u64 = 0;
  let digits = 0;
  let exponent: i32 = 0;
  let any = false;
  let inexact = false;
  // Integer part; past 19 digits the rest only scales (and marks inexact).
  while (p < end && isDigit((c = load<u8>(p)))) {
    any = true;
    const d = c - 0x30;
    if (mantissa == 0 && d == 0) {
      // a leading zero: nothing to keep
    } else if (digits < 19) {
      mantissa = mantissa * 10 + d;
      digits++;
    } else {
      exponent++;
      if (d) inexact = true;
    }
    p++;
  }
  if (p < end && load<u8>(p) == 0x2e) {
    p++;
    while (p < end && isDigit((c = load<u8>(p)))) {
      any = true;
      const d = c - 0x30;
      if (mantissa == 0 && d == 0) {
        exponent--;
      } else if (digits < 19) {
        mantissa = mantissa * 10 + d;
        digits++;
        exponent--;
      } else if (d) {
        inexact = true;
      }
      p++;
    }
  }
  if (!any) return false;
  if (p < end && (load<u8>(p) | 0x20) == 0x65) {
    p++;
    let expNegative = false;
    if (p < end && (load<u8>(p) == 0x2b || load<u8>(p) == 0x2d)) {
      expNegative = load<u8>(p) == 0x2d;
      p++;
    }
    if (p >= end || !isDigit(load<u8>(p))) return false;
    let e: i32 = 0;
    while (p < end && isDigit((c = load<u8>(p)))) {
      if (e < 100000) e = e * 10 + <i32>(c - 0x30);
      p++;
    }
    exponent += expNegative ? -e : e;
  }
  if (p != end) return false;
  let value: f64;
  if (mantissa == 0) {
    value = 0;
  } else if (!inexact && mantissa <= (<u64>1 << 53) && exponent >= -22 && exponent <= 22) {
    value = exponent < 0
      ? <f64>mantissa / unchecked(POW10[-exponent])
      : <f64>mantissa * unchecked(POW10[exponent]);
  } else {
    // Rare (long mantissas, big exponents): the standard library's parser.
    value = Math.abs(parseFloat(String.UTF8.decodeUnsafe(start, end - start)));
  }
  parsedNumber = negative ? -value : value;
  return true;
}

/** Infinity for `inf`/`infinity` in any case, NaN otherwise. */
function specialValue(p: usize, end: usize): f64 {
  const n = end - p;
  if (n != 3 && n != 8) return NaN;
  if (!lowerEquals(p, "inf")) return NaN;
  if (n == 8 && !lowerEquals(p + 3, "inity")) return NaN;
  return Infinity;
}

function isNanText(p: usize, end: usize): bool {
  return end - p == 3 && lowerEquals(p, "nan");
}

/** Whether the bytes at `p` are `ascii` ignoring ASCII case (`ascii` is lowercase). */
function lowerEquals(p: usize, ascii: string): bool {
  for (let i = 0; i < ascii.length; i++) {
    if ((<u32>load<u8>(p + i) | 0x20) != <u32>ascii.charCodeAt(i)) return false;
  }
  return true;
}

/** `parseNumber` on `[p, end)` without leading and trailing White_Space,
 * as Rust's `s.trim().parse::<f64>()`. */
export function parseTrimmedNumber(p: usize, end: usize): bool {
  while (p < end && isSpaceAt(p)) p += spaceLength(p);
  while (end > p && isSpaceBefore(p, end)) end -= spaceLengthBefore(p, end);
  return parseNumber(p, end);
}

// Rust's `str::trim` removes Unicode White_Space at both ends; in UTF-8
// those are ASCII 9-13 and 32, and a few two- and three-byte characters.

function isSpaceAt(p: usize): bool {
  return spaceLength(p) > 0;
}

/** The byte length of the White_Space character at `p`, or 0. */
function spaceLength(p: usize): usize {
  const c = <u32>load<u8>(p);
  if (c == 0x20 || c - 9 < 5) return 1;
  if (c == 0xc2) {
    const d = <u32>load<u8>(p + 1);
    return d == 0x85 || d == 0xa0 ? 2 : 0;
  }
  if (c == 0xe1) return load<u8>(p + 1) == 0x9a && load<u8>(p + 2) == 0x80 ? 3 : 0;
  if (c == 0xe2) {
    const d = <u32>load<u8>(p + 1), e = <u32>load<u8>(p + 2);
    if (d == 0x80) return e - 0x80 < 11 || e == 0xa8 || e == 0xa9 || e == 0xaf ? 3 : 0;
    return d == 0x81 && e == 0x9f ? 3 : 0;
  }
  if (c == 0xe3) return load<u8>(p + 1) == 0x80 && load<u8>(p + 2) == 0x80 ? 3 : 0;
  return 0;
}

/** Whether a White_Space character in `[start, end)` ends at `end`. */
function isSpaceBefore(start: usize, end: usize): bool {
  return spaceLengthBefore(start, end) > 0;
}

function spaceLengthBefore(start: usize, end: usize): usize {
  for (let n: usize = 1; n <= 3 && end - n >= start; n++) {
    if (spaceLength(end - n) == n) return n;
  }
  return 0;
}
