// A JSON reader over UTF-8 bytes in linear memory (the host's input buffer,
// read in place). AssemblyScript has no exceptions: a failing method returns
// false (or null) and leaves the first error in `error`.

import { Sink } from "./sink";

/** serde_json's nesting limit: deeper input is refused rather than
 * overflowing the wasm stack (a trap would discard the instance). */
export const MAX_DEPTH = 128;

/** Unescaped strings are written here; one string at a time. */
const scratch = new Sink(256);

export const enum Token {
  End = -1,
  Quote = 0x22,
  Comma = 0x2c,
  Colon = 0x3a,
  OpenBracket = 0x5b,
  CloseBracket = 0x5d,
  OpenBrace = 0x7b,
  CloseBrace = 0x7d,
}

export class Reader {
  /** Start of the text, for byte offsets in messages. */
  base: usize = 0;
  pos: usize = 0;
  end: usize = 0;
  error: string | null = null;
  /** The last string read by `string()`, as UTF-8: in the input when it had
   * no escapes, otherwise in a scratch buffer the next `string()` reuses. */
  strPtr: usize = 0;
  strLen: usize = 0;
  /** Whether that string had escapes (its bytes are then in scratch). */
  strEscaped: bool = false;

  reset(ptr: usize, len: usize): Reader {
    this.base = ptr;
    this.pos = ptr;
    this.end = ptr + len;
    this.error = null;
    return this;
  }

  /** Records the first error; always false, to return it. */
  fail(message: string): bool {
    if (this.error === null) this.error = message + " at byte " + (this.pos - this.base).toString();
    return false;
  }

  @inline ws(): void {
    let p = this.pos;
    const end = this.end;
    while (p < end) {
      const c = load<u8>(p);
      if (c != 0x20 && c != 0x0a && c != 0x0d && c != 0x09) break;
      p++;
    }
    this.pos = p;
  }

  /** The next byte after whitespace, or `Token.End`. */
  @inline peek(): i32 {
    this.ws();
    return this.pos < this.end ? <i32>load<u8>(this.pos) : Token.End;
  }

  /** Consumes `c` (after whitespace) if it is next. */
  @inline eat(c: i32): bool {
    if (this.peek() != c) return false;
    this.pos++;
    return true;
  }

  expect(c: i32, what: string): bool {
    return this.eat(c) || this.fail("expected " + what);
  }

  /** After a member or element: true for `,` (more follow), false for the
   * closing `close` or an error (check `error`). */
  more(close: i32): bool {
    const c = this.peek();
    this.pos++;
    if (c == Token.Comma) return true;
    if (c == close) return false;
    this.pos--;
    this.fail(close == Token.CloseBrace ? "expected `,` or `}`" : "expected `,` or `]`");
    return false;
  }

  /** Opens an object: true if it has a first key to read, false when it is
   * empty or on error. */
  openObject(): bool {
    if (!this.expect(Token.OpenBrace, "`{`")) return false;
    if (this.eat(Token.CloseBrace)) return false;
    return true;
  }

  /** Reads `"key":` into strPtr/strLen. */
  key(): bool {
    if (this.peek() != Token.Quote) return this.fail("expected a string key");
    return this.string() && this.expect(Token.Colon, "`:`");
  }

  /** Skips one value, checking its syntax. */
  skip(depth: i32 = 0): bool {
    const c = this.peek();
    switch (c) {
      case Token.Quote: return this.skipString();
      case Token.OpenBrace: {
        if (depth >= MAX_DEPTH) return this.fail("recursion limit exceeded");
        if (!this.openObject()) return this.error === null;
        do {
          if (!this.key() || !this.skip(depth + 1)) return false;
        } while (this.more(Token.CloseBrace));
        return this.error === null;
      }
      case Token.OpenBracket: {
        if (depth >= MAX_DEPTH) return this.fail("recursion limit exceeded");
        this.pos++;
        if (this.eat(Token.CloseBracket)) return true;
        do {
          if (!this.skip(depth + 1)) return false;
        } while (this.more(Token.CloseBracket));
        return this.error === null;
      }
      case 0x74: return this.literal("true");
      case 0x66: return this.literal("false");
      case 0x6e: return this.literal("null");
      case Token.End: return this.fail("EOF while parsing a value");
    }
    return this.number();
  }

