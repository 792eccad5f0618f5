//! The guest ABI v1 exports, generic over a [`Processor`]; the macros of this
//! crate expand to thin `extern "C"` wrappers around these functions.

use std::cell::RefCell;
use std::thread::LocalKey;

use serde::Deserialize;

use crate::{batch, BatchOutput, Error, Event, Input, Output, Processor};

/// The per-module processor slot the macros declare.
pub type Slot<P> = LocalKey<RefCell<Option<P>>>;

/// `Config` of processors that take none; any `config:` given is ignored.
#[derive(Debug, Default, Deserialize)]
pub struct NoConfig {}

thread_local! {
    static LAST_ERROR: RefCell<Option<String>> = const { RefCell::new(None) };
}

fn set_last_error(message: String) {
    LAST_ERROR.with(|e| *e.borrow_mut() = Some(message));
}

/// A buffer of `size` bytes the host may fill; its capacity is exactly `size`
/// so that `free(ptr, size)` can rebuild it.
pub fn allocate(size: i32) -> i32 {
    let size = size.max(0) as usize;
    let mut buffer = Vec::<u8>::with_capacity(size);
    let ptr = buffer.as_mut_ptr();
    std::mem::forget(buffer);
    ptr as usize as i32
}

pub fn free(ptr: i32, size: i32) {
    if ptr == 0 || size <= 0 {
        return;
    }
    // SAFETY: the host frees only buffers `allocate(size)` or `leak` made,
    // each with capacity exactly `size`, and each once (ABI v1 ownership rules).
    drop(unsafe { Vec::from_raw_parts(ptr as usize as *mut u8, 0, size as usize) });
}

/// Hands `bytes` to the host as a packed `(ptr << 32) | len` it will free.
fn leak(bytes: Vec<u8>) -> i64 {
    let bytes = bytes.into_boxed_slice();
    let len = bytes.len();
    if len == 0 {
        // An empty output is never valid; a zero-length buffer needs no freeing.
        return 0;
    }
    let ptr = Box::into_raw(bytes) as *mut u8 as usize;
    pack(ptr as i32, len as i32)
}

/// `(ptr << 32) | len`, both as unsigned 32-bit wasm values.
fn pack(ptr: i32, len: i32) -> i64 {
    ((ptr as u32 as i64) << 32) | len as u32 as i64
}

/// Takes ownership of a packed buffer the host allocated with [`allocate`].
///
/// # Safety
/// `packed` must describe a live buffer made by `allocate(len)` and not freed.
pub unsafe fn take_buffer(packed: i64) -> Vec<u8> {
    let (ptr, len) = ((packed as u64 >> 32) as usize, (packed as u64 & 0xffff_ffff) as usize);
    // SAFETY: per this function's contract, capacity == len.
    unsafe { Vec::from_raw_parts(ptr as *mut u8, len, len) }
}

/// The input bytes at `ptr..ptr+len`, borrowed for the call.
fn input<'a>(ptr: i32, len: i32) -> &'a [u8] {
    if len <= 0 {
        return &[];
    }
    // SAFETY: the host wrote `len` bytes at `ptr` (a buffer from `allocate`)
    // and frees it only after the call returns.
    unsafe { std::slice::from_raw_parts(ptr as usize as *const u8, len as usize) }
}

pub fn init<P: Processor>(slot: &'static Slot<P>, ptr: i32, len: i32) -> i32 {
    let config = input(ptr, len);
    let config = if config.iter().all(u8::is_ascii_whitespace) { b"{}".as_slice() } else { config };
    match build::<P>(config) {
        Ok(processor) => {
            slot.with(|s| *s.borrow_mut() = Some(processor));
            0
        }
        Err(err) => {
            set_last_error(err.to_string());
            1
        }
    }
}

fn build<P: Processor>(config: &[u8]) -> Result<P, Error> {
    let config = serde_json::from_slice(config).map_err(|e| Error::new(format!("config: {e}")))?;
    P::new(config)
}

/// Runs `f` with the instance's processor, building it from `{}` if the host
/// never called `init` (hosts of the original contract do not).
fn with_processor<P: Processor, R>(
    slot: &'static Slot<P>,
    f: impl FnOnce(&mut P) -> Result<R, Error>,
) -> Result<R, Error> {
    slot.with(|s| {
        let mut s = s.borrow_mut();
        if s.is_none() {
            *s = Some(build::<P>(b"{}")?);
        }
        match s.as_mut() {
            Some(processor) => f(processor),
            None => Err(Error::new("processor not initialised")),
        }
    })
}

