// The filter's fast path: one value read from an event's JSON in place,
// without building the event. The rest of the event is only checked (as
// `readEvent` checks it) and skipped.

import { Reader, Token } from "./json/read";
import { Kind, Value, parseIndex } from "./json/value";
import { parseNumber, parseTrimmedNumber, parsedNumber } from "./json/number";
import { Field, fieldOf, fieldName, expectString } from "./event";

const enum Where {
  Id,
  Type,
  Timestamp,
  Metadata,
  Data,
  Nowhere,
}

/** A dotted path resolved once: `id`, `type`, `timestamp`,
 * `metadata.<key>` (the key is the whole rest, dots included) or
 * `data.<a>.<b>`; anything else names nothing. */
export class FieldPath {
  where: Where = Where.Nowhere;
  /** UTF-8 of the metadata key, or of each data segment. */
  segments: Array<ArrayBuffer> = [];
  /** Each data segment as an array index, or -1. */
  indexes: Array<i32> = [];

  static parse(field: string): FieldPath {
    const p = new FieldPath();
    const dot = field.indexOf(".");
    const head = dot < 0 ? field : field.substring(0, dot);
    if (dot < 0) {
      if (head == "id") p.where = Where.Id;
      else if (head == "type") p.where = Where.Type;
      else if (head == "timestamp") p.where = Where.Timestamp;
      else if (head == "data") p.where = Where.Data;
      return p;
    }
    const rest = field.substring(dot + 1);
    if (head == "metadata") {
      p.where = Where.Metadata;
      p.segments.push(String.UTF8.encode(rest));
    } else if (head == "data") {
      p.where = Where.Data;
      const parts = rest.split(".");
      for (let i = 0; i < parts.length; i++) {
        p.segments.push(String.UTF8.encode(unchecked(parts[i])));
        p.indexes.push(parseIndex(unchecked(parts[i])));
      }
    }
    return p;
  }
}

// Absent fields read as the Rust SDK's defaults: "" for id and type, 0 for
// the timestamp, null for data.
const EMPTY_STRING = memory.data<u8>([0x22, 0x22]);
const ZERO = memory.data<u8>([0x30]);
const NULL = memory.data<u8>([0x6e, 0x75, 0x6c, 0x6c]);

/** A JSON value inside the input, read in place: valid only until the
 * processor's function returns. */
export class RawValue {
  kind: Kind = Kind.Null;
  /** The value's JSON text (a string with its quotes). */
  ptr: usize = 0;
  len: usize = 0;
  /** A string with escapes (its bytes are not its text). */
  escaped: bool = false;

  /** The value as a number, for a number or a string holding one
   * (Horizon's `"12.5000000"`, read as Rust's `str::parse::<f64>` reads
   * it after `trim`); NaN otherwise. */
  asNumber(): f64 {
    return this.readNumber() ? parsedNumber : NaN;
  }

  /** Whether the value is a number or a string holding one (`"NaN"`
   * included), leaving it in `parsedNumber`: `asNumber` without the
   * ambiguity of NaN. */
  readNumber(): bool {
    if (this.kind == Kind.Number) return parseNumber(this.ptr, this.ptr + this.len);
    if (this.kind != Kind.String) return false;
    if (!this.escaped) return parseTrimmedNumber(this.ptr + 1, this.ptr + this.len - 1);
    const r = new Reader().reset(this.ptr, this.len);
    r.string();
    return parseTrimmedNumber(r.strPtr, r.strPtr + r.strLen);
  }

  /** The value as a tree (allocates). */
  toValue(): Value {
    const v = Value.parseBytes(this.ptr, this.len);
    return v !== null ? v : Value.null();
  }

  /** A string's text (decoded); other values as JSON text. */
  toString(): string {
    if (this.kind == Kind.String) {
      const r = new Reader().reset(this.ptr, this.len);
      r.string();
      return r.text();
    }
    return String.UTF8.decodeUnsafe(this.ptr, this.len);
  }

  private capture(r: Reader): bool {
    r.ws();
    const start = r.pos;
    const c = r.peek();
    if (!r.skip(2)) return false;
    this.set(start, r.pos - start, kindOf(c));
    if (this.kind == Kind.String) {
      // Strings are short; a second look for a backslash costs little.
      for (let p = start + 1; p < r.pos - 1; p++) {
        if (load<u8>(p) == 0x5c) {
          this.escaped = true;
          break;
        }
      }
    }
    return true;
  }

  private set(ptr: usize, len: usize, kind: Kind): void {
    this.ptr = ptr;
    this.len = len;
    this.kind = kind;
    this.escaped = false;
  }

