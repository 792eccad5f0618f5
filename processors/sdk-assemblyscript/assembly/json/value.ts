// A small JSON value tree. Numbers keep the text they were read as, so
// `1.50`, `1E+2` and integers past 2^53 come out exactly as they went in.
// Objects keep their keys sorted (by code point, as a Rust `BTreeMap`):
// they are written as serde_json's `Value` writes them, so a processor's
// output is the Rust SDK's byte for byte, and lookups are binary searches.
// Reading is in parse.ts.

import { Reader, Token } from "./read";
import { parseText } from "./parse";
import { byCodePoint, inserted, removed, search } from "./sorted";
import { Sink } from "./sink";
import { parseNumber, parseTrimmedNumber, parsedNumber } from "./number";

export const enum Kind {
  Null,
  Bool,
  Number,
  String,
  Array,
  Object,
}

export class Value {
  private _kind: Kind = Kind.Null;
  private _bool: bool = false;
  /** A string's value, or a number's JSON text. */
  private _text: string = "";
  /** A literal as read (a number, or a string without escapes, whose bytes
   * are its UTF-8): `_len` bytes at `_at` in the parsed text `_src`.
   * Decoded into `_text` only when asked for, and written back as it is:
   * most values of a passing event are never decoded. */
  private _src: ArrayBuffer | null = null;
  private _at: i32 = 0;
  private _len: i32 = 0;
  private _items: Array<Value> | null = null;
  // An object's entries, sorted by key. StaticArrays are one allocation
  // each (an Array is two): most objects are read, rarely grown.
  private _keys: StaticArray<string> | null = null;
  private _values: StaticArray<Value> | null = null;

  get kind(): Kind {
    return this._kind;
  }

  static null(): Value {
    return new Value();
  }

  static bool(b: bool): Value {
    const v = new Value();
    v._kind = Kind.Bool;
    v._bool = b;
    return v;
  }

  /** A number; NaN and the infinities become null, as serde_json writes them. */
  static number(x: f64): Value {
    if (!isFinite(x)) return new Value();
    return Value.numberText(x.toString());
  }

  static integer(n: i64): Value {
    return Value.numberText(n.toString());
  }

  /** A number written as `text`, which must be a JSON number literal
   * (the caller's promise: it is written out as it is). */
  static numberText(text: string): Value {
    const v = new Value();
    v._kind = Kind.Number;
    v._text = text;
    return v;
  }

  static string(s: string): Value {
    const v = new Value();
    v._kind = Kind.String;
    v._text = s;
    return v;
  }

  static array(items: Array<Value> = []): Value {
    const v = new Value();
    v._kind = Kind.Array;
    v._items = items;
    return v;
  }

  static object(): Value {
    const v = new Value();
    v._kind = Kind.Object;
    v._keys = new StaticArray<string>(0);
    v._values = new StaticArray<Value>(0);
    return v;
  }

  /** Parses JSON text; null if it is not exactly one JSON value
   * (`Value.lastError` says why). */
  static parse(json: string): Value | null {
    return Value.parseUtf8(String.UTF8.encode(json));
  }

  /** Parses the JSON text in `[ptr, ptr + len)` (copied); see `parse`. */
  static parseBytes(ptr: usize, len: usize): Value | null {
    const text = new ArrayBuffer(<i32>len);
    memory.copy(changetype<usize>(text), ptr, len);
    return Value.parseUtf8(text);
  }

  /** Parses UTF-8 JSON text; the values read keep referring to `text`. */
  static parseUtf8(text: ArrayBuffer): Value | null {
    const r = new Reader().reset(changetype<usize>(text), <usize>text.byteLength);
    const v = parseText(r, text);
    if (v !== null) return v;
    Value.lastError = r.error !== null ? r.error! : "invalid JSON";
    return null;
  }

  /** Why the last `parse` returned null. */
  static lastError: string = "";

  get isNull(): bool { return this._kind == Kind.Null; }
  get isBool(): bool { return this._kind == Kind.Bool; }
  get isNumber(): bool { return this._kind == Kind.Number; }
  get isString(): bool { return this._kind == Kind.String; }
  get isArray(): bool { return this._kind == Kind.Array; }
  get isObject(): bool { return this._kind == Kind.Object; }

  /** The boolean, or false for anything else. */
  asBool(): bool {
    return this._kind == Kind.Bool && this._bool;
  }

  /** The string, or null for anything else. */
  asString(): string | null {
    return this._kind == Kind.String ? this.text() : null;
  }

  /** The number, or NaN for anything else (strings included). */
  asNumber(): f64 {
    return this._kind == Kind.Number && this.readNumber() ? parsedNumber : NaN;
  }

