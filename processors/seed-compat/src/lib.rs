//! The design document's example processor, written against the original
//! contract (no SDK, host imports from module `env`, no `init`, no
//! `flowctl_abi_version`), kept to prove flowctl runs such modules unchanged.
//!
//! Four edits were needed for the example to build and run, none touching
//! the contract: the host imports live in `mod host` (the example declared
//! `record_metric` twice in one scope), `extract_token_transfers` is defined
//! (the example left it out), the transfers' count is taken before they are
//! moved into the event, and the import block names its module (`env`, as the
//! bare block did implicitly): without it, wasm32's linker resolves `log` to
//! the C library's `log(double)`, and every call traps.
#![allow(clippy::missing_safety_doc)]

use serde::{Deserialize, Serialize};

#[derive(Deserialize, Serialize)]
pub struct Event {
    pub id: String,
    pub timestamp: i64,
    pub data: serde_json::Value,
    pub metadata: std::collections::HashMap<String, String>,
}

mod host {
    // External function declarations (host functions), from module `env`.
    #[link(wasm_import_module = "env")]
    extern "C" {
        pub fn log(level: u32, msg_ptr: *const u8, msg_len: usize);
        pub fn record_metric(name_ptr: *const u8, name_len: usize, value: f64);
    }
}

// Memory management
#[no_mangle]
pub extern "C" fn allocate(size: usize) -> *mut u8 {
    let mut buf = Vec::with_capacity(size);
    let ptr = buf.as_mut_ptr();
    std::mem::forget(buf);
    ptr
}

#[no_mangle]
pub extern "C" fn free(ptr: *mut u8, size: usize) {
    unsafe {
        let _ = Vec::from_raw_parts(ptr, 0, size);
    }
}

// Main processing function
#[no_mangle]
pub extern "C" fn process_event(input_ptr: *const u8, input_len: usize) -> u64 {
    let input_bytes = unsafe { std::slice::from_raw_parts(input_ptr, input_len) };
    let event: Event = match serde_json::from_slice(input_bytes) {
        Ok(e) => e,
        Err(_) => return 0,
    };
    let processed = match process(event) {
        Ok(e) => e,
        Err(_) => return 0,
    };
    let output_bytes = match serde_json::to_vec(&processed) {
        Ok(bytes) => bytes,
        Err(_) => return 0,
    };
    let output_ptr = allocate(output_bytes.len());
    unsafe {
        std::ptr::copy_nonoverlapping(output_bytes.as_ptr(), output_ptr, output_bytes.len());
    }
    ((output_ptr as u64) << 32) | (output_bytes.len() as u64)
}

fn process(mut event: Event) -> Result<Event, Box<dyn std::error::Error>> {
    if let Some(transaction) = event.data.get("transaction") {
        let token_transfers = extract_token_transfers(transaction)?;
        let count = token_transfers.len();
        event.data["token_transfers"] = serde_json::to_value(token_transfers)?;
        event.metadata.insert("processor".to_string(), "ttp-processor-wasm".to_string());
        log_info("Processed transaction for token transfers");
        record_metric("token_transfers_extracted", count as f64);
    }
    Ok(event)
}

/// The payments of a Horizon transaction's `operations`, as `{from, to, amount}`.
fn extract_token_transfers(
    transaction: &serde_json::Value,
) -> Result<Vec<serde_json::Value>, Box<dyn std::error::Error>> {
    let operations = transaction.get("operations").and_then(|o| o.as_array()).map(Vec::as_slice).unwrap_or_default();
    Ok(operations
        .iter()
        .filter(|op| op.get("type").and_then(|t| t.as_str()) == Some("payment"))
        .map(|op| serde_json::json!({"from": op["from"], "to": op["to"], "amount": op["amount"]}))
        .collect())
}

fn log_info(msg: &str) {
    unsafe {
        host::log(1, msg.as_ptr(), msg.len());
    }
}

fn record_metric(name: &str, value: f64) {
    unsafe {
        host::record_metric(name.as_ptr(), name.len(), value);
    }
}