  /** Reads the event at the reader's position, checking it as `readEvent`
   * does, and captures the value at `path`. Returns 1 when found, 0 when
   * the event has no value there, -1 on error (`r.error`). */
  scan(r: Reader, path: FieldPath): i32 {
    if (r.peek() != Token.OpenBrace) {
      r.fail("invalid type: expected struct Event");
      return -1;
    }
    let seen = 0;
    let found = 0;
    if (r.openObject()) {
      do {
        if (!r.key()) return -1;
        const f = fieldOf(r);
        if (seen & f) {
          r.fail("duplicate field `" + fieldName(f) + "`");
          return -1;
        }
        seen |= f;
        let result = 0;
        switch (f) {
          case Field.Id:
          case Field.Type: {
            r.ws();
            const start = r.pos;
            if (!expectString(r, f)) return -1;
            if ((f == Field.Id && path.where == Where.Id) || (f == Field.Type && path.where == Where.Type)) {
              this.set(start, r.pos - start, Kind.String);
              this.escaped = r.strEscaped;
              result = 1;
            }
            break;
          }
          case Field.Timestamp: {
            r.ws();
            const start = r.pos;
            if (!r.integer()) return -1;
            if (path.where == Where.Timestamp) {
              this.set(start, r.pos - start, Kind.Number);
              result = 1;
            }
            break;
          }
          case Field.Data:
            result = path.where == Where.Data ? this.descend(r, path, 0) : r.skip(1) ? 0 : -1;
            break;
          case Field.Metadata:
            result = this.metadata(r, path);
            break;
          default:
            result = r.skip(1) ? 0 : -1;
        }
        if (result < 0) return -1;
        if (result > 0) found = 1;
      } while (r.more(Token.CloseBrace));
    }
    if (r.error !== null) return -1;
    if (found) return 1;
    switch (path.where) {
      case Where.Id:
      case Where.Type: this.set(EMPTY_STRING, 2, Kind.String); return 1;
      case Where.Timestamp: this.set(ZERO, 1, Kind.Number); return 1;
      case Where.Data: {
        if (path.segments.length) return 0;
        this.set(NULL, 4, Kind.Null);
        return 1;
      }
    }
    return 0;
  }

  /** `metadata`, checked as an object of strings; captures the value under
   * the path's key (the last, if repeated, as a map keeps it). */
  private metadata(r: Reader, path: FieldPath): i32 {
    if (r.peek() != Token.OpenBrace) {
      r.fail("invalid type for `metadata`: expected a map");
      return -1;
    }
    const wanted = path.where == Where.Metadata ? unchecked(path.segments[0]) : null;
    let found = 0;
    if (!r.openObject()) return r.error === null ? 0 : -1;
    do {
      if (!r.key()) return -1;
      const match = wanted !== null && r.textIs(changetype<usize>(wanted), <usize>wanted.byteLength);
      r.ws();
      const start = r.pos;
      if (r.peek() != Token.Quote) {
        r.fail("invalid type in `metadata`: expected a string");
        return -1;
      }
      if (!r.string()) return -1;
      if (match) {
        this.set(start, r.pos - start, Kind.String);
        this.escaped = r.strEscaped;
        found = 1;
      }
    } while (r.more(Token.CloseBrace));
    return r.error === null ? found : -1;
  }

  /** Follows the data segments from `i` down the value at the reader's
   * position: keys in objects, indexes in arrays, as `Value.lookup`. */
  private descend(r: Reader, path: FieldPath, i: i32): i32 {
    if (i == path.segments.length) return this.capture(r) ? 1 : -1;
    const c = r.peek();
    let found = 0;
    if (c == Token.OpenBrace) {
      const seg = unchecked(path.segments[i]);
      if (!r.openObject()) return r.error === null ? 0 : -1;
      do {
        if (!r.key()) return -1;
        if (r.textIs(changetype<usize>(seg), <usize>seg.byteLength)) {
          // A repeated key: the last wins, as in a serde_json object.
          found = this.descend(r, path, i + 1);
          if (found < 0) return -1;
        } else if (!r.skip(i + 2)) {
          return -1;
        }
      } while (r.more(Token.CloseBrace));
      return r.error === null ? found : -1;
    }
    if (c == Token.OpenBracket) {
      const wanted = unchecked(path.indexes[i]);
      r.pos++;
      if (r.eat(Token.CloseBracket)) return 0;
      let k = 0;
      do {
        if (k++ == wanted) {
          found = this.descend(r, path, i + 1);
          if (found < 0) return -1;
        } else if (!r.skip(i + 2)) {
          return -1;
        }
      } while (r.more(Token.CloseBracket));
      return r.error === null ? found : -1;
    }
    return r.skip(i + 2) ? 0 : -1;
  }
}

function kindOf(c: i32): Kind {
  switch (c) {
    case Token.Quote: return Kind.String;
    case Token.OpenBrace: return Kind.Object;
    case Token.OpenBracket: return Kind.Array;
    case 0x74: case 0x66: return Kind.Bool;
    case 0x6e: return Kind.Null;
  }
  return Kind.Number;
}