  literal(word: string): bool {
    const n = <usize>word.length;
    if (this.end - this.pos < n) return this.fail("expected value");
    for (let i: usize = 0; i < n; i++) {
      if (<u32>load<u8>(this.pos + i) != <u32>word.charCodeAt(<i32>i)) return this.fail("expected value");
    }
    this.pos += n;
    return true;
  }

  /** Checks a JSON number token at `pos` (-?int frac? exp?) and moves past it. */
  number(): bool {
    let p = this.pos;
    const end = this.end;
    if (p < end && load<u8>(p) == 0x2d) p++;
    if (p >= end) return this.fail("expected value");
    let c = <u32>load<u8>(p);
    if (c == 0x30) {
      p++;
    } else if (c - 0x31 < 9) {
      while (p < end && <u32>load<u8>(p) - 0x30 < 10) p++;
    } else {
      return this.fail("expected value");
    }
    if (p < end && load<u8>(p) == 0x2e) {
      p++;
      if (p >= end || <u32>load<u8>(p) - 0x30 >= 10) { this.pos = p; return this.fail("invalid number"); }
      while (p < end && <u32>load<u8>(p) - 0x30 < 10) p++;
    }
    if (p < end && (load<u8>(p) | 0x20) == 0x65) {
      p++;
      if (p < end && (load<u8>(p) == 0x2b || load<u8>(p) == 0x2d)) p++;
      if (p >= end || <u32>load<u8>(p) - 0x30 >= 10) { this.pos = p; return this.fail("invalid number"); }
      while (p < end && <u32>load<u8>(p) - 0x30 < 10) p++;
    }
    this.pos = p;
    return true;
  }

  /** Skips a string, checking it as serde_json does (no raw control
   * characters, known escapes, four hex digits after `\u`). */
  skipString(): bool {
    let p = this.pos + 1;
    const end = this.end;
    while (p < end) {
      const c = <u32>load<u8>(p);
      if (c == 0x22) {
        this.pos = p + 1;
        return true;
      }
      if (c == 0x5c) {
        this.pos = p;
        if (!this.checkEscape()) return false;
        p = this.pos;
        continue;
      }
      if (c < 0x20) {
        this.pos = p;
        return this.fail("control character (\\u0000-\\u001F) found while parsing a string");
      }
      p++;
    }
    this.pos = p;
    return this.fail("EOF while parsing a string");
  }

  /** At a backslash: checks one escape and moves past it. */
  private checkEscape(): bool {
    const p = this.pos;
    if (p + 1 >= this.end) return this.fail("EOF while parsing a string");
    const c = <u32>load<u8>(p + 1);
    if (c == 0x75) {
      if (hex4(p + 2, this.end) < 0) return this.fail("invalid \\u escape");
      this.pos = p + 6;
      return true;
    }
    if (c == 0x22 || c == 0x5c || c == 0x2f || c == 0x62 || c == 0x66 || c == 0x6e || c == 0x72 || c == 0x74) {
      this.pos = p + 2;
      return true;
    }
    return this.fail("invalid escape");
  }

  /** Reads a string at `pos` into strPtr/strLen (UTF-8, unescaped). */
  string(): bool {
    const first = this.pos + 1;
    let p = first;
    const end = this.end;
    while (p < end) {
      const c = <u32>load<u8>(p);
      if (c == 0x22) {
        this.strPtr = first;
        this.strLen = p - first;
        this.strEscaped = false;
        this.pos = p + 1;
        return true;
      }
      if (c == 0x5c) return this.unescape(first, p);
      if (c < 0x20) {
        this.pos = p;
        return this.fail("control character (\\u0000-\\u001F) found while parsing a string");
      }
      p++;
    }
    this.pos = p;
    return this.fail("EOF while parsing a string");
  }

