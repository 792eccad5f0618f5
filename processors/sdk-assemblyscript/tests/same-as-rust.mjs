// Differential check, outside `npm test` (it needs a flowctl binary and the
// built modules): runs random events through the Rust and AssemblyScript
// builds of filter and enrich under random configurations with
// `flowctl test`, and reports any difference in outputs, failed events or
// refused configurations.
//
//   node processors/sdk-assemblyscript/tests/same-as-rust.mjs target/debug/flowctl [RUNS] [SEED]
//
// Run from the repository root after building processors/{filter,enrich}{,-as}.wasm.
import { spawnSync } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { isDeepStrictEqual } from "node:util";

const [flowctl, runs = "100", seedArg = "1"] = process.argv.slice(2);
if (!flowctl) throw new Error("usage: same-as-rust.mjs FLOWCTL [RUNS] [SEED]");
let seed = Number(seedArg);
const rnd = (n) => { seed = (seed * 1103515245 + 12345) & 0x7fffffff; return (seed >>> 12) % n; };
const pick = (list) => list[rnd(list.length)];
const dir = mkdtempSync(join(tmpdir(), "same-as-rust-"));

const scalars = [0, 1, 100, 99.5, -3, 1e3, 5000, 1234.56, 12345678901234567890, "100", " 100 ", "100.0000000",
  "abc", "", "NaN", "inf", "1e2", ".5", "5.", "+7", "\u00a0100", null, true, false, "é😀", 'a"b', "\\u0041"];
function value(depth = 0) {
  const r = rnd(10);
  if (depth < 2 && r == 0) return Array.from({ length: rnd(4) }, () => value(depth + 1));
  if (depth < 2 && r == 1) {
    const o = {};
    for (let i = rnd(3); i > 0; i--) o[pick(["a", "b", "amount", "x"])] = value(depth + 1);
    return o;
  }
  return pick(scalars);
}
function event(i) {
  const e = { id: `e-${i}` };
  if (rnd(4)) e.type = pick(["t.v1", "payment.v1", "", "x"]);
  if (rnd(4)) e.timestamp = pick([0, 1700000000000, -5, 100]);
  const data = {};
  for (const k of ["amount", "tags", "obj", "list", "name"]) if (rnd(3)) data[k] = value();
  if (rnd(8)) e.data = data;
  else if (rnd(2)) e.data = value();
  if (rnd(2)) e.metadata = Object.fromEntries([["region", pick(["eu", "100", " 5"])], ["a.b", "x"]].filter(() => rnd(2)));
  const text = JSON.stringify(e);
  return rnd(5) ? text : text.replace('"amount"', '"\\u0061mount"');
}

const filterConfig = () => {
  const config = {
    field: pick(["data.amount", "data.tags", "data.obj", "data.obj.a", "data.list.0", "data", "id", "type",
      "timestamp", "metadata.region", "metadata.a.b", "metadata.none", "nope"]),
    op: pick(["exists", "missing", "eq", "ne", "gt", "gte", "lt", "lte", "contains", "in"]),
  };
  if (rnd(8)) config.value = pick([100, "100", "abc", 1.5, 5000, [100, "eu", "abc"], null, true, { a: 1 }, "a", "", "NaN", [1, "100.0"], "e-1"]);
  return config;
};
const enrichConfig = () => {
  const set = {};
  for (let i = rnd(4); i > 0; i--) {
    set[pick(["data.a", "data.a.b", "data.obj.x", "data.list.1", "metadata.k", "metadata.a.b", "id", "data."])] =
      pick([1, "x", 1.5, null, true, { b: [1, 2] }, "é😀\n", 12345678901234567890]);
  }
  return { set };
};

function run(module, input, config, batch) {
  const r = spawnSync(flowctl, ["test", module, "--input", input, "--config", config, "--batch", String(batch)], { encoding: "utf8" });
  const outputs = r.stdout.split("\n").filter(Boolean).map((line) => {
    const e = JSON.parse(line);
    delete e.metadata["flowctl.module_version"];
    return e;
  });
  const failed = r.stderr.split("\n").filter((l) => l.startsWith("event ")).map((l) => l.split(":")[0]);
  return { outputs, failed, status: r.status };
}

let differing = 0;
for (let i = 0; i < Number(runs); i++) {
  const input = join(dir, "events.jsonl");
  writeFileSync(input, Array.from({ length: 40 }, (_, n) => event(n)).join("\n") + "\n");
  const [name, config] = rnd(2) ? ["filter", filterConfig()] : ["enrich", enrichConfig()];
  const batch = pick([1, 7, 40]);
  const [rust, as] = [`processors/${name}.wasm`, `processors/${name}-as.wasm`].map((m) => run(m, input, JSON.stringify(config), batch));
  if (!isDeepStrictEqual(rust, as)) {
    differing++;
    console.log(`differs: ${name} ${JSON.stringify(config)} --batch ${batch} (${input}, seed ${seedArg}, run ${i})`);
  }
}
console.log(`${runs} runs, ${differing} differing`);
process.exit(differing ? 1 : 0);
