// `filter-as`: processors/filter in AssemblyScript, with the same
// behaviour and golden fixtures. Keeps the events matching a field
// predicate, drops the rest.
//
//   config: {field: data.amount, op: gt, value: 100}
//
// `field` is a dotted path (`id`, `type`, `timestamp`, `metadata.<key>`,
// `data.<a>.<b>`). `op` is one of exists, missing, eq, ne, gt, gte, lt,
// lte, contains, in. Ordering operators compare numbers, including numbers
// written as strings (Horizon's "12.5000000"), and fall back to comparing
// strings. `in` takes a list as `value`.
//
// The SDK's filterField reads only the tested value from each event's JSON
// and keeps an event as its input bytes. Numbers are compared without
// building anything; other cases build the one value as a tree.

import { Kind, RawValue, Value, compareStrings, fail, filterField, onInit, parsedNumber } from "@flowctl/sdk";

const enum Op { Exists, Missing, Eq, Ne, Gt, Gte, Lt, Lte, Contains, In }

const OPS = ["exists", "missing", "eq", "ne", "gt", "gte", "lt", "lte", "contains", "in"];
// serde's names for the variants (`{:?}`), used in the Rust version's messages.
const OP_NAMES = ["Exists", "Missing", "Eq", "Ne", "Gt", "Gte", "Lt", "Lte", "Contains", "In"];

let op = Op.Exists;
let want = Value.null();
/** `want` as a number, when it is one (or a string holding one) and not NaN. */
let wantNumber: f64 = NaN;

function configure(config: Value): void {
  op = Op.Exists;
  if (!config.isObject) return fail("config: invalid type, expected struct Config");
  const keys = config.keys();
  for (let i = 0; i < keys.length; i++) {
    const k = keys[i];
    if (k != "field" && k != "op" && k != "value") {
      return fail("config: unknown field `" + k + "`, expected one of `field`, `op`, `value`");
    }
  }
  const field = config.get("field");
  if (field === null) return fail("config: missing field `field`");
  if (!field.isString) return fail("config: invalid type for `field`, expected a string");
  const opValue = config.get("op");
  if (opValue !== null) {
    if (!opValue.isString) return fail("config: invalid type for `op`, expected a string");
    const i = OPS.indexOf(opValue.asString()!);
    if (i < 0) {
      return fail("config: unknown variant `" + opValue.asString()! + "`, expected one of `" + OPS.join("`, `") + "`");
    }
    op = <Op>i;
  }
  // serde reads `value: null` as no value.
  const value = config.get("value");
  const needsValue = op != Op.Exists && op != Op.Missing;
  if ((value === null || value.isNull) && needsValue) return fail("op " + OP_NAMES[op] + " needs a `value`");
  want = value !== null ? value : Value.null();
  if (op == Op.In && !want.isArray) return fail("op in needs a list as `value`");
  if (field.asString()!.length == 0) return fail("`field` must name a field, such as data.amount");
  wantNumber = want.readNumber() ? parsedNumber : NaN;
  filterField(field.asString()!, keep);
}

onInit(configure);

function keep(actual: RawValue | null): bool {
  if (actual === null) return op == Op.Missing;
  if (op == Op.Exists) return !isNullKind(actual);
  if (op == Op.Missing) return isNullKind(actual);
  // Two numbers (neither NaN): the answer needs no tree.
  if (op <= Op.Lte && !isNaN(wantNumber)) {
    const x = actual.asNumber();
    if (!isNaN(x)) return byNumber(x, wantNumber);
  }
  return matches(actual.toValue());
}

function isNullKind(v: RawValue): bool {
  return v.kind == Kind.Null;
}

/** Eq..Lte on two numbers. */
function byNumber(x: f64, y: f64): bool {
  switch (op) {
    case Op.Eq: return x == y;
    case Op.Ne: return x != y;
    case Op.Gt: return x > y;
    case Op.Gte: return x >= y;
    case Op.Lt: return x < y;
  }
  return x <= y;
}

/** The Rust version's `matches` on a present value. */
function matches(v: Value): bool {
  switch (op) {
    case Op.Exists: return !v.isNull;
    case Op.Missing: return v.isNull;
    case Op.Eq: return looselyEqual(v, want);
    case Op.Ne: return !looselyEqual(v, want);
    case Op.Gt: return compare(v, want) == 1;
    case Op.Gte: { const c = compare(v, want); return c == 1 || c == 0; }
    case Op.Lt: return compare(v, want) == -1;
    case Op.Lte: { const c = compare(v, want); return c == -1 || c == 0; }
    case Op.Contains: return contains(v, want);
  }
  const list = want.items();
  for (let i = 0; i < list.length; i++) if (looselyEqual(v, list[i])) return true;
  return false;
}

function looselyEqual(a: Value, b: Value): bool {
  if (a.equals(b)) return true;
  if (!a.readNumber()) return false;
  const x = parsedNumber;
  return b.readNumber() && x == parsedNumber;
}

/** -1, 0 or 1; 2 when the two do not compare (NaN, or not both numbers
 * nor both strings). */
function compare(a: Value, b: Value): i32 {
  if (a.readNumber()) {
    const x = parsedNumber;
    if (b.readNumber()) {
      const y = parsedNumber;
      return x < y ? -1 : x > y ? 1 : x == y ? 0 : 2;
    }
  }
  if (!a.isString || !b.isString) return 2;
  const c = compareStrings(a.asString()!, b.asString()!);
  return c < 0 ? -1 : c > 0 ? 1 : 0;
}

function contains(haystack: Value, needle: Value): bool {
  if (haystack.isString && needle.isString) return haystack.asString()!.includes(needle.asString()!);
  if (haystack.isArray) {
    const items = haystack.items();
    for (let i = 0; i < items.length; i++) if (looselyEqual(items[i], needle)) return true;
    return false;
  }
  return haystack.isObject && needle.isString && haystack.has(needle.asString()!);
}

export * from "@flowctl/sdk/exports";
