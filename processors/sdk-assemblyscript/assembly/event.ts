// The event crossing the host/guest boundary, read and written as the Rust
// SDK's `Event` is (processors/sdk/src/event.rs): the same fields, checks,
// defaults and output form.

import { Reader, Token } from "./json/read";
import { Sink } from "./json/sink";
import { Value } from "./json/value";
import { byCodePoint } from "./json/sorted";

/** One event. On output, an empty `id`/`type` and a zero `timestamp` are
 * inherited by the host from the input event, and `metadata` is merged over
 * the input's, so a processor only sets what it changes. */
export class Event {
  id: string = "";
  type: string = "";
  /** Unix milliseconds; 0 on output means "inherit". */
  timestamp: i64 = 0;
  private _metadata: Map<string, string> | null = null;
  private _data: Value | null = null;
  /** `data` as it was read, parsed only when asked for: an event passed on
   * with its data untouched is written back with the same bytes. */
  _raw: ArrayBuffer | null = null;

  /** A new event of `type` carrying `data`; id and timestamp are inherited
   * from the input event unless set. */
  constructor(type: string = "", data: Value | null = null) {
    this.type = type;
    this._data = data;
  }

  /** The payload, any JSON (null when absent). */
  get data(): Value {
    let data = this._data;
    if (data === null) {
      const raw = this._raw;
      // Checked when the event was read, so it parses.
      data = raw !== null ? Value.parseUtf8(raw) : null;
      if (data === null) data = Value.null();
      this._data = data;
      this._raw = null;
    }
    return data;
  }

  set data(value: Value) {
    this._data = value;
    this._raw = null;
  }

  /** String annotations; keys starting `flowctl.` are the host's. */
  get metadata(): Map<string, string> {
    let m = this._metadata;
    if (m === null) this._metadata = m = new Map<string, string>();
    return m;
  }

  set metadata(m: Map<string, string>) {
    this._metadata = m;
  }

  /** The value at a dotted path: `id`, `type`, `timestamp`,
   * `metadata.<key>` or `data.<field>.<field>...` (array elements by index,
   * `data.items.0`); null when there is none. */
  get(path: string): Value | null {
    const dot = path.indexOf(".");
    const head = dot < 0 ? path : path.substring(0, dot);
    if (dot < 0) {
      if (head == "id") return Value.string(this.id);
      if (head == "type") return Value.string(this.type);
      if (head == "timestamp") return Value.integer(this.timestamp);
      if (head == "data") return this.data;
      return null;
    }
    const rest = path.substring(dot + 1);
    if (head == "metadata") {
      const m = this._metadata;
      return m !== null && m.has(rest) ? Value.string(m.get(rest)) : null;
    }
    if (head != "data") return null;
    const parts = dataSegments(path);
    let v: Value | null = this.data;
    for (let i = 0; i < parts.length && v !== null; i++) v = v.child(unchecked(parts[i]));
    return v;
  }

  /** Sets the value at `data.<path>` (creating objects on the way) or
   * `metadata.<key>` (strings as they are, other values as JSON text).
   * False if the path names neither. */
  set(path: string, value: Value): bool {
    if (path.startsWith("metadata.")) {
      const text = value.isString ? value.asString()! : value.toString();
      this.metadata.set(path.substring(9), text);
      return true;
    }
    if (!path.startsWith("data.")) return false;
    const parts = dataSegments(path);
    let slot = this.data;
    if (!slot.isObject) this.data = slot = Value.object();
    for (let i = 0; i < parts.length - 1; i++) {
      const part = unchecked(parts[i]);
      let next = slot.get(part);
      if (next === null || !next.isObject) {
        next = Value.object();
        slot.set(part, next);
      }
      slot = next;
    }
    slot.set(parts[parts.length - 1], value);
    return true;
  }

  /** The event as the ABI's JSON (see `writeEvent`). */
  toString(): string {
    const out = new Sink(128);
    writeEvent(out, this);
    const text = out.takeString();
    out.dispose();
    return text;
  }

  /** Reads an event from JSON text; null if it is not one (`Event.lastError`). */
  static parse(json: string): Event | null {
    const bytes = String.UTF8.encode(json);
    const r = new Reader().reset(changetype<usize>(bytes), <usize>bytes.byteLength);
    const e = readEvent(r);
    if (e !== null && r.finish()) return e;
    Event.lastError = r.error !== null ? r.error! : "invalid event";
    return null;
  }

  static lastError: string = "";

  /** The metadata map if one was made. */
  _metadataOrNull(): Map<string, string> | null {
    return this._metadata;
  }

  _dataOrNull(): Value | null {
    return this._data;
  }
}

// A processor uses a few paths, the same for every event: each is split
// once. Bounded, for processors that make paths up per event.
const pathCache = new Map<string, Array<string>>();

/** The segments of a `data.<a>.<b>` path after `data.` (do not modify). */
function dataSegments(path: string): Array<string> {
  if (pathCache.has(path)) return pathCache.get(path);
  if (pathCache.size >= 64) pathCache.clear();
  const parts = path.substring(5).split(".");
  pathCache.set(path, parts);
  return parts;
}

