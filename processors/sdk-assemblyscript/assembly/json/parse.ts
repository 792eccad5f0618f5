// Reads JSON text into a Value tree in one pass. Containers are built
// once, at their exact size, when they close: their entries wait on stacks
// (nested ones above their parents'), which saves the regrowing of arrays
// pushed one by one (allocations are most of the cost of a tree).

import { MAX_DEPTH, Reader, Token } from "./read";
import { Kind, Value } from "./value";
import { byCodePoint, prefix, search } from "./sorted";

// Entries of the containers being read.
const keyStack = new Array<string>();
const valueStack = new Array<Value>();
const itemStack = new Array<Value>();

/** The one value of `text` (nothing but whitespace after it), or null
 * (`r.error`). */
export function parseText(r: Reader, text: ArrayBuffer): Value | null {
  const v = readValue(r, text, 0);
  // A failed parse leaves entries on the stacks; drop them.
  keyStack.length = valueStack.length = itemStack.length = 0;
  return v !== null && r.finish() ? v : null;
}

/** Reads one value at the reader's position in the text `src`; null on
 * error (`r.error`). */
function readValue(r: Reader, src: ArrayBuffer, depth: i32): Value | null {
  const c = r.peek();
  switch (c) {
    case Token.Quote: {
      if (!r.string()) return null;
      // Without escapes, the literal's bytes are the string's UTF-8.
      return r.strEscaped ? Value.string(r.text()) : Value._literal(Kind.String, src, r.strPtr, r.strLen);
    }
    case Token.OpenBrace: {
      if (depth >= MAX_DEPTH) { r.fail("recursion limit exceeded"); return null; }
      const base = keyStack.length;
      if (r.openObject()) {
        do {
          if (!r.key()) return null;
          const key = r.text();
          const v = readValue(r, src, depth + 1);
          if (v === null) return null;
          keyStack.push(key);
          valueStack.push(v);
        } while (r.more(Token.CloseBrace));
      }
      return r.error === null ? objectFromStack(base) : null;
    }
    case Token.OpenBracket: {
      if (depth >= MAX_DEPTH) { r.fail("recursion limit exceeded"); return null; }
      r.pos++;
      const base = itemStack.length;
      if (!r.eat(Token.CloseBracket)) {
        do {
          const v = readValue(r, src, depth + 1);
          if (v === null) return null;
          itemStack.push(v);
        } while (r.more(Token.CloseBracket));
      }
      if (r.error !== null) return null;
      const items = new Array<Value>(itemStack.length - base);
      for (let i = 0; i < items.length; i++) unchecked((items[i] = itemStack[base + i]));
      itemStack.length = base;
      return Value.array(items);
    }
    case 0x74: return r.literal("true") ? Value.bool(true) : null;
    case 0x66: return r.literal("false") ? Value.bool(false) : null;
    case 0x6e: return r.literal("null") ? Value.null() : null;
  }
  const start = r.pos;
  if (!r.number()) return null;
  return Value._literal(Kind.Number, src, start, r.pos - start);
}

/** An object of the entries `[base, keyStack.length)` of the stacks,
 * sorted, a repeated key keeping its last value (as a serde_json map). */
function objectFromStack(base: i32): Value {
  const n = keyStack.length - base;
  let keys = new StaticArray<string>(n), values = new StaticArray<Value>(n);
  let m = 0;
  for (let i = base; i < base + n; i++) {
    const key = unchecked(keyStack[i]), value = unchecked(valueStack[i]);
    // Input is often sorted already (serde_json writes it so).
    let at = m;
    if (m > 0 && byCodePoint(unchecked(keys[m - 1]), key) >= 0) {
      at = search(keys, m, key);
      if (at >= 0) {
        unchecked((values[at] = value));
        continue;
      }
      at = -at - 1;
      for (let j = m; j > at; j--) {
        unchecked((keys[j] = keys[j - 1]));
        unchecked((values[j] = values[j - 1]));
      }
    }
    unchecked((keys[at] = key));
    unchecked((values[at] = value));
    m++;
  }
  if (m < n) {
    // A key was repeated: one more copy, at the exact size.
    keys = prefix(keys, m);
    values = prefix(values, m);
  }
  keyStack.length = valueStack.length = base;
  return Value._object(keys, values);
}
