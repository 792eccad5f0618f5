// The ABI exports, for a processor's entry file to re-export in one line:
//   export * from "@flowctl/sdk/exports";
export * from "./assembly/exports";
