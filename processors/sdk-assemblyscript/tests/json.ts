// Unit tests of the SDK's JSON reader and writer, the event envelope and
// the in-place field reader. Run by tests/run.mjs (`npm test`).

import { Event, RawValue, Value, parsedNumber } from "../assembly/index";
import { FieldPath } from "../assembly/field";
import { Reader } from "../assembly/json/read";
import { Sink } from "../assembly/json/sink";
import { parseNumber, parseTrimmedNumber } from "../assembly/json/number";
import { eq, ok, failureCount } from "./harness";

function roundTrip(json: string): string {
  const v = Value.parse(json);
  return v !== null ? v.toString() : "error: " + Value.lastError;
}

function refused(json: string): bool {
  return Value.parse(json) === null;
}

function number(text: string, trimmed: bool = false): string {
  const bytes = String.UTF8.encode(text);
  const p = changetype<usize>(bytes);
  const end = p + <usize>bytes.byteLength;
  const read = trimmed ? parseTrimmedNumber(p, end) : parseNumber(p, end);
  return read ? parsedNumber.toString() : "none";
}

function testValues(): void {
  eq("compact", roundTrip(' { "a" : 1 , "b" : [ true , false , null ] , "c" : "x" } '), '{"a":1,"b":[true,false,null],"c":"x"}');
  eq("numbers keep their text", roundTrip('[150.0000000,1000,-0,1.5e10,1E+2,12345678901234567890123]'),
    '[150.0000000,1000,-0,1.5e10,1E+2,12345678901234567890123]');
  eq("keys sorted, as serde_json's Value", roundTrip('{"z":1,"a":2,"é":3,"\uffff":4,"😀":5}'), '{"a":2,"z":1,"é":3,"\uffff":4,"😀":5}');
  eq("a repeated key keeps its last value", roundTrip('{"b":1,"a":2,"b":3}'), '{"a":2,"b":3}');
  eq("nested", roundTrip('{"a":{"b":{"c":[[],{}]}}}'), '{"a":{"b":{"c":[[],{}]}}}');
  eq("empty containers", roundTrip("[{},[],\"\"]"), '[{},[],""]');

  // Strings: escapes resolved when read, written as serde_json writes them.
  eq("escapes", roundTrip('"\\"\\\\\\/\\b\\f\\n\\r\\t"'), '"\\"\\\\/\\b\\f\\n\\r\\t"');
  eq("\\u escapes to UTF-8", roundTrip('"\\u00e9\\u20AC"'), '"é€"');
  eq("surrogate pair", roundTrip('"\\ud83d\\ude00"'), '"😀"');
  const smile = Value.parse('"\\ud83d\\ude00"')!;
  eq("surrogate pair is one character", smile.asString()!, "😀");
  eq("raw UTF-8 passes", roundTrip('"héllo 😀"'), '"héllo 😀"');
  eq("control characters as \\u00XX", Value.string("a\u0001b\u001f").toString(), '"a\\u0001b\\u001f"');
  eq("lone surrogate written as U+FFFD", Value.string("a\uD800b").toString(), '"a\uFFFDb"');
  ok("lone leading surrogate refused", refused('"\\ud83d"'));
  ok("lone trailing surrogate refused", refused('"\\ude00x"'));
  ok("leading surrogate + non-surrogate refused", refused('"\\ud83d\\u0041"'));

  // Syntax errors.
  const bad = ['{"a":}', "[1,]", "01", "1.", "-", "1e", '"abc', '{"a" 1}', "[1 2]", "tru", "nul",
    '{"a":1}x', '"\\x"', '"\\u12"', '"a\nb"', "", "{", "[", '{"a":1,}', "{1:2}", "+1", ".5"];
  for (let i = 0; i < bad.length; i++) ok("refused: " + bad[i], refused(bad[i]));
  let deep = "";
  for (let i = 0; i < 200; i++) deep += "[";
  ok("nesting limit", refused(deep));

  // Building values.
  const o = Value.object().set("n", Value.integer(-42)).set("f", Value.number(0.5)).set("s", Value.string("q\""));
  o.set("arr", Value.array().push(Value.bool(true)).push(Value.null()));
  eq("built", o.toString(), '{"arr":[true,null],"f":0.5,"n":-42,"s":"q\\""}');
  eq("NaN is null", Value.number(NaN).toString(), "null");
  eq("lookup", Value.parse('{"a":{"b":[10,{"c":"x"}]}}')!.lookup("a.b.1.c")!.asString()!, "x");
  ok("lookup misses", Value.parse('{"a":[1]}')!.lookup("a.5") === null);
  ok("remove", o.remove("n") && !o.has("n") && o.length == 3);

  // Equality as serde_json's: key order ignored, 1 != 1.0, 1.0 == 1.00.
  ok("objects equal in any order", Value.parse('{"a":1,"b":[2]}')!.equals(Value.parse('{"b":[2],"a":1}')!));
  ok("int is not float", !Value.parse("1")!.equals(Value.parse("1.0")!));
  ok("floats by value", Value.parse("1.0")!.equals(Value.parse("1.00")!));
  const original = Value.parse('{"x":{"y":1}}')!;
  original.clone().get("x")!.set("y", Value.integer(2));
  eq("clone is deep", original.toString(), '{"x":{"y":1}}');

  // Many keys, in any order.
  const big = Value.object();
  for (let i = 39; i >= 0; i--) big.set("k" + ((i * 7) % 40).toString(), Value.integer((i * 7) % 40));
  big.set("k7", Value.integer(70));
  ok("big object", big.length == 40 && big.get("k7")!.numberText() == "70" && big.get("k39")!.numberText() == "39");
}

