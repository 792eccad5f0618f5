// A processor exercising the ABI exports, driven by tests/run.mjs:
// `data.n` copies of each event (0 drops it); `data.fail` fails it with
// that message; config `{"refuse": "why"}` refuses to start.

import { Event, Value, fail, flatMap, onInit } from "../assembly/index";

let tag = "";

function configure(config: Value): void {
  const refuse = config.get("refuse");
  if (refuse !== null) return fail(refuse.asString()!);
  const t = config.get("tag");
  tag = t !== null ? t.asString()! : "none";
}

function copies(e: Event): Array<Event> {
  const why = e.get("data.fail");
  if (why !== null) {
    fail(why.asString()!);
    return [];
  }
  const n = e.get("data.n");
  const count = n !== null ? <i32>n.asNumber() : 1;
  const out = new Array<Event>();
  for (let i = 0; i < count; i++) {
    const copy = new Event(e.type, Value.integer(i));
    copy.metadata.set("tag", tag);
    out.push(copy);
  }
  return out;
}

onInit(configure);
flatMap(copies);

export * from "../assembly/exports";
