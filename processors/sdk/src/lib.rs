//! # flowctl-sdk: write flowctl processors in Rust
//!
//! A processor receives one [`Event`] at a time and returns zero, one or many
//! events. Compile it to `wasm32-unknown-unknown` as a `cdylib`; the macros
//! here generate every export of the guest ABI v1 (`docs/abi.md` in the
//! flowctl repository): `allocate`, `free`, `process_event`, `process_batch`,
//! `init`, `last_error` and `flowctl_abi_version`.
//!
//! The one-line ways, for processors without configuration:
//!
//! ```
//! use flowctl_sdk::{Event, Result};
//!
//! fn shout(mut event: Event) -> Result<Event> {
//!     event.metadata.insert("shouted".into(), "yes".into());
//!     Ok(event)
//! }
//! flowctl_sdk::map!(shout);            // also: filter!(f), flat_map!(f)
//! ```
//!
//! A processor with configuration (the pipeline's `config:`) or state
//! implements [`Processor`] and exports it with [`processor!`].
//!
//! # Layout
//! - [`event`]: the event type crossing the boundary.
//! - [`output`]: what a processor returns, and its error type.
//! - [`host`]: the host functions (log, metrics, HTTP), safe to call.
//! - [`batch`]: the one pass over a batch of events.
//! - [`abi`]: the export glue the macros expand to (not called directly).

pub mod abi;
pub mod batch;
pub mod event;
pub mod host;
pub mod output;
pub mod state;

pub use event::Event;
pub use output::{Error, Output, Result};
pub use serde_json::{json, Value};

/// The ABI version this SDK implements (`flowctl_abi_version()`).
pub const ABI_VERSION: i32 = 1;

/// The form in which the SDK hands a processor its events
/// ([`Processor::INPUT`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Input {
    /// Each event deserialized into an [`Event`], for [`Processor::process`].
    Event,
    /// Each event's JSON text, for [`Processor::process_json`].
    Json,
}

/// What [`Processor::process_batch_json`] produced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BatchOutput {
    /// The output array is in `out`.
    Written,
    /// The output array is the input batch, byte for byte: every event's
    /// entry is the event itself, unchanged. The SDK hands the host its own
    /// input buffer back (ABI v1 allows it) and copies nothing.
    SameAsInput,
}

/// A processor with configuration or state. One value lives per instance: it
/// is built by `init` from the pipeline's `config:` and then sees every event
/// that instance processes, in order.
///
/// # Typed or raw
/// [`Processor::INPUT`] says how events arrive. With [`Input::Event`] (the
/// default) each event of a batch is deserialized straight from the batch
/// into an [`Event`], once, and handed to [`Processor::process`]. A
/// processor that needs only a few fields, or copies events through, sets
/// `const INPUT: Input = Input::Json;` and overrides
/// [`Processor::process_json`]: it gets each event's JSON text, found by the
/// same single pass over the batch (which checks its syntax), and parses
/// only what it needs. Either way every output entry is written into one
/// buffer, and a failed event's entry is `{"error": "reason"}`.
pub trait Processor: Sized + 'static {
    /// The processor's `config:` block. Deserialized from `{}` when the
    /// pipeline gives none, so give fields defaults (`#[serde(default)]`).
    type Config: serde::de::DeserializeOwned;

    /// How events reach this processor: parsed for [`Processor::process`]
    /// ([`Input::Event`], the default) or as JSON text for
    /// [`Processor::process_json`] ([`Input::Json`]).
    const INPUT: Input = Input::Event;

    /// Builds the processor; an error refuses to start the pipeline with that message.
    fn new(config: Self::Config) -> Result<Self>;

    /// Processes one event.
    fn process(&mut self, event: Event) -> Result<Output>;

    /// Processes one event given as JSON text, writing its output JSON (one
    /// event object, or an array of 0..N events) to `out`. The module calls
    /// it only when [`Processor::INPUT`] is [`Input::Json`]. The default
    /// parses the event, calls [`Processor::process`] and serializes the
    /// result. Override it to skip parsing what a processor does not need (a
    /// passthrough, a filter on one field); keep `process` consistent with
    /// it, as native tests call that.
    fn process_json(&mut self, input: &[u8], out: &mut Vec<u8>) -> Result<()> {
        abi::process_typed(self, input, out)
    }

    /// Processes a batch: `batch` is the JSON array of events, and the output
    /// is the JSON array of their entries, in order (`docs/abi.md`). An error
    /// fails the whole call. The default ([`batch::run`]) reads the batch in
    /// one pass and hands each event over as [`Processor::INPUT`] says;
    /// override it only to handle the batch whole, such as a passthrough
    /// answering [`BatchOutput::SameAsInput`].
    fn process_batch_json(&mut self, batch: &[u8], out: &mut Vec<u8>) -> Result<BatchOutput> {
        batch::run(self, batch, out)?;
        Ok(BatchOutput::Written)
    }
}

