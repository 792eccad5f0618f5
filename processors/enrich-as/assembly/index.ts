// `enrich-as`: processors/enrich in AssemblyScript, with the same
// behaviour and golden fixtures. Adds fields to every event, and optionally
// the response of an HTTP lookup (granted by `permissions.http`).
//
//   config:
//     set: {metadata.region: eu-west, data.pipeline: stellar}
//     lookup: {url: "https://api.example.com/accounts/{data.from}", into: data.account}
//
// `set` writes each value at its path (`data.<path>` or `metadata.<key>`),
// in the order of the paths' names. `lookup.url` may hold `{path}`
// placeholders filled from the event; the response body is stored at
// `lookup.into`, parsed as JSON when it is JSON, as a string otherwise. A
// failed lookup fails the event (it is dead-lettered with the reason)
// unless `lookup.optional` is true.

import { Event, Value, compareStrings, fail, host, map, onInit } from "@flowctl/sdk";

let setPaths: Array<string> = [];
let setValues: Array<Value> = [];
let lookupUrl: string | null = null;
let lookupInto = "";
let lookupOptional = false;

function configure(config: Value): void {
  setPaths = [];
  setValues = [];
  lookupUrl = null;
  if (!config.isObject) return fail("config: invalid type, expected struct Config");
  if (!onlyKeys(config, ["set", "lookup"])) return;
  const set = config.get("set");
  if (set !== null) {
    if (!set.isObject) return fail("config: invalid type for `set`, expected a map");
    // A BTreeMap in the Rust version: applied in the order of the paths.
    setPaths = set.keys().sort(compareStrings);
    for (let i = 0; i < setPaths.length; i++) setValues.push(set.get(setPaths[i])!);
  }
  const lookup = config.get("lookup");
  if (lookup !== null && !lookup.isNull) {
    if (!lookup.isObject) return fail("config: invalid type for `lookup`, expected struct Lookup");
    if (!onlyKeys(lookup, ["url", "into", "optional"])) return;
    const url = lookup.get("url"), into = lookup.get("into"), optional = lookup.get("optional");
    if (url === null) return fail("config: missing field `url`");
    if (into === null) return fail("config: missing field `into`");
    if (!url.isString || !into.isString) return fail("config: invalid type for `url` or `into`, expected a string");
    if (optional !== null && !optional.isBool) return fail("config: invalid type for `optional`, expected a boolean");
    lookupUrl = url.asString()!;
    lookupInto = into.asString()!;
    lookupOptional = optional !== null && optional.asBool();
  }
  const targets = setPaths.slice(0);
  if (lookupUrl !== null) targets.push(lookupInto);
  for (let i = 0; i < targets.length; i++) {
    if (!isWritable(targets[i])) return fail("cannot write `" + targets[i] + "`: use data.<path> or metadata.<key>");
  }
}

/** serde's `deny_unknown_fields`. */
function onlyKeys(object: Value, allowed: Array<string>): bool {
  const keys = object.keys();
  for (let i = 0; i < keys.length; i++) {
    if (!allowed.includes(keys[i])) {
      fail("config: unknown field `" + keys[i] + "`, expected one of `" + allowed.join("`, `") + "`");
      return false;
    }
  }
  return true;
}

function isWritable(path: string): bool {
  if (path.startsWith("data.")) return path.length > 5;
  return path.startsWith("metadata.") && path.length > 9;
}

function enrich(event: Event): Event {
  for (let i = 0; i < setPaths.length; i++) event.set(setPaths[i], setValues[i].clone());
  const template = lookupUrl;
  if (template === null) return event;
  const url = fillTemplate(template, event);
  if (url === null) return event;
  const body = host.httpGet(url);
  if (body !== null) event.set(lookupInto, parseBody(body));
  else if (lookupOptional) host.warn("lookup skipped: " + host.httpError);
  else fail(host.httpError);
  return event;
}

/** `url` with each `{path}` replaced by the event's value at that path;
 * null (the event failed) when one cannot be filled. */
function fillTemplate(url: string, event: Event): string | null {
  const parts = new Array<string>();
  let rest = 0;
  let start = url.indexOf("{", rest);
  while (start >= 0) {
    parts.push(url.substring(rest, start));
    const end = url.indexOf("}", start);
    if (end < 0) {
      fail("unclosed `{` in url " + url);
      return null;
    }
    const path = url.substring(start + 1, end);
    const v = event.get(path);
    if (v === null || v.isNull) {
      fail("url placeholder {" + path + "}: the event has no such field");
      return null;
    }
    parts.push(v.isString ? v.asString()! : v.toString());
    rest = end + 1;
    start = url.indexOf("{", rest);
  }
  parts.push(url.substring(rest));
  return parts.join("");
}

/** The body as JSON when it is JSON, as text otherwise. */
function parseBody(body: ArrayBuffer): Value {
  const json = Value.parseBytes(changetype<usize>(body), <usize>body.byteLength);
  return json !== null ? json : Value.string(String.UTF8.decode(body));
}

onInit(configure);
map(enrich);

export * from "@flowctl/sdk/exports";
