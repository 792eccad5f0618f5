//! The host functions a pipeline may grant: log, metrics and HTTP.
//!
//! Each is imported from module `flowctl` only when a processor calls it, so
//! a module's imports say exactly what it needs. A call the pipeline did not
//! grant ends the event with `capability denied: <function>`. Outside wasm
//! (unit tests on the host), `log` prints to stderr, `record_metric` does
//! nothing and `http` fails.

use crate::{Error, Result};

/// Log levels of `log` (ABI v1 numbering).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(i32)]
pub enum Level {
    Debug = 0,
    Info = 1,
    Warn = 2,
    Error = 3,
}

/// HTTP methods of `http_request` (ABI v1 numbering).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(i32)]
pub enum Method {
    Get = 0,
    Post = 1,
    Put = 2,
    Delete = 3,
    Patch = 4,
    Head = 5,
}

#[cfg(target_arch = "wasm32")]
mod imports {
    #[link(wasm_import_module = "flowctl")]
    extern "C" {
        pub fn log(level: i32, ptr: *const u8, len: i32);
        pub fn record_metric(name_ptr: *const u8, name_len: i32, value: f64);
        pub fn http_request(method: i32, url_ptr: *const u8, url_len: i32, body_ptr: *const u8, body_len: i32) -> i64;
    }
}

/// Writes `message` to flowctl's log, tagged with the processor's name.
pub fn log(level: Level, message: &str) {
    #[cfg(target_arch = "wasm32")]
    // SAFETY: the pointer and length describe `message`, alive for the call.
    unsafe {
        imports::log(level as i32, message.as_ptr(), message.len() as i32)
    };
    #[cfg(not(target_arch = "wasm32"))]
    eprintln!("[{level:?}] {message}");
}

pub fn debug(message: &str) {
    log(Level::Debug, message)
}

pub fn info(message: &str) {
    log(Level::Info, message)
}

pub fn warn(message: &str) {
    log(Level::Warn, message)
}

pub fn error(message: &str) {
    log(Level::Error, message)
}

/// Sets the gauge `flowctl_guest_<name>{processor=...}` to `value`.
pub fn record_metric(name: &str, value: f64) {
    #[cfg(target_arch = "wasm32")]
    // SAFETY: the pointer and length describe `name`, alive for the call.
    unsafe {
        imports::record_metric(name.as_ptr(), name.len() as i32, value)
    };
    #[cfg(not(target_arch = "wasm32"))]
    let _ = (name, value);
}

/// Sends an HTTP request to an allowed domain and returns the response body.
pub fn http(method: Method, url: &str, body: &[u8]) -> Result<Vec<u8>> {
    #[cfg(target_arch = "wasm32")]
    {
        // SAFETY: pointers and lengths describe `url` and `body`, alive for the call.
        let packed = unsafe {
            imports::http_request(method as i32, url.as_ptr(), url.len() as i32, body.as_ptr(), body.len() as i32)
        };
        if packed == 0 {
            return Err(Error::new(format!("http {method:?} {url}: denied or failed (see flowctl's log)")));
        }
        // SAFETY: the host allocated the body with our `allocate(len)`, which
        // made a Vec of exactly that capacity, and hands its ownership to us.
        Ok(unsafe { crate::abi::take_buffer(packed) })
    }
    #[cfg(not(target_arch = "wasm32"))]
    {
        let _ = body;
        Err(Error::new(format!("http {method:?} {url}: only available inside flowctl")))
    }
}

/// `http(Method::Get, url, &[])`.
pub fn http_get(url: &str) -> Result<Vec<u8>> {
    http(Method::Get, url, &[])
}
