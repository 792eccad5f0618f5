// The host functions a pipeline may grant (docs/abi.md, "Host imports").
// AssemblyScript emits an import only for a function the program calls, so
// a module's imports say exactly what it needs; a call the pipeline did not
// grant ends the event with `capability denied: <function>`.

// @ts-ignore: decorator
@external("flowctl", "log")
declare function hostLog(level: i32, ptr: usize, len: usize): void;

// @ts-ignore: decorator
@external("flowctl", "record_metric")
declare function hostRecordMetric(namePtr: usize, nameLen: usize, value: f64): void;

// @ts-ignore: decorator
@external("flowctl", "http_request")
declare function hostHttpRequest(method: i32, urlPtr: usize, urlLen: usize, bodyPtr: usize, bodyLen: usize): i64;

/** Log levels of `log` (ABI v1 numbering). */
export enum Level {
  Debug = 0,
  Info = 1,
  Warn = 2,
  Error = 3,
}

/** HTTP methods of `http_request` (ABI v1 numbering). */
export enum Method {
  Get = 0,
  Post = 1,
  Put = 2,
  Delete = 3,
  Patch = 4,
  Head = 5,
}

export namespace host {
  /** Writes `message` to flowctl's log, tagged with the processor's name. */
  export function log(level: Level, message: string): void {
    const bytes = String.UTF8.encode(message);
    hostLog(level, changetype<usize>(bytes), <usize>bytes.byteLength);
  }

  export function debug(message: string): void { log(Level.Debug, message); }
  export function info(message: string): void { log(Level.Info, message); }
  export function warn(message: string): void { log(Level.Warn, message); }
  export function error(message: string): void { log(Level.Error, message); }

  /** Sets the gauge `flowctl_guest_<name>{processor=...}` to `value`. */
  export function recordMetric(name: string, value: f64): void {
    const bytes = String.UTF8.encode(name);
    hostRecordMetric(changetype<usize>(bytes), <usize>bytes.byteLength, value);
  }

  /** Why the last `http` call returned null. */
  export let httpError: string = "";

  /** Sends a request to an allowed domain; the response body (whatever the
   * status), or null when denied or failed (`host.httpError`; the host logs
   * the reason). */
  export function http(method: Method, url: string, body: ArrayBuffer | null = null): ArrayBuffer | null {
    const u = String.UTF8.encode(url);
    const bodyPtr = body !== null ? changetype<usize>(body) : 0;
    const bodyLen = body !== null ? <usize>body.byteLength : 0;
    const packed = hostHttpRequest(method, changetype<usize>(u), <usize>u.byteLength, bodyPtr, bodyLen);
    if (packed == 0) {
      httpError = "http " + methodName(method) + " " + url + ": denied or failed (see flowctl's log)";
      return null;
    }
    return takeBuffer(packed);
  }

  /** `http(Method.Get, url)`. */
  export function httpGet(url: string): ArrayBuffer | null {
    return http(Method.Get, url);
  }
}

/** The Rust SDK's wording (`{method:?}`), so messages read the same. */
function methodName(m: Method): string {
  switch (m) {
    case Method.Get: return "Get";
    case Method.Post: return "Post";
    case Method.Put: return "Put";
    case Method.Delete: return "Delete";
    case Method.Patch: return "Patch";
  }
  return "Head";
}

/** Copies a packed buffer the host made with our `allocate` into a GC'd
 * ArrayBuffer and frees it: the caller owns it from then on. */
export function takeBuffer(packed: i64): ArrayBuffer {
  const ptr = <usize>(<u64>packed >> 32);
  const len = <usize>(<u64>packed & 0xffffffff);
  const buf = new ArrayBuffer(<i32>len);
  memory.copy(changetype<usize>(buf), ptr, len);
  if (ptr) heap.free(ptr);
  return buf;
}
