// Output bytes for the host. The buffer is raw heap memory (heap.alloc), not
// a GC object: the collector never sees it, so a buffer handed to the host
// stays valid until the host calls `free`, and `free` is plain heap.free.

/** A growable UTF-8 byte buffer in unmanaged memory. */
export class Sink {
  ptr: usize = 0;
  len: usize = 0;
  cap: usize = 0;

  constructor(capacity: usize = 64) {
    this.reserve(capacity);
  }

  /** Makes room for `more` bytes past `len`. */
  @inline reserve(more: usize): void {
    const need = this.len + more;
    if (need > this.cap) this.grow(need);
  }

  private grow(need: usize): void {
    let cap = max<usize>(this.cap << 1, 64);
    while (cap < need) cap <<= 1;
    this.ptr = this.ptr ? heap.realloc(this.ptr, cap) : heap.alloc(cap);
    this.cap = cap;
  }

  @inline byte(b: u32): void {
    this.reserve(1);
    store<u8>(this.ptr + this.len, b);
    this.len++;
  }

  bytes(src: usize, n: usize): void {
    this.reserve(n);
    memory.copy(this.ptr + this.len, src, n);
    this.len += n;
  }

  buffer(buf: ArrayBuffer): void {
    this.bytes(changetype<usize>(buf), <usize>buf.byteLength);
  }

  /** Text known to need no escaping (ASCII punctuation, numbers, keys we own). */
  ascii(text: string): void {
    const n = <usize>text.length;
    this.reserve(n);
    const src = changetype<usize>(text);
    const dst = this.ptr + this.len;
    for (let i: usize = 0; i < n; i++) store<u8>(dst + i, <u8>load<u16>(src + (i << 1)));
    this.len += n;
  }

  /** `text` as UTF-8, unquoted (a lone surrogate as U+FFFD). */
  utf8(text: string): void {
    this.reserve(<usize>String.UTF8.byteLength(text));
    this.len += String.UTF8.encodeUnsafe(
      changetype<usize>(text), text.length, this.ptr + this.len, false, String.UTF8.ErrorMode.REPLACE,
    );
  }

  /** `text` as a JSON string literal: quotes, escapes as serde_json writes
   * them, everything else as UTF-8 (a lone surrogate as U+FFFD). */
  jsonString(text: string): void {
    const src = changetype<usize>(text);
    const n = <usize>text.length;
    this.reserve(n + 2);
    this.byte(0x22);
    for (let i: usize = 0; i < n; i++) {
      let c = <u32>load<u16>(src + (i << 1));
      if (c < 0x80) {
        if (c >= 0x20 && c != 0x22 && c != 0x5c) this.byte(c);
        else this.escape(c);
      } else if (c < 0x800) {
        this.reserve(2);
        store<u8>(this.ptr + this.len, 0xc0 | (c >> 6));
        store<u8>(this.ptr + this.len + 1, 0x80 | (c & 0x3f));
        this.len += 2;
      } else {
        if (c >= 0xd800 && c < 0xe000) {
          const next = i + 1 < n ? <u32>load<u16>(src + ((i + 1) << 1)) : 0;
          if (c < 0xdc00 && next >= 0xdc00 && next < 0xe000) {
            this.codePoint4(0x10000 + ((c - 0xd800) << 10) + (next - 0xdc00));
            i++;
            continue;
          }
          c = 0xfffd;
        }
        this.reserve(3);
        store<u8>(this.ptr + this.len, 0xe0 | (c >> 12));
        store<u8>(this.ptr + this.len + 1, 0x80 | ((c >> 6) & 0x3f));
        store<u8>(this.ptr + this.len + 2, 0x80 | (c & 0x3f));
        this.len += 3;
      }
    }
    this.byte(0x22);
  }

  /** UTF-8 bytes (already valid) as a JSON string literal. */
  jsonStringUtf8(src: usize, n: usize): void {
    this.reserve(n + 2);
    this.byte(0x22);
    for (let i: usize = 0; i < n; i++) {
      const c = <u32>load<u8>(src + i);
      if (c >= 0x20 && c != 0x22 && c != 0x5c) this.byte(c);
      else this.escape(c);
    }
    this.byte(0x22);
  }

  private codePoint4(cp: u32): void {
    this.reserve(4);
    const p = this.ptr + this.len;
    store<u8>(p, 0xf0 | (cp >> 18));
    store<u8>(p + 1, 0x80 | ((cp >> 12) & 0x3f));
    store<u8>(p + 2, 0x80 | ((cp >> 6) & 0x3f));
    store<u8>(p + 3, 0x80 | (cp & 0x3f));
    this.len += 4;
  }

  private escape(c: u32): void {
    this.byte(0x5c);
    switch (c) {
      case 0x22: this.byte(0x22); return;
      case 0x5c: this.byte(0x5c); return;
      case 0x08: this.byte(0x62); return; // \b
      case 0x0c: this.byte(0x66); return; // \f
      case 0x0a: this.byte(0x6e); return; // \n
      case 0x0d: this.byte(0x72); return; // \r
      case 0x09: this.byte(0x74); return; // \t
    }
    const hex = "0123456789abcdef";
    this.ascii("u00");
    this.byte(hex.charCodeAt(c >> 4));
    this.byte(hex.charCodeAt(c & 15));
  }

  /** Hands the bytes over as a packed `(ptr << 32) | len` the host frees;
   * the sink starts empty again. Empty output is 0 (never a valid result). */
  take(): i64 {
    if (this.len == 0) return 0;
    const packed = (<i64>this.ptr << 32) | <i64>this.len;
    this.ptr = 0;
    this.len = 0;
    this.cap = 0;
    return packed;
  }

  /** The bytes as an AssemblyScript string; the sink is emptied. */
  takeString(): string {
    const text = String.UTF8.decodeUnsafe(this.ptr, this.len);
    this.len = 0;
    return text;
  }

  /** Releases the buffer (the sink is not handed to the host). */
  dispose(): void {
    if (this.ptr) heap.free(this.ptr);
    this.ptr = 0;
    this.len = 0;
    this.cap = 0;
  }
}
