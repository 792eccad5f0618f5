// `npm test`: compiles the test modules with asc (as a processor is built)
// and runs them with node's WebAssembly: the JSON unit tests (json.ts) and
// the ABI exports driven as flowctl drives them (abi.ts).
import asc from "assemblyscript/asc";
import { fileURLToPath } from "node:url";
import { dirname } from "node:path";

const here = dirname(fileURLToPath(import.meta.url));
let failed = 0;

async function build(entry) {
  let binary = null;
  const { error, stderr } = await asc.main(
    [entry, "--baseDir", here, "--optimize", "--runtime", "minimal", "--outFile", "out.wasm"],
    { writeFile: (_name, contents) => { binary = contents; } },
  );
  if (error) throw new Error(`${entry}: ${error.message}\n${stderr.toString()}`);
  return new WebAssembly.Module(binary);
}

/** An AssemblyScript string at `ptr`: UTF-16LE, byte length at ptr - 4. */
function asString(memory, ptr) {
  const bytes = new DataView(memory.buffer).getUint32(ptr - 4, true);
  return Buffer.from(memory.buffer, ptr, bytes).toString("utf16le");
}

function abortWith(instance) {
  return (msg, file, line, col) => {
    const m = instance.exports.memory;
    throw new Error(`abort: ${asString(m, msg)} at ${asString(m, file)}:${line}:${col}`);
  };
}

async function jsonTests() {
  const mod = await build("json.ts");
  const box = {};
  const instance = new WebAssembly.Instance(mod, {
    env: { abort: (...a) => abortWith(box.instance)(...a) },
    test: {
      fail: (name, got, want) => {
        const m = box.instance.exports.memory;
        console.error(`FAIL ${asString(m, name)}\n  got:  ${asString(m, got)}\n  want: ${asString(m, want)}`);
      },
    },
  });
  box.instance = instance;
  const failures = instance.exports.run();
  console.log(`json: ${failures ? failures + " failed" : "ok"}`);
  failed += failures;
  randomRoundTrips(instance.exports);
}

/** Random (and randomly broken) JSON read and written back: what JSON.parse
 * accepts must be accepted and mean the same (keys come back sorted), what
 * it refuses must be refused, and nothing may trap. Lone surrogates are the
 * one difference: refused, as serde_json refuses them. */
function randomRoundTrips(x) {
  let seed = 7;
  const rnd = (n) => { seed = (seed * 1103515245 + 12345) & 0x7fffffff; return (seed >>> 12) % n; };
  const pick = (list) => list[rnd(list.length)];
  const scalars = ['"a"', '"b\\n"', '"\\u00e9"', '"\\ud83d\\ude00"', "1", "-0", "1.5e3", "0.1", "1E+2", "true", "false",
    "null", '""', '"\\/"', "123456789012345678901234567890"];
  const junk = ["{", "}", "[", "]", ",", ":", '"a"', '"\\ud83d"', "01", "1.", "fals", " ", '"x', "\\", '"\\u12"', '"\t"'];
  const gen = (depth) => {
    const r = rnd(8);
    if (depth < 4 && r == 0) return "[" + Array.from({ length: rnd(4) }, () => gen(depth + 1)).join(",") + "]";
    if (depth < 4 && r == 1) return "{" + Array.from({ length: rnd(4) }, () => `"${pick(["a", "b", "é"])}":${gen(depth + 1)}`).join(",") + "}";
    return pick(scalars);
  };
  const sorted = (v) => Array.isArray(v) ? v.map(sorted)
    : v && typeof v == "object" ? Object.fromEntries(Object.keys(v).sort().map((k) => [k, sorted(v[k])])) : v;
  let problems = 0;
  for (let i = 0; i < 3000; i++) {
    let text = gen(0);
    for (let k = rnd(2) ? rnd(3) + 1 : 0; k > 0; k--) {
      const at = rnd(text.length + 1);
      text = rnd(2) ? text.slice(0, at) + pick(junk) + text.slice(at) : text.slice(0, at) + text.slice(at + 1);
    }
    const bytes = Buffer.from(text);
    const ptr = x.allocate(bytes.length);
    new Uint8Array(x.memory.buffer, ptr, bytes.length).set(bytes);
    const packed = BigInt.asUintN(64, x.rewrite(ptr, bytes.length));
    x.free(ptr);
    let want;
    try { want = JSON.stringify(sorted(JSON.parse(text))); } catch { want = null; }
    let got = null;
    if (packed) {
      const out = Number(packed >> 32n), len = Number(packed & 0xffffffffn);
      got = JSON.stringify(sorted(JSON.parse(Buffer.from(x.memory.buffer, out, len).toString())));
      x.free(out);
    }
    const lone = /\\ud[89ab][0-9a-f]{2}(?!\\ud[c-f])|(?<!\\ud[89ab][0-9a-f]{2})\\ud[c-f]/i.test(text);
    if (got !== want && !(lone && got === null)) {
      problems++;
      console.error(`FAIL round trip of ${JSON.stringify(text)}\n  got:  ${got}\n  want: ${want}`);
    }
  }
  console.log(`json round trips: ${problems ? problems + " failed" : "ok"}`);
  failed += problems;
}