function testNumbers(): void {
  eq("integer", number("1000"), "1000.0");
  eq("decimal", number("150.0000000"), "150.0");
  eq("fraction", number("0.1"), "0.1");
  eq("exponent", number("1.5e3"), "1500.0");
  eq("negative exponent", number("25e-1"), "2.5");
  eq("long mantissa", number("3.14159265358979323846264338327950288"), "3.141592653589793");
  eq("big", number("1e300"), "1e+300");
  eq("huge is infinity", number("1e400"), "Infinity");
  eq("tiny", number("5e-324"), "5e-324");
  eq("rust forms: .5", number(".5"), "0.5");
  eq("rust forms: 5.", number("5."), "5.0");
  eq("rust forms: +5", number("+5"), "5.0");
  eq("inf", number("-Infinity"), "-Infinity");
  eq("nan", number("NaN"), "NaN");
  eq("not a number", number("12abc"), "none");
  eq("hex is not", number("0x10"), "none");
  eq("empty", number(""), "none");
  eq("lone dot", number("."), "none");
  eq("trimmed", number(" \t12.5\n ", true), "12.5");
  eq("unicode space trimmed", number("\u00a012.5\u3000", true), "12.5");
  eq("untrimmed refused", number(" 12.5"), "none");
}

function testEvents(): void {
  const e = Event.parse('{"id":"a","type":"t","timestamp":5,"data":{"x":[1,{"y":2}]},"metadata":{"b":"2","a":"1"}}')!;
  eq("event get data", e.get("data.x.1.y")!.toString(), "2");
  eq("event get id", e.get("id")!.asString()!, "a");
  eq("event get timestamp", e.get("timestamp")!.toString(), "5");
  eq("event get metadata", e.get("metadata.a")!.asString()!, "1");
  ok("event get missing", e.get("data.missing") === null && e.get("elsewhere") === null);
  eq("metadata sorted, data as read", e.toString(),
    '{"id":"a","type":"t","timestamp":5,"data":{"x":[1,{"y":2}]},"metadata":{"a":"1","b":"2"}}');

  const raw = Event.parse('{"id":"r","data":{"b" : 1.50, "a":"\\u00e9"}}')!;
  eq("untouched data written as it came", raw.toString(), '{"id":"r","data":{"b" : 1.50, "a":"\\u00e9"}}');

  const n = new Event("t", Value.null());
  ok("set data path", n.set("data.a.b", Value.integer(1)));
  ok("set metadata", n.set("metadata.n", Value.integer(5)) && n.set("metadata.s", Value.string("x")));
  ok("set elsewhere", !n.set("elsewhere", Value.integer(1)));
  eq("defaults left out", n.toString(), '{"type":"t","data":{"a":{"b":1}},"metadata":{"n":"5","s":"x"}}');
  eq("empty event", new Event().toString(), '{"data":null}');
  const over = new Event("t", Value.integer(3));
  over.set("data.a", Value.integer(1));
  eq("set replaces a non-object", over.toString(), '{"type":"t","data":{"a":1}}');

  const absent = Event.parse('{"id":"m"}')!;
  eq("missing data is null, missing metadata left out", absent.toString(), '{"id":"m","data":null}');
  eq("data null by default", absent.get("data")!.toString(), "null");

  ok("id must be a string", Event.parse('{"id":5}') === null);
  ok("timestamp must be an integer", Event.parse('{"timestamp":1.5}') === null);
  ok("timestamp within i64", Event.parse('{"timestamp":9223372036854775808}') === null);
  ok("negative timestamp", Event.parse('{"timestamp":-9223372036854775808}') !== null);
  ok("metadata values are strings", Event.parse('{"metadata":{"a":1}}') === null);
  ok("metadata is not null", Event.parse('{"metadata":null}') === null);
  ok("no field twice", Event.parse('{"id":"a","id":"b"}') === null);
  eq("duplicate message", Event.lastError.substring(0, 19), "duplicate field `id");
  ok("not an object", Event.parse("[1]") === null);
  ok("unknown fields skipped", Event.parse('{"x":{"deep":[1,2]},"id":"u"}')!.id == "u");
  ok("escaped field names", Event.parse('{"\\u0069d":"e"}')!.id == "e");
}

