// @flowctl/sdk: write flowctl processors in AssemblyScript (guest ABI v1).
//
//   import { Event, map } from "@flowctl/sdk";
//   function tag(e: Event): Event { e.metadata.set("seen", "yes"); return e; }
//   map(tag);
//   export * from "@flowctl/sdk/exports";

export { Event } from "./event";
export { Kind, Value } from "./json/value";
export { byCodePoint as compareStrings } from "./json/sorted";
export { RawValue } from "./field";
export { map, filter, flatMap, filterField, onInit, fail } from "./processor";
export { host, Level, Method } from "./host";
export { state, StateError } from "./state";
export { parsedNumber } from "./json/number";