/** The envelope's fields, as bits (to catch duplicates). */
export const enum Field {
  Other = 0,
  Id = 1,
  Type = 2,
  Timestamp = 4,
  Data = 8,
  Metadata = 16,
}

/** Which envelope field the key just read names, comparing its UTF-8
 * bytes in place (little-endian words of "id", "type", "data", ...). */
export function fieldOf(r: Reader): Field {
  const p = r.strPtr;
  switch (<i32>r.strLen) {
    case 2: return load<u16>(p) == 0x6469 ? Field.Id : Field.Other;
    case 4: {
      const w = load<u32>(p);
      return w == 0x65707974 ? Field.Type : w == 0x61746164 ? Field.Data : Field.Other;
    }
    case 8: return load<u64>(p) == 0x617461646174656d ? Field.Metadata : Field.Other;
    case 9: return load<u64>(p) == 0x6d617473656d6974 && load<u8>(p + 8) == 0x70 ? Field.Timestamp : Field.Other;
  }
  return Field.Other;
}

export function fieldName(f: Field): string {
  switch (f) {
    case Field.Id: return "id";
    case Field.Type: return "type";
    case Field.Timestamp: return "timestamp";
    case Field.Data: return "data";
  }
  return "metadata";
}

/** Reads an event object at the reader's position, checked as serde checks
 * the Rust SDK's `Event`: `id`/`type` strings, `timestamp` an i64,
 * `metadata` an object of strings, no field twice; other fields skipped.
 * Null on error (`r.error`). */
export function readEvent(r: Reader): Event | null {
  if (r.peek() != Token.OpenBrace) {
    r.fail("invalid type: expected struct Event");
    return null;
  }
  const e = new Event();
  let seen = 0;
  if (r.openObject()) {
    do {
      if (!r.key()) return null;
      const f = fieldOf(r);
      if (seen & f) {
        r.fail("duplicate field `" + fieldName(f) + "`");
        return null;
      }
      seen |= f;
      switch (f) {
        case Field.Id:
        case Field.Type: {
          if (!expectString(r, f)) return null;
          if (f == Field.Id) e.id = r.text();
          else e.type = r.text();
          break;
        }
        case Field.Timestamp: {
          if (!r.integer()) return null;
          e.timestamp = r.int;
          break;
        }
        case Field.Data: {
          r.ws();
          const start = r.pos;
          if (!r.skip(1)) return null;
          const n = r.pos - start;
          // `null` is the default: nothing to keep.
          if (!(n == 4 && load<u32>(start) == 0x6c6c756e)) {
            const raw = new ArrayBuffer(<i32>n);
            memory.copy(changetype<usize>(raw), start, n);
            e._raw = raw;
          }
          break;
        }
        case Field.Metadata: {
          if (!readMetadata(r, e)) return null;
          break;
        }
        default:
          if (!r.skip(1)) return null;
      }
    } while (r.more(Token.CloseBrace));
  }
  return r.error === null ? e : null;
}

export function expectString(r: Reader, f: Field): bool {
  if (r.peek() != Token.Quote) return r.fail("invalid type for `" + fieldName(f) + "`: expected a string");
  return r.string();
}

function readMetadata(r: Reader, e: Event): bool {
  if (r.peek() != Token.OpenBrace) return r.fail("invalid type for `metadata`: expected a map");
  if (!r.openObject()) return r.error === null;
  const m = e.metadata;
  do {
    if (!r.key()) return false;
    const key = r.text();
    if (r.peek() != Token.Quote) return r.fail("invalid type in `metadata`: expected a string");
    if (!r.string()) return false;
    m.set(key, r.text());
  } while (r.more(Token.CloseBrace));
  return r.error === null;
}

/** Writes `e` as the Rust SDK does: fields in the ABI's order, empty
 * id/type, zero timestamp and empty metadata left out, `data` always
 * (null when absent), metadata keys sorted as a BTreeMap sorts them. */
export function writeEvent(out: Sink, e: Event): void {
  out.byte(Token.OpenBrace);
  if (e.id.length) {
    out.ascii("\"id\":");
    out.jsonString(e.id);
    out.byte(Token.Comma);
  }
  if (e.type.length) {
    out.ascii("\"type\":");
    out.jsonString(e.type);
    out.byte(Token.Comma);
  }
  if (e.timestamp != 0) {
    out.ascii("\"timestamp\":");
    out.ascii(e.timestamp.toString());
    out.byte(Token.Comma);
  }
  out.ascii("\"data\":");
  const data = e._dataOrNull();
  const raw = e._raw;
  if (data !== null) data.write(out);
  else if (raw !== null) out.buffer(raw);
  else out.ascii("null");
  const m = e._metadataOrNull();
  if (m !== null && m.size > 0) {
    out.ascii(",\"metadata\":{");
    const keys = m.keys().sort(byCodePoint);
    for (let i = 0; i < keys.length; i++) {
      if (i) out.byte(Token.Comma);
      const k = unchecked(keys[i]);
      out.jsonString(k);
      out.byte(Token.Colon);
      out.jsonString(m.get(k));
    }
    out.byte(Token.CloseBrace);
  }
  out.byte(Token.CloseBrace);
}
