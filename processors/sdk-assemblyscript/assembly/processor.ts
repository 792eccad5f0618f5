// Registration of the processor's function, and running it on one event.

import { Reader, Token } from "./json/read";
import { Sink } from "./json/sink";
import { Value } from "./json/value";
import { Event, readEvent, writeEvent } from "./event";
import { FieldPath, RawValue } from "./field";

const enum Mode {
  None,
  Map,
  Filter,
  FlatMap,
  Field,
}

let mode = Mode.None;
let mapFn: (e: Event) => Event = (e: Event): Event => e;
let filterFn: (e: Event) => bool = (e: Event): bool => true;
let flatMapFn: (e: Event) => Array<Event> = (e: Event): Array<Event> => [e];
let fieldFn: (v: RawValue | null) => bool = (v: RawValue | null): bool => true;
let initFn: (config: Value) => void = (config: Value): void => {};
let fieldPath = FieldPath.parse("");
const rawValue = new RawValue();

/** One event in, one out. */
export function map(fn: (e: Event) => Event): void {
  mode = Mode.Map;
  mapFn = fn;
}

/** Keeps the event (as its input bytes, unchanged) when `fn` says true. */
export function filter(fn: (e: Event) => bool): void {
  mode = Mode.Filter;
  filterFn = fn;
}

/** Any number of events out; none filters the event. */
export function flatMap(fn: (e: Event) => Array<Event>): void {
  mode = Mode.FlatMap;
  flatMapFn = fn;
}

/** A filter on one field: `keep` gets the value at `path` read in place
 * from the event's JSON (null when the event has none), without building
 * the event. The fastest processor the SDK runs; call it from `onInit`
 * when the path comes from the configuration. */
export function filterField(path: string, keep: (v: RawValue | null) => bool): void {
  mode = Mode.Field;
  fieldPath = FieldPath.parse(path);
  fieldFn = keep;
}

/** Called once per instance, before any event, with the pipeline's
 * `config:` (`{}` when none). Calling `fail` refuses to start. */
export function onInit(fn: (config: Value) => void): void {
  initFn = fn;
}

let failure: string | null = null;

/** Fails the current event (or, in `onInit`, the start) with `message`:
 * the host dead-letters the event with it and goes on. Return anything
 * after calling it; the output is ignored. */
export function fail(message: string): void {
  if (failure === null) failure = message;
}

let initialised = false;

/** Runs the init hook on `config`; the failure message, or null. */
export function runInit(ptr: usize, len: usize): string | null {
  const config = isBlank(ptr, len) ? Value.object() : Value.parseBytes(ptr, len);
  if (config === null) return "config: " + Value.lastError;
  failure = null;
  initFn(config);
  const failed = failure;
  failure = null;
  if (failed !== null) return failed;
  initialised = true;
  return null;
}

/** Hosts of the original contract never call `init`: configure from `{}`
 * before the first event. The failure message, or null. */
export function ensureInit(): string | null {
  return initialised ? null : runInit(0, 0);
}

function isBlank(ptr: usize, len: usize): bool {
  for (let i: usize = 0; i < len; i++) {
    const c = load<u8>(ptr + i);
    if (c != 0x20 && c != 0x0a && c != 0x0d && c != 0x09) return false;
  }
  return true;
}

export const enum Outcome {
  /** The entry is written. */
  Done,
  /** The event failed; `eventError` says why, nothing is written. */
  Failed,
  /** The input is not JSON: `r.error`; the whole call fails. */
  Broken,
}

/** Why the last event failed. */
export let eventError = "";

/** Runs the processor on the event at the reader's position, appending its
 * output entry to `out` and leaving the reader after the event. */
export function processOne(r: Reader, out: Sink): Outcome {
  r.ws();
  const start = r.pos;
  const mark = out.len;
  failure = null;
  let event: Event | null = null;
  let found = 0;
  if (mode == Mode.Field) found = rawValue.scan(r, fieldPath);
  else event = readEvent(r);
  if (found < 0 || (mode != Mode.Field && event === null)) return inputError(r, start);

  switch (mode) {
    case Mode.Field: keep(out, fieldFn(found ? rawValue : null), start, r.pos); break;
    case Mode.Filter: keep(out, filterFn(event!), start, r.pos); break;
    case Mode.Map: writeEvent(out, mapFn(event!)); break;
    case Mode.FlatMap: {
      const events = flatMapFn(event!);
      out.byte(Token.OpenBracket);
      for (let i = 0; i < events.length; i++) {
        if (i) out.byte(Token.Comma);
        writeEvent(out, unchecked(events[i]));
      }
      out.byte(Token.CloseBracket);
      break;
    }
    default:
      failure = "no processor registered: call map, filter, flatMap or filterField";
  }
  const failed = failure;
  if (failed !== null) {
    failure = null;
    out.len = mark;
    eventError = failed;
    return Outcome.Failed;
  }
  return Outcome.Done;
}

/** A kept event is its input bytes, so the host sees it is unchanged. */
@inline function keep(out: Sink, kept: bool, start: usize, end: usize): void {
  if (kept) out.bytes(start, end - start);
  else out.ascii("[]");
}

/** The event is JSON but not an event (its entry is an error, the call goes
 * on), or not JSON at all (the call fails). */
function inputError(r: Reader, start: usize): Outcome {
  eventError = "input event: " + r.error!;
  r.error = null;
  r.pos = start;
  return r.skip() ? Outcome.Failed : Outcome.Broken;
}
