// A few lines of test harness: failures are reported to the node runner
// (tests/run.mjs), which prints them and sets the exit code.

// @ts-ignore: decorator
@external("test", "fail")
declare function reportFailure(name: string, got: string, want: string): void;

let failures = 0;

export function eq(name: string, got: string, want: string): void {
  if (got != want) {
    failures++;
    reportFailure(name, got, want);
  }
}

export function ok(name: string, condition: bool): void {
  if (!condition) {
    failures++;
    reportFailure(name, "false", "true");
  }
}

export function failureCount(): i32 {
  return failures;
}