/// Exports a [`Processor`] implementation as this module's processor.
#[macro_export]
macro_rules! processor {
    ($ty:ty) => {
        ::std::thread_local! {
            static __FLOWCTL_INSTANCE: ::core::cell::RefCell<::core::option::Option<$ty>> =
                const { ::core::cell::RefCell::new(::core::option::Option::None) };
        }
        $crate::__export_abi!(__FLOWCTL_INSTANCE, $ty);
    };
}

/// Exports `fn(Event) -> Result<Event>` as a processor that maps each event to one event.
#[macro_export]
macro_rules! map {
    ($f:path) => {
        $crate::__stateless!($f, |f: fn($crate::Event) -> $crate::Result<$crate::Event>, e| f(e)
            .map($crate::Output::One));
    };
}

/// Exports `fn(&Event) -> bool` (or `-> Result<bool>` via [`filter_result!`]) as
/// a processor that keeps the events for which it returns `true`.
#[macro_export]
macro_rules! filter {
    ($f:path) => {
        $crate::__stateless!($f, |f: fn(&$crate::Event) -> bool, e| Ok(if f(&e) {
            $crate::Output::One(e)
        } else {
            $crate::Output::None
        }));
    };
}

/// Like [`filter!`] for a predicate that can fail: `fn(&Event) -> Result<bool>`.
#[macro_export]
macro_rules! filter_result {
    ($f:path) => {
        $crate::__stateless!($f, |f: fn(&$crate::Event) -> $crate::Result<bool>, e| Ok(if f(&e)? {
            $crate::Output::One(e)
        } else {
            $crate::Output::None
        }));
    };
}

/// Exports `fn(Event) -> Result<Vec<Event>>` as a processor that turns each
/// event into any number of events (none filters it out).
#[macro_export]
macro_rules! flat_map {
    ($f:path) => {
        $crate::__stateless!($f, |f: fn($crate::Event) -> $crate::Result<::std::vec::Vec<$crate::Event>>, e| f(e)
            .map($crate::Output::Many));
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __stateless {
    ($f:path, |$fv:ident : $fty:ty, $e:ident| $body:expr) => {
        #[doc(hidden)]
        pub struct __FlowctlStateless;
        impl $crate::Processor for __FlowctlStateless {
            type Config = $crate::abi::NoConfig;
            fn new(_: Self::Config) -> $crate::Result<Self> {
                Ok(__FlowctlStateless)
            }
            fn process(&mut self, $e: $crate::Event) -> $crate::Result<$crate::Output> {
                // The annotation checks the user's function signature with a clear type error.
                let $fv: $fty = $f;
                $body
            }
        }
        $crate::processor!(__FlowctlStateless);
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __export_abi {
    ($cell:ident, $ty:ty) => {
        // Exported only on wasm: natively, `free` and `allocate` would replace libc's.
        #[cfg(target_arch = "wasm32")]
        #[no_mangle]
        pub extern "C" fn allocate(size: i32) -> i32 {
            $crate::abi::allocate(size)
        }
        #[cfg(target_arch = "wasm32")]
        #[no_mangle]
        pub extern "C" fn free(ptr: i32, size: i32) {
            $crate::abi::free(ptr, size)
        }
        #[cfg(target_arch = "wasm32")]
        #[no_mangle]
        pub extern "C" fn init(ptr: i32, len: i32) -> i32 {
            $crate::abi::init::<$ty>(&$cell, ptr, len)
        }
        #[cfg(target_arch = "wasm32")]
        #[no_mangle]
        pub extern "C" fn process_event(ptr: i32, len: i32) -> i64 {
            $crate::abi::process_event::<$ty>(&$cell, ptr, len)
        }
        #[cfg(target_arch = "wasm32")]
        #[no_mangle]
        pub extern "C" fn process_batch(ptr: i32, len: i32) -> i64 {
            $crate::abi::process_batch::<$ty>(&$cell, ptr, len)
        }
        #[cfg(target_arch = "wasm32")]
        #[no_mangle]
        pub extern "C" fn last_error() -> i64 {
            $crate::abi::last_error()
        }
        #[cfg(target_arch = "wasm32")]
        #[no_mangle]
        pub extern "C" fn flowctl_abi_version() -> i32 {
            $crate::ABI_VERSION
        }
    };
}