  /** Whether this is a number or a string holding one (Horizon's
   * `"12.5000000"`, read as Rust's `s.trim().parse::<f64>()`, so `"NaN"`
   * counts), leaving it in `parsedNumber`. */
  readNumber(): bool {
    if (this._kind != Kind.Number && this._kind != Kind.String) return false;
    const src = this._src;
    const bytes = src !== null ? src : String.UTF8.encode(this._text);
    const p = changetype<usize>(bytes) + (src !== null ? <usize>this._at : 0);
    const end = p + (src !== null ? <usize>this._len : <usize>bytes.byteLength);
    return this._kind == Kind.Number ? parseNumber(p, end) : parseTrimmedNumber(p, end);
  }

  /** A number's JSON text as written (`"1.50"` stays `1.50`); "" otherwise. */
  numberText(): string {
    return this._kind == Kind.Number ? this.text() : "";
  }

  /** Elements of an array, entries of an object, 0 otherwise. */
  get length(): i32 {
    if (this._kind == Kind.Array) return this._items!.length;
    if (this._kind == Kind.Object) return this._keys!.length;
    return 0;
  }

  /** An array's element; null out of range or for anything else. */
  at(i: i32): Value | null {
    if (this._kind != Kind.Array) return null;
    const items = this._items!;
    return i >= 0 && i < items.length ? unchecked(items[i]) : null;
  }

  /** Appends to an array (nothing happens to other kinds); returns `this`. */
  push(item: Value): Value {
    if (this._kind == Kind.Array) this._items!.push(item);
    return this;
  }

  /** An object's keys, sorted; empty for anything else. */
  keys(): Array<string> {
    if (this._kind != Kind.Object) return [];
    const keys = this._keys!;
    const out = new Array<string>(keys.length);
    for (let i = 0; i < keys.length; i++) unchecked((out[i] = keys[i]));
    return out;
  }

  /** An array's elements (a copy of the list); empty for anything else. */
  items(): Array<Value> {
    return this._kind == Kind.Array ? this._items!.slice(0) : [];
  }

  has(key: string): bool {
    return this.slot(key) >= 0;
  }

  /** An object's value under `key`; null when absent or not an object. */
  get(key: string): Value | null {
    const i = this.slot(key);
    return i >= 0 ? unchecked(this._values![i]) : null;
  }

  /** Sets `key` in an object (nothing happens to other kinds). Returns `this`. */
  set(key: string, value: Value): Value {
    if (this._kind != Kind.Object) return this;
    const i = this.slot(key);
    if (i >= 0) {
      unchecked((this._values![i] = value));
      return this;
    }
    this._keys = inserted(this._keys!, -i - 1, key);
    this._values = inserted(this._values!, -i - 1, value);
    return this;
  }

  /** Removes `key` from an object; whether it was there. */
  remove(key: string): bool {
    const i = this.slot(key);
    if (i < 0) return false;
    this._keys = removed(this._keys!, i);
    this._values = removed(this._values!, i);
    return true;
  }

  /** The value at a dotted path of keys and array indexes (`a.b.0.c`). */
  lookup(path: string): Value | null {
    let v: Value | null = this;
    let from = 0;
    while (v !== null) {
      let dot = path.indexOf(".", from);
      if (dot < 0) dot = path.length;
      v = v.child(path.substring(from, dot));
      if (dot == path.length) break;
      from = dot + 1;
    }
    return v;
  }

  /** The member or element named by one path segment. */
  child(segment: string): Value | null {
    if (this._kind == Kind.Object) return this.get(segment);
    if (this._kind == Kind.Array) {
      const i = parseIndex(segment);
      return i >= 0 ? this.at(i) : null;
    }
    return null;
  }

  /** A deep copy. */
  clone(): Value {
    const v = new Value();
    v._kind = this._kind;
    v._bool = this._bool;
    v._text = this._text;
    v._src = this._src;
    v._at = this._at;
    v._len = this._len;
    if (this._kind == Kind.Array) {
      const items = this._items!;
      const copy = new Array<Value>(items.length);
      for (let i = 0; i < items.length; i++) unchecked((copy[i] = unchecked(items[i]).clone()));
      v._items = copy;
    } else if (this._kind == Kind.Object) {
      const keys = this._keys!, values = this._values!;
      const keyCopy = new StaticArray<string>(keys.length), copy = new StaticArray<Value>(values.length);
      for (let i = 0; i < values.length; i++) {
        unchecked((keyCopy[i] = keys[i]));
        unchecked((copy[i] = unchecked(values[i]).clone()));
      }
      v._keys = keyCopy;
      v._values = copy;
    }
    return v;
  }