function field(event: string, path: string): string {
  const bytes = String.UTF8.encode(event);
  const r = new Reader().reset(changetype<usize>(bytes), <usize>bytes.byteLength);
  const v = new RawValue();
  const found = v.scan(r, FieldPath.parse(path));
  if (found < 0) return "error: " + r.error!;
  return found ? v.toValue().toString() : "absent";
}

function testFields(): void {
  const e = '{"id":"i","type":"t","timestamp":7,"data":{"amount":"150.0000000","n":[1,{"k":true}],"a":{"b":null}},"metadata":{"m.k":"v"}}';
  eq("field data", field(e, "data.amount"), '"150.0000000"');
  eq("field array index", field(e, "data.n.1.k"), "true");
  eq("field null", field(e, "data.a.b"), "null");
  eq("field object", field(e, "data.a"), '{"b":null}');
  eq("field whole data", field(e, "data"), '{"a":{"b":null},"amount":"150.0000000","n":[1,{"k":true}]}');
  eq("field id", field(e, "id"), '"i"');
  eq("field timestamp", field(e, "timestamp"), "7");
  eq("field metadata key with a dot", field(e, "metadata.m.k"), '"v"');
  eq("field missing", field(e, "data.nope"), "absent");
  eq("field through a scalar", field(e, "data.amount.x"), "absent");
  eq("field elsewhere", field(e, "nowhere"), "absent");
  eq("defaults: id", field('{"data":1}', "id"), '""');
  eq("defaults: timestamp", field('{"data":1}', "timestamp"), "0");
  eq("defaults: data", field('{"id":"x"}', "data"), "null");
  eq("repeated key: the last", field('{"data":{"a":1,"a":2}}', "data.a"), "2");
  eq("repeated key: the last, even absent", field('{"data":{"a":{"b":1},"a":{}}}', "data.a.b"), "absent");
  eq("escaped key", field('{"data":{"\\u0061mount":5}}', "data.amount"), "5");
  ok("checks the envelope", field('{"id":1,"data":{}}', "data").startsWith("error"));
  ok("checks the rest", field('{"data":{"a":1},"metadata":{"x":2}}', "data.a").startsWith("error"));
  ok("checks duplicates", field('{"data":1,"data":2}', "data").startsWith("error"));

  const v = new RawValue();
  const text = String.UTF8.encode('{"data":{"a":" 12.5 ","b":"\\u0031\\u0032","c":"x","d":3e2}}');
  const r = new Reader();
  const paths = ["data.a", "data.b", "data.c", "data.d"];
  const want: f64[] = [12.5, 12, NaN, 300];
  for (let i = 0; i < paths.length; i++) {
    r.reset(changetype<usize>(text), <usize>text.byteLength);
    v.scan(r, FieldPath.parse(paths[i]));
    const got = v.asNumber();
    ok("asNumber " + paths[i], isNaN(want[i]) ? isNaN(got) : got == want[i]);
  }
}

export function run(): i32 {
  testValues();
  testNumbers();
  testEvents();
  testFields();
  return failureCount();
}

// For the random round trips of run.mjs, compared with JSON.parse.

export function allocate(size: i32): i32 {
  return <i32>heap.alloc(<usize>size);
}

export function free(ptr: i32): void {
  heap.free(<usize>ptr);
}

/** The compact JSON of the text at `ptr`, packed; 0 when it is refused. */
export function rewrite(ptr: i32, len: i32): i64 {
  const v = Value.parseBytes(<usize>ptr, <usize>len);
  if (v === null) return 0;
  const out = new Sink(64);
  v.write(out);
  const packed = out.take();
  __collect();
  return packed;
}