pub fn process_event<P: Processor>(slot: &'static Slot<P>, ptr: i32, len: i32) -> i64 {
    let event = input(ptr, len);
    let result = with_processor(slot, |p| {
        let mut out = Vec::with_capacity(event.len() + 64);
        match P::INPUT {
            Input::Event => process_typed(p, event, &mut out)?,
            Input::Json => p.process_json(event, &mut out)?,
        }
        if out.is_empty() {
            // An empty output is never valid, and would read as a failure without a reason.
            return Err(Error::new("the processor wrote no output"));
        }
        Ok(leak(out))
    });
    finish_call(result)
}

pub fn process_batch<P: Processor>(slot: &'static Slot<P>, ptr: i32, len: i32) -> i64 {
    let batch = input(ptr, len);
    let result = with_processor(slot, |p| {
        // Empty: `process_batch_json` reserves what it needs.
        let mut out = Vec::new();
        match p.process_batch_json(batch, &mut out)? {
            BatchOutput::Written => Ok(leak(out)),
            // The host copies the output before it frees the input, and frees
            // a buffer returned as both once (docs/abi.md, buffer ownership).
            BatchOutput::SameAsInput if !batch.is_empty() => Ok(pack(ptr, len)),
            BatchOutput::SameAsInput => Err(Error::new("input batch: expected a JSON array of events")),
        }
    });
    finish_call(result)
}

/// [`Input::Event`]'s way with one event's JSON: parse, `process`, serialize.
pub fn process_typed<P: Processor>(processor: &mut P, input: &[u8], out: &mut Vec<u8>) -> Result<(), Error> {
    let event: Event = serde_json::from_slice(input).map_err(batch::input_error)?;
    write_output(out, processor.process(event)?)
}

/// The packed output, or 0 with the error kept for `last_error`.
fn finish_call(result: Result<i64, Error>) -> i64 {
    match result {
        Ok(packed) => packed,
        Err(err) => {
            set_last_error(err.to_string());
            0
        }
    }
}

/// One event as an object; none or many as an array.
pub fn write_output(out: &mut Vec<u8>, output: Output) -> Result<(), Error> {
    match output {
        Output::None => out.extend_from_slice(b"[]"),
        Output::One(event) => serde_json::to_writer(out, &event)?,
        Output::Many(events) => serde_json::to_writer(out, &events)?,
    }
    Ok(())
}

/// The last failure's message as a packed buffer the host frees; 0 if none.
pub fn last_error() -> i64 {
    LAST_ERROR.with(|e| e.borrow_mut().take()).map_or(0, |message| leak(message.into_bytes()))
}

#[cfg(test)]
mod tests {
    //! The ABI glue on the host target (64-bit pointers do not fit the i32
    //! ABI, so these tests exercise the pieces that do not go through it).
    use super::*;

    #[derive(Deserialize)]
    struct Cfg {
        every: u32,
    }
    struct Keep(u32);
    impl Processor for Keep {
        type Config = Cfg;
        fn new(c: Cfg) -> crate::Result<Self> {
            if c.every == 0 {
                return Err(Error::new("every must be at least 1"));
            }
            Ok(Keep(c.every))
        }
        fn process(&mut self, e: Event) -> crate::Result<Output> {
            Ok(Output::from(Some(e).filter(|_| self.0 == 1)))
        }
    }

    #[test]
    fn config_errors_name_the_problem() {
        assert_eq!(build::<Keep>(b"{}").err().unwrap().message(), "config: missing field `every` at line 1 column 2");
        assert_eq!(build::<Keep>(br#"{"every":0}"#).err().unwrap().message(), "every must be at least 1");
        assert!(build::<Keep>(br#"{"every":1}"#).is_ok());
    }

    #[test]
    fn outputs_have_the_abi_shapes() {
        let mut out = Vec::new();
        write_output(&mut out, Output::None).unwrap();
        assert_eq!(out, b"[]");
        out.clear();
        write_output(&mut out, Output::One(Event { id: "a".into(), ..Event::default() })).unwrap();
        assert_eq!(String::from_utf8(out).unwrap(), r#"{"id":"a","data":null}"#);
    }
}
