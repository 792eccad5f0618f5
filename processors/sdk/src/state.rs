//! Processor state: keys and values (bytes) kept by flowctl, not in the
//! module's memory, so they survive instance restarts, hot reloads (the new
//! version sees the old one's state) and crashes, committed together with the
//! source positions of the events that wrote them. Granted by
//! `permissions.state` (`flowctl test --allow-state`).
//!
//! Writes made while processing a batch take effect only if the call
//! succeeds; reads see them at once. Outside wasm (unit tests on the host)
//! the state is a map in this thread.

/// Why a write was refused: the caps of the processor's `limits`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StateError {
    /// The key is longer than `limits.max_state_key`.
    KeyTooLarge,
    /// The value is longer than `limits.max_state_value`.
    ValueTooLarge,
    /// The processor's state would pass `limits.max_state`.
    StateFull,
    /// A code this SDK does not know (a newer host).
    Unknown(i64),
}

impl std::fmt::Display for StateError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StateError::KeyTooLarge => write!(f, "state key too large"),
            StateError::ValueTooLarge => write!(f, "state value too large"),
            StateError::StateFull => write!(f, "processor state full"),
            StateError::Unknown(code) => write!(f, "state error {code}"),
        }
    }
}

/// Converts into the SDK's [`crate::Error`] with `?` (as every `std::error::Error` does).
impl std::error::Error for StateError {}

#[cfg_attr(not(target_arch = "wasm32"), allow(dead_code))]
fn refusal(code: i64) -> StateError {
    match code {
        1 | -2 => StateError::KeyTooLarge,
        2 => StateError::ValueTooLarge,
        3 => StateError::StateFull,
        other => StateError::Unknown(other),
    }
}

#[cfg(target_arch = "wasm32")]
mod imports {
    #[link(wasm_import_module = "flowctl")]
    extern "C" {
        pub fn state_get(key_ptr: *const u8, key_len: i32) -> i64;
        pub fn state_set(key_ptr: *const u8, key_len: i32, value_ptr: *const u8, value_len: i32) -> i32;
        pub fn state_delete(key_ptr: *const u8, key_len: i32) -> i32;
    }
}

#[cfg(not(target_arch = "wasm32"))]
thread_local! {
    static LOCAL: std::cell::RefCell<std::collections::HashMap<Vec<u8>, Vec<u8>>> = Default::default();
}

/// The value of `key`, if it has one.
pub fn get(key: &[u8]) -> Result<Option<Vec<u8>>, StateError> {
    #[cfg(target_arch = "wasm32")]
    {
        // SAFETY: the pointer and length describe `key`, alive for the call.
        let packed = unsafe { imports::state_get(key.as_ptr(), key.len() as i32) };
        match packed {
            -1 => Ok(None),
            0 => Ok(Some(Vec::new())),
            code if code < 0 => Err(refusal(code)),
            // SAFETY: the host allocated the value with our `allocate(len)` and hands it over.
            packed => Ok(Some(unsafe { crate::abi::take_buffer(packed) })),
        }
    }
    #[cfg(not(target_arch = "wasm32"))]
    Ok(LOCAL.with(|m| m.borrow().get(key).cloned()))
}

/// Sets `key` to `value`.
pub fn set(key: &[u8], value: &[u8]) -> Result<(), StateError> {
    #[cfg(target_arch = "wasm32")]
    {
        // SAFETY: pointers and lengths describe `key` and `value`, alive for the call.
        let code = unsafe { imports::state_set(key.as_ptr(), key.len() as i32, value.as_ptr(), value.len() as i32) };
        match code {
            0 => Ok(()),
            code => Err(refusal(i64::from(code))),
        }
    }
    #[cfg(not(target_arch = "wasm32"))]
    {
        LOCAL.with(|m| m.borrow_mut().insert(key.to_vec(), value.to_vec()));
        Ok(())
    }
}

/// Removes `key` (nothing happens if it has no value).
pub fn delete(key: &[u8]) -> Result<(), StateError> {
    #[cfg(target_arch = "wasm32")]
    {
        // SAFETY: the pointer and length describe `key`, alive for the call.
        let code = unsafe { imports::state_delete(key.as_ptr(), key.len() as i32) };
        match code {
            0 => Ok(()),
            code => Err(refusal(i64::from(code))),
        }
    }
    #[cfg(not(target_arch = "wasm32"))]
    {
        LOCAL.with(|m| m.borrow_mut().remove(key));
        Ok(())
    }
}

/// A counter under `key`: its value plus `by`, stored as a decimal string.
pub fn add(key: &[u8], by: i64) -> Result<i64, StateError> {
    let now = get(key)?.and_then(|v| std::str::from_utf8(&v).ok()?.parse::<i64>().ok()).unwrap_or(0) + by;
    set(key, now.to_string().as_bytes())?;
    Ok(now)
}
