//! `state_get`, `state_set`, `state_delete` (module `flowctl`, granted by
//! `permissions.state`): the processor's keyed state, kept by the host
//! ([`crate::progress::keyed`]). A call's writes are held in its
//! [`StateCall`] and applied only if the call succeeds.
//!
//! Codes (`docs/abi.md`): `state_get` returns the value as a packed buffer
//! from the guest's `allocate` (`0` for an empty value), `-1` when the key has
//! none, `-2` when the key is longer than `limits.max_state_key`.
//! `state_set` and `state_delete` return `0`, or `1` key too large, `2` value
//! too large, `3` the processor's state is full.

use std::collections::HashMap;
use std::sync::Arc;

use wasmtime::{Caller, Linker};

use super::host::{read, write_to_guest};
use super::host_calls::{CallResult, HostFn};
use super::store::StoreData;
use crate::event::Event;
use crate::progress::{ProcessorState, Span, StateRefusal};

const ABSENT: i64 = -1;
const KEY_TOO_LARGE: i64 = -2;

/// The state writes of the guest call in progress, and those of earlier
/// successful calls that wait for their caller to settle them: a worker
/// applies them only once it knows the call still counts (see
/// [`super::InstanceSlot::call_settled`]).
#[derive(Default)]
pub struct StateCall {
    writes: HashMap<Vec<u8>, Option<Vec<u8>>>,
    /// Key and value bytes the held and current writes add.
    bytes: u64,
    span: Span,
    held: HashMap<Vec<u8>, Option<Vec<u8>>>,
    held_bytes: u64,
    held_span: Span,
}

impl StateCall {
    /// A call on `events` starts: nothing written by it yet.
    pub fn begin(&mut self, events: &[Event]) {
        self.writes.clear();
        self.bytes = self.held_bytes;
        self.span = Span::of(events);
    }

    /// The call ended: its writes are held if it succeeded, dropped if not.
    pub fn end(&mut self, succeeded: bool) {
        if succeeded {
            if self.held.is_empty() {
                // The common case, one call per settlement: no key is hashed again.
                std::mem::swap(&mut self.held, &mut self.writes);
            } else {
                self.held.extend(self.writes.drain());
            }
            self.held_bytes = self.bytes;
            self.held_span.merge(std::mem::take(&mut self.span));
        } else {
            self.writes.clear();
        }
        self.bytes = self.held_bytes;
    }

    /// Applies the held writes to `state` if `keep`, drops them if not.
    pub fn settle(&mut self, state: &ProcessorState, keep: bool) {
        let held = std::mem::take(&mut self.held);
        let span = std::mem::take(&mut self.held_span);
        (self.held_bytes, self.bytes) = (0, 0);
        if keep {
            state.apply(held, span);
        }
    }

    /// What this call or a held one wrote to `key`, if anything.
    fn written(&self, key: &[u8]) -> Option<&Option<Vec<u8>>> {
        self.writes.get(key).or_else(|| self.held.get(key))
    }
}

/// Adds the three functions to `module`: the real ones, or stubs that deny.
pub(super) fn add(linker: &mut Linker<StoreData>, module: &str, granted: bool) -> wasmtime::Result<()> {
    if granted {
        linker.func_wrap(module, "state_get", state_get)?;
        linker.func_wrap(module, "state_set", state_set)?;
        linker.func_wrap(module, "state_delete", state_delete)?;
        return Ok(());
    }
    linker.func_wrap(module, "state_get", |c: Caller<'_, StoreData>, _: i32, _: i32| -> wasmtime::Result<i64> {
        Err(super::host::deny(&c, "state_get", None).into())
    })?;
    linker.func_wrap(
        module,
        "state_set",
        |c: Caller<'_, StoreData>, _: i32, _: i32, _: i32, _: i32| -> wasmtime::Result<i32> {
            Err(super::host::deny(&c, "state_set", None).into())
        },
    )?;
    linker.func_wrap(module, "state_delete", |c: Caller<'_, StoreData>, _: i32, _: i32| -> wasmtime::Result<i32> {
        Err(super::host::deny(&c, "state_delete", None).into())
    })?;
    Ok(())
}

fn state_of(caller: &Caller<'_, StoreData>) -> Option<Arc<ProcessorState>> {
    caller.data().shared.scope.state.clone()
}

/// Reads a guest buffer, counting a bad pointer as an error of `function`.
fn guest_bytes(caller: &Caller<'_, StoreData>, function: HostFn, ptr: i32, len: i32) -> wasmtime::Result<Vec<u8>> {
    read(caller, ptr, len).map_err(|e| {
        caller.data().shared.host_calls.count(function, CallResult::Error);
        e.into()
    })
}

fn state_get(mut caller: Caller<'_, StoreData>, key_ptr: i32, key_len: i32) -> wasmtime::Result<i64> {
    let key = guest_bytes(&caller, HostFn::StateGet, key_ptr, key_len)?;
    let Some(state) = state_of(&caller) else { return Ok(ABSENT) };
    caller.data().shared.host_calls.count(HostFn::StateGet, CallResult::Ok);
    if key.len() > state.caps().max_key_bytes {
        return Ok(KEY_TOO_LARGE);
    }
    let value = match caller.data().state_call.written(&key) {
        Some(written) => written.clone(),
        None => state.get(&key),
    };
    match value {
        None => Ok(ABSENT),
        Some(value) if value.is_empty() => Ok(0),
        Some(value) => write_to_guest(&mut caller, &value),
    }
}

fn state_set(
    mut caller: Caller<'_, StoreData>,
    key_ptr: i32,
    key_len: i32,
    ptr: i32,
    len: i32,
) -> wasmtime::Result<i32> {
    let key = guest_bytes(&caller, HostFn::StateSet, key_ptr, key_len)?;
    let value = guest_bytes(&caller, HostFn::StateSet, ptr, len)?;
    write(&mut caller, HostFn::StateSet, key, Some(value))
}

fn state_delete(mut caller: Caller<'_, StoreData>, key_ptr: i32, key_len: i32) -> wasmtime::Result<i32> {
    let key = guest_bytes(&caller, HostFn::StateDelete, key_ptr, key_len)?;
    write(&mut caller, HostFn::StateDelete, key, None)
}

fn write(
    caller: &mut Caller<'_, StoreData>,
    function: HostFn,
    key: Vec<u8>,
    value: Option<Vec<u8>>,
) -> wasmtime::Result<i32> {
    let Some(state) = state_of(caller) else { return Ok(0) };
    let call = &caller.data().state_call;
    if let Err(refusal) = state.admit(&key, value.as_deref(), call.bytes) {
        caller.data().shared.host_calls.count(function, CallResult::Denied);
        log_refusal(caller, refusal);
        return Ok(refusal.code());
    }
    caller.data().shared.host_calls.count(function, CallResult::Ok);
    let call = &mut caller.data_mut().state_call;
    call.bytes += (key.len() + value.as_ref().map_or(0, Vec::len)) as u64;
    call.writes.insert(key, value);
    Ok(0)
}

fn log_refusal(caller: &Caller<'_, StoreData>, refusal: StateRefusal) {
    let shared = &caller.data().shared;
    tracing::debug!(processor = %shared.scope.name, version = %shared.version, "state write refused: {refusal}");
}

#[cfg(test)]
#[path = "host_state_tests.rs"]
mod tests;
