// The guest ABI v1 exports (docs/abi.md). A processor's entry file
// re-exports them all: `export * from "@flowctl/sdk/exports";`
//
// Memory: buffers crossing the boundary are raw heap blocks (heap.alloc /
// heap.free), which the garbage collector does not track, so nothing the
// host holds can be collected. Garbage (events, values, strings) is
// collected with `__collect()` at the end of each call and every
// COLLECT_EVERY events of a batch, at points where the stack holds no
// references: the runtime must be `minimal` (no collection behind our back,
// no shadow stack to maintain) or `incremental`.

import { Reader, Token } from "./json/read";
import { Sink } from "./json/sink";
import { Outcome, eventError, ensureInit, processOne, runInit } from "./processor";

if (ASC_RUNTIME == 0) ERROR("@flowctl/sdk needs a runtime that frees memory: build with --runtime minimal");

const COLLECT_EVERY = 256;

// Globals, not locals: a collection mid-batch must not free them.
const reader = new Reader();
const output = new Sink(0);
let lastError: string | null = null;

export function allocate(size: i32): i32 {
  return <i32>heap.alloc(<usize>max(size, 0));
}

export function free(ptr: i32, size: i32): void {
  if (ptr) heap.free(<usize>ptr);
}

export function flowctl_abi_version(): i32 {
  return 1;
}

export function init(ptr: i32, len: i32): i32 {
  const failed = runInit(<usize>ptr, <usize>max(len, 0));
  __collect();
  if (failed === null) return 0;
  lastError = failed;
  return 1;
}

export function process_event(ptr: i32, len: i32): i64 {
  const result = processEvent(<usize>ptr, <usize>max(len, 0));
  __collect();
  return result;
}

function processEvent(ptr: usize, len: usize): i64 {
  const notReady = ensureInit();
  if (notReady !== null) return failCall(notReady);
  const r = reader.reset(ptr, len);
  output.reserve(len + 64);
  let outcome = processOne(r, output);
  let message = eventError;
  if (outcome == Outcome.Done && !r.finish()) {
    outcome = Outcome.Failed;
    message = "input event: " + r.error!;
  }
  if (outcome == Outcome.Done) return output.take();
  output.len = 0;
  return failCall(outcome == Outcome.Broken ? "input event: " + r.error! : message);
}

export function process_batch(ptr: i32, len: i32): i64 {
  const result = processBatch(<usize>ptr, <usize>max(len, 0));
  __collect();
  return result;
}

function processBatch(ptr: usize, len: usize): i64 {
  const notReady = ensureInit();
  if (notReady !== null) return failCall(notReady);
  const r = reader.reset(ptr, len);
  if (!r.eat(Token.OpenBracket)) return failCall("input batch: expected a JSON array of events");
  // Outputs are about the size of their inputs: one reservation.
  output.reserve(len + (len >> 2) + 2);
  output.byte(Token.OpenBracket);
  if (!r.eat(Token.CloseBracket)) {
    let n = 1;
    do {
      r.ws();
      const at = r.pos - ptr;
      const outcome = processOne(r, output);
      if (outcome == Outcome.Broken) {
        return failBatch("input batch: event " + n.toString() + " (at byte " + at.toString() + "): " + r.error!);
      }
      if (outcome == Outcome.Failed) writeError(output, eventError);
      if (n % COLLECT_EVERY == 0) __collect();
      const next = r.peek();
      if (next != Token.Comma && next != Token.CloseBracket) {
        return failBatch("input batch: expected `,` or `]` after event " + n.toString() +
          " (at byte " + (r.pos - ptr).toString() + ")");
      }
      r.pos++;
      if (next == Token.CloseBracket) break;
      output.byte(Token.Comma);
      n++;
    } while (true);
  }
  r.ws();
  if (r.pos != r.end) {
    return failBatch("input batch: unexpected text after the array (at byte " + (r.pos - ptr).toString() + ")");
  }
  output.byte(Token.CloseBracket);
  return output.take();
}

function failBatch(message: string): i64 {
  output.len = 0;
  return failCall(message);
}

/** 0, with the reason kept for `last_error`. */
function failCall(message: string): i64 {
  lastError = message;
  return 0;
}

/** `{"error":"<reason>"}`, a failed event's entry in a batch. */
function writeError(out: Sink, reason: string): void {
  out.ascii("{\"error\":");
  out.jsonString(reason);
  out.byte(Token.CloseBrace);
}

export function last_error(): i64 {
  const message = lastError;
  if (message === null) return 0;
  lastError = null;
  const out = new Sink(<usize>String.UTF8.byteLength(message));
  out.utf8(message);
  return out.take();
}