/** The host's side of the ABI: buffers in, packed buffers out. */
class Guest {
  constructor(mod) {
    const box = {};
    this.instance = new WebAssembly.Instance(mod, { env: { abort: (...a) => abortWith(box.instance)(...a) } });
    box.instance = this.instance;
    this.x = this.instance.exports;
  }
  put(text) {
    const bytes = Buffer.from(text);
    const ptr = this.x.allocate(bytes.length);
    new Uint8Array(this.x.memory.buffer, ptr, bytes.length).set(bytes);
    return [ptr, bytes.length];
  }
  take(packed) {
    if (packed === 0n) return null;
    const u = BigInt.asUintN(64, packed);
    const ptr = Number(u >> 32n), len = Number(u & 0xffffffffn);
    const text = Buffer.from(this.x.memory.buffer, ptr, len).toString();
    this.x.free(ptr, len);
    return text;
  }
  call(fn, text) {
    const [ptr, len] = this.put(text);
    const out = this.take(this.x[fn](ptr, len));
    this.x.free(ptr, len);
    return out;
  }
  init(config) {
    const [ptr, len] = this.put(config);
    const code = this.x.init(ptr, len);
    this.x.free(ptr, len);
    return code;
  }
  lastError() {
    return this.take(this.x.last_error());
  }
}

function expect(name, got, want) {
  if (got !== want) {
    failed++;
    console.error(`FAIL ${name}\n  got:  ${got}\n  want: ${want}`);
  }
}

async function abiTests() {
  const mod = await build("abi.ts");
  let g = new Guest(mod);
  expect("abi version", g.x.flowctl_abi_version(), 1);
  expect("init", g.init('{"tag":"t"}'), 0);
  expect("one event", g.call("process_event", '{"id":"a","data":{"n":1}}'), '[{"data":0,"metadata":{"tag":"t"}}]');
  expect("dropped", g.call("process_event", '{"id":"a","data":{"n":0}}'), "[]");
  expect("failed event", g.call("process_event", '{"id":"a","data":{"fail":"bad amount"}}'), null);
  expect("its reason", g.lastError(), "bad amount");
  expect("reason taken once", g.lastError(), null);
  expect("not an event", g.call("process_event", "[1]"), null);
  expect("not an event: reason", g.lastError()?.startsWith("input event: invalid type"), true);
  expect("trailing text", g.call("process_event", '{"id":"a"} x'), null);
  expect("trailing text: reason", g.lastError()?.startsWith("input event: trailing characters"), true);

  const batch = '[ {"id":"a","data":{"n":2}} , {"id":"b","data":{"n":0}},{"id":"c","data":{"fail":"no \\"c\\""}}, 5, {"id":"e"} ]';
  expect("batch", g.call("process_batch", batch),
    '[[{"data":0,"metadata":{"tag":"t"}},{"data":1,"metadata":{"tag":"t"}}],[],{"error":"no \\"c\\""},' +
    '{"error":"input event: invalid type: expected struct Event at byte 95"},[{"data":0,"metadata":{"tag":"t"}}]]');
  expect("empty batch", g.call("process_batch", " [ ] "), "[]");
  expect("not an array", g.call("process_batch", '{"id":"a"}'), null);
  expect("not an array: reason", g.lastError(), "input batch: expected a JSON array of events");
  expect("broken batch", g.call("process_batch", '[{"id":"a"},{"id":]'), null);
  expect("broken batch: reason", g.lastError()?.startsWith("input batch: event 2 (at byte 12)"), true);
  expect("missing comma", g.call("process_batch", '[{"id":"a"} {"id":"b"}]'), null);
  expect("missing comma: reason", g.lastError()?.startsWith("input batch: expected `,` or `]` after event 1"), true);
  expect("text after the array", g.call("process_batch", "[] x"), null);

  // Garbage is collected: memory stays flat over many calls.
  const big = "[" + Array.from({ length: 500 }, (_, i) => `{"id":"e${i}","data":{"n":1,"pad":"${"x".repeat(200)}"}}`).join(",") + "]";
  for (let i = 0; i < 20; i++) g.call("process_batch", big);
  const pages = g.x.memory.buffer.byteLength;
  for (let i = 0; i < 200; i++) g.call("process_batch", big);
  expect("memory stays flat", g.x.memory.buffer.byteLength, pages);

  g = new Guest(mod);
  expect("init refused", g.init('{"refuse":"no thanks"}'), 1);
  expect("init refused: reason", g.lastError(), "no thanks");
  g = new Guest(mod);
  expect("bad config", g.init("{"), 1);
  expect("bad config: reason", g.lastError()?.startsWith("config: "), true);
  g = new Guest(mod);
  expect("no init: configured from {}", g.call("process_event", '{"id":"a"}'), '[{"data":0,"metadata":{"tag":"none"}}]');
  g = new Guest(mod);
  expect("blank config is {}", g.init("  "), 0);
  console.log(`abi: ${failed ? "see failures above" : "ok"}`);
}

await jsonTests();
await abiTests();
process.exit(failed ? 1 : 0);
