// The package entry for `import ... from "@flowctl/sdk"` (asc resolves a
// package to its index.ts).
export * from "./assembly/index";
