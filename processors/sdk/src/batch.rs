//! The one pass over a batch. `process_batch` gets a JSON array of events;
//! each element is deserialized once, straight from the batch, and its entry
//! written straight into the one output array. (Before it, one check that the
//! batch is UTF-8: see [`each`].)
//!
//! The array's punctuation (`[`, `,`, `]`) is walked here and each element
//! is read by its own `serde_json` stream deserializer, rather than by one
//! `SeqAccess` over the whole array, for two things a `SeqAccess` cannot give:
//! - each element's bytes (`StreamDeserializer::byte_offset`), so that a
//!   processor may read an event and still copy its text through, in the
//!   same pass;
//! - recovery from an element that is JSON but not of the expected shape:
//!   it is skipped and its entry is `{"error": ...}`, as for any failed
//!   event. A `SeqAccess` stops mid-element, so the whole call would fail and
//!   the host would dead-letter every event of the batch for one.

use serde::de::{Deserialize, IgnoredAny};
use serde_json::Deserializer;

use crate::{abi, Error, Event, Input, Processor, Result};

/// Runs `f` on each event of the JSON array `batch` in one pass, writing the
/// output array (one entry per event, in order) to `out`.
///
/// Each element is deserialized as `T` straight from the batch; `f` gets the
/// result (serde's error when the element is JSON but not a `T`) and the
/// element's text, and appends the event's entry to `out`: one event object,
/// or an array of 0..N. An `Err` from `f`, or an entry left empty, becomes
/// `{"error": "reason"}` for that event only. A batch that is not a JSON
/// array fails as a whole, naming the event and byte where it broke.
///
/// The batch must be UTF-8 (the ABI says so), checked once up front: that
/// costs less than `serde_json` checking each string it reads from bytes,
/// and makes every element's text a `str`.
///
/// `T` is a `Deserialize` type, not a seed: `serde_json` tells where a value
/// ended only through its stream reader, which takes none. A processor whose
/// reading depends on its configuration (filter's path) takes `Input::Json`
/// instead: this pass finds each event with a syntax-only skip, and the
/// processor parses the text once.
pub fn each<'de, T, F>(batch: &'de [u8], out: &mut Vec<u8>, mut f: F) -> Result<()>
where
    T: Deserialize<'de>,
    F: FnMut(Result<T, serde_json::Error>, &'de str, &mut Vec<u8>) -> Result<()>,
{
    let batch = std::str::from_utf8(batch).map_err(|e| Error::new(format!("input batch: {e}")))?;
    let bytes = batch.as_bytes();
    let mut at = skip_whitespace(bytes, 0);
    if bytes.get(at) != Some(&b'[') {
        return Err(Error::new("input batch: expected a JSON array of events"));
    }
    // Outputs are about the size of their inputs; one reservation avoids
    // regrowing (and copying) the buffer as it fills.
    out.reserve(batch.len() + batch.len() / 4 + 2);
    out.push(b'[');
    at = skip_whitespace(bytes, at + 1);
    if bytes.get(at) == Some(&b']') {
        at += 1;
    } else {
        for n in 1usize.. {
            // `at` is at a value or at ASCII punctuation, so on a char boundary.
            let text = batch.get(at..).unwrap_or_default();
            let (parsed, len) =
                element::<T>(text).map_err(|e| Error::new(format!("input batch: event {n} (at byte {at}): {e}")))?;
            let mark = out.len();
            let written = f(parsed, text.get(..len).unwrap_or(text), out);
            if written.is_err() || out.len() == mark {
                out.truncate(mark);
                let reason = written.err().unwrap_or_else(|| Error::new("the processor wrote no output"));
                write_error(out, reason.message())?;
            }
            at = skip_whitespace(bytes, at + len);
            match bytes.get(at) {
                Some(b',') => {
                    out.push(b',');
                    at = skip_whitespace(bytes, at + 1);
                }
                Some(b']') => {
                    at += 1;
                    break;
                }
                _ => {
                    return Err(Error::new(format!("input batch: expected `,` or `]` after event {n} (at byte {at})")))
                }
            }
        }
    }
    let end = skip_whitespace(bytes, at);
    if end != bytes.len() {
        return Err(Error::new(format!("input batch: unexpected text after the array (at byte {end})")));
    }
    out.push(b']');
    Ok(())
}

/// The default of [`Processor::process_batch_json`]: the one pass, handing
/// each event to `process` or `process_json` as the processor's
/// [`Processor::INPUT`] says.
pub fn run<P: Processor>(processor: &mut P, batch: &[u8], out: &mut Vec<u8>) -> Result<()> {
    match P::INPUT {
        Input::Event => each::<Event, _>(batch, out, |event, _, out| {
            abi::write_output(out, processor.process(event.map_err(input_error)?)?)
        }),
        // `IgnoredAny` only checks the syntax: the processor reads the text.
        Input::Json => each::<IgnoredAny, _>(batch, out, |checked, text, out| {
            checked.map_err(input_error)?;
            processor.process_json(text.as_bytes(), out)
        }),
    }
}

/// The entry's message for an event that is JSON but not an event.
pub(crate) fn input_error(err: serde_json::Error) -> Error {
    Error::new(format!("input event: {err}"))
}

/// Reads the JSON value at the start of `text` as a `T`: the result, and the
/// value's length in bytes. `Err` when `text` does not start with a JSON value.
fn element<'de, T: Deserialize<'de>>(
    text: &'de str,
) -> Result<(Result<T, serde_json::Error>, usize), serde_json::Error> {
    let mut stream = Deserializer::from_str(text).into_iter::<T>();
    let not_a_t = match stream.next() {
        Some(Ok(value)) => return Ok((Ok(value), stream.byte_offset())),
        Some(Err(err)) => err,
        None => return Err(serde::de::Error::custom("expected an event, found the end of the batch")),
    };
    // Where the element ends, to go on with the next; the same error again
    // (or another syntax error) means it is not JSON, and the batch is broken.
    let mut skip = Deserializer::from_str(text).into_iter::<IgnoredAny>();
    match skip.next() {
        Some(Ok(_)) => Ok((Err(not_a_t), skip.byte_offset())),
        Some(Err(err)) => Err(err),
        None => Err(not_a_t),
    }
}

fn skip_whitespace(text: &[u8], mut at: usize) -> usize {
    while text.get(at).is_some_and(|b| matches!(b, b' ' | b'\n' | b'\r' | b'\t')) {
        at += 1;
    }
    at
}

/// Appends `{"error":"<reason>"}`.
fn write_error(out: &mut Vec<u8>, reason: &str) -> Result<()> {
    out.extend_from_slice(br#"{"error":"#);
    serde_json::to_writer(&mut *out, reason)?;
    out.push(b'}');
    Ok(())
}

#[cfg(test)]
#[path = "batch_tests.rs"]
mod tests;