  /** The slow path of `string()`: copies into scratch, resolving escapes
   * (surrogate pairs joined; a lone surrogate is an error, as in serde_json). */
  private unescape(first: usize, p: usize): bool {
    scratch.len = 0;
    scratch.bytes(first, p - first);
    const end = this.end;
    while (p < end) {
      const c = <u32>load<u8>(p);
      if (c == 0x22) {
        this.strPtr = scratch.ptr;
        this.strLen = scratch.len;
        this.strEscaped = true;
        this.pos = p + 1;
        return true;
      }
      if (c < 0x20) {
        this.pos = p;
        return this.fail("control character (\\u0000-\\u001F) found while parsing a string");
      }
      if (c != 0x5c) {
        scratch.byte(c);
        p++;
        continue;
      }
      this.pos = p;
      if (p + 1 >= end) return this.fail("EOF while parsing a string");
      const e = <u32>load<u8>(p + 1);
      p += 2;
      switch (e) {
        case 0x22: case 0x5c: case 0x2f: scratch.byte(e); continue;
        case 0x62: scratch.byte(0x08); continue;
        case 0x66: scratch.byte(0x0c); continue;
        case 0x6e: scratch.byte(0x0a); continue;
        case 0x72: scratch.byte(0x0d); continue;
        case 0x74: scratch.byte(0x09); continue;
        case 0x75: break;
        default: return this.fail("invalid escape");
      }
      let cp = hex4(p, end);
      if (cp < 0) return this.fail("invalid \\u escape");
      p += 4;
      if (cp >= 0xdc00 && cp < 0xe000) return this.fail("lone trailing surrogate in hex escape");
      if (cp >= 0xd800 && cp < 0xdc00) {
        const low = p + 6 <= end && load<u8>(p) == 0x5c && load<u8>(p + 1) == 0x75 ? hex4(p + 2, end) : -1;
        if (low < 0xdc00 || low >= 0xe000) return this.fail("lone leading surrogate in hex escape");
        cp = 0x10000 + ((cp - 0xd800) << 10) + (low - 0xdc00);
        p += 6;
      }
      writeUtf8(scratch, <u32>cp);
    }
    this.pos = p;
    return this.fail("EOF while parsing a string");
  }

  /** The last string read, as an AssemblyScript string. */
  @inline text(): string {
    return String.UTF8.decodeUnsafe(this.strPtr, this.strLen);
  }

  /** Whether the last string read is exactly the UTF-8 bytes at `ptr`. */
  @inline textIs(ptr: usize, len: usize): bool {
    return this.strLen == len && memory.compare(this.strPtr, ptr, len) == 0;
  }

  /** A JSON integer token that fits i64, or false. */
  integer(): bool {
    const start = this.pos;
    if (!this.number()) return false;
    let p = start;
    const negative = load<u8>(p) == 0x2d;
    if (negative) p++;
    let n: u64 = 0;
    while (p < this.pos) {
      const d = <u32>load<u8>(p) - 0x30;
      if (d >= 10) return this.fail("invalid type: floating point, expected i64");
      if (n > 922337203685477580) return this.fail("number out of range for i64");
      n = n * 10 + d;
      p++;
    }
    if (n > (negative ? <u64>9223372036854775808 : <u64>9223372036854775807)) {
      return this.fail("number out of range for i64");
    }
    this.int = negative ? -(<i64>n) : <i64>n;
    return true;
  }

  /** The value of the last `integer()`. */
  int: i64 = 0;

  /** After the one value a text holds: only whitespace may follow. */
  finish(): bool {
    this.ws();
    return this.pos == this.end || this.fail("trailing characters");
  }
}

/** The value of four hex digits at `p`, or -1. */
export function hex4(p: usize, end: usize): i32 {
  if (p + 4 > end) return -1;
  let v = 0;
  for (let i: usize = 0; i < 4; i++) {
    const c = <u32>load<u8>(p + i);
    let d: u32;
    if (c - 0x30 < 10) d = c - 0x30;
    else if ((c | 0x20) - 0x61 < 6) d = (c | 0x20) - 0x61 + 10;
    else return -1;
    v = (v << 4) | <i32>d;
  }
  return v;
}

export function writeUtf8(out: Sink, cp: u32): void {
  if (cp < 0x80) {
    out.byte(cp);
  } else if (cp < 0x800) {
    out.byte(0xc0 | (cp >> 6));
    out.byte(0x80 | (cp & 0x3f));
  } else if (cp < 0x10000) {
    out.byte(0xe0 | (cp >> 12));
    out.byte(0x80 | ((cp >> 6) & 0x3f));
    out.byte(0x80 | (cp & 0x3f));
  } else {
    out.byte(0xf0 | (cp >> 18));
    out.byte(0x80 | ((cp >> 12) & 0x3f));
    out.byte(0x80 | ((cp >> 6) & 0x3f));
    out.byte(0x80 | (cp & 0x3f));
  }
}