  /** Equality as serde_json's `Value` has it: objects ignore key order;
   * integers equal integers, floats equal floats (`1` != `1.0`). */
  equals(other: Value): bool {
    if (this._kind != other._kind) return false;
    switch (this._kind) {
      case Kind.Null: return true;
      case Kind.Bool: return this._bool == other._bool;
      case Kind.String: return this.text() == other.text();
      case Kind.Number: return numbersEqual(this.text(), other.text());
      case Kind.Array: {
        const a = this._items!, b = other._items!;
        if (a.length != b.length) return false;
        for (let i = 0; i < a.length; i++) if (!unchecked(a[i]).equals(unchecked(b[i]))) return false;
        return true;
      }
    }
    // Objects: the same sorted keys, the same values.
    const keys = this._keys!, theirs = other._keys!;
    if (keys.length != theirs.length) return false;
    for (let i = 0; i < keys.length; i++) {
      if (unchecked(keys[i]) != unchecked(theirs[i])) return false;
      if (!unchecked(this._values![i]).equals(unchecked(other._values![i]))) return false;
    }
    return true;
  }

  /** Compact JSON text. */
  toString(): string {
    const out = new Sink(64);
    this.write(out);
    const text = out.takeString();
    out.dispose();
    return text;
  }

  /** Appends compact JSON to `out`. */
  write(out: Sink): void {
    switch (this._kind) {
      case Kind.Null: out.ascii("null"); return;
      case Kind.Bool: out.ascii(this._bool ? "true" : "false"); return;
      case Kind.Number: {
        const src = this._src;
        if (src !== null) out.bytes(changetype<usize>(src) + this._at, this._len);
        else out.ascii(this._text);
        return;
      }
      case Kind.String: {
        const src = this._src;
        if (src === null) return out.jsonString(this._text);
        out.byte(Token.Quote);
        out.bytes(changetype<usize>(src) + this._at, this._len);
        out.byte(Token.Quote);
        return;
      }
      case Kind.Array: {
        const items = this._items!;
        out.byte(Token.OpenBracket);
        for (let i = 0; i < items.length; i++) {
          if (i) out.byte(Token.Comma);
          unchecked(items[i]).write(out);
        }
        out.byte(Token.CloseBracket);
        return;
      }
    }
    const keys = this._keys!, values = this._values!;
    out.byte(Token.OpenBrace);
    for (let i = 0; i < keys.length; i++) {
      if (i) out.byte(Token.Comma);
      out.jsonString(unchecked(keys[i]));
      out.byte(Token.Colon);
      unchecked(values[i]).write(out);
    }
    out.byte(Token.CloseBrace);
  }

  private text(): string {
    const src = this._src;
    if (src !== null && this._text.length == 0 && this._len > 0) {
      this._text = String.UTF8.decodeUnsafe(changetype<usize>(src) + this._at, this._len);
    }
    return this._text;
  }

  /** A literal of the text `src`: `len` bytes at `ptr`. */
  static _literal(kind: Kind, src: ArrayBuffer, ptr: usize, len: usize): Value {
    const v = new Value();
    v._kind = kind;
    v._src = src;
    v._at = <i32>(ptr - changetype<usize>(src));
    v._len = <i32>len;
    return v;
  }

  /** An object of sorted, unique `keys` and their `values` (the parser's). */
  static _object(keys: StaticArray<string>, values: StaticArray<Value>): Value {
    const v = new Value();
    v._kind = Kind.Object;
    v._keys = keys;
    v._values = values;
    return v;
  }

  /** The key's index, or `-(where it would go) - 1`. */
  private slot(key: string): i32 {
    if (this._kind != Kind.Object) return -1;
    const keys = this._keys!;
    return search(keys, keys.length, key);
  }
}

/** An array index as Rust's `usize::from_str` reads one (digits, an optional
 * `+`); -1 if it is not one. */
export function parseIndex(s: string): i32 {
  let i = s.length > 0 && s.charCodeAt(0) == 0x2b ? 1 : 0;
  if (i >= s.length) return -1;
  let n: i64 = 0;
  for (; i < s.length; i++) {
    const d = <u32>s.charCodeAt(i) - 0x30;
    if (d >= 10) return -1;
    n = n * 10 + d;
    if (n > i32.MAX_VALUE) return -1;
  }
  return <i32>n;
}

/** serde_json's number equality on two JSON number texts: an integer that
 * fits 64 bits is an integer, anything else a float; kinds never mix. */
function numbersEqual(a: string, b: string): bool {
  const ai = isInteger64(a), bi = isInteger64(b);
  if (ai != bi) return false;
  if (ai) return a == b || (isZero(a) && isZero(b));
  const x = Value.numberText(a).asNumber(), y = Value.numberText(b).asNumber();
  return x == y;
}

function isZero(s: string): bool {
  return s == "0" || s == "-0";
}

function isInteger64(s: string): bool {
  const negative = s.charCodeAt(0) == 0x2d;
  const digits = s.length - (negative ? 1 : 0);
  for (let i = negative ? 1 : 0; i < s.length; i++) {
    if (<u32>s.charCodeAt(i) - 0x30 >= 10) return false;
  }
  if (digits < 19) return true;
  const limit = negative ? "9223372036854775808" : "18446744073709551615";
  if (digits != limit.length) return digits < limit.length;
  return s.substring(negative ? 1 : 0) <= limit;
}
