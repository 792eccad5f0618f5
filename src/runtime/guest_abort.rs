//! `env.abort(message, file, line, column)`: what an AssemblyScript module
//! calls on a failed assertion, a thrown error or an out-of-bounds access.
//! Provided for every module so AssemblyScript builds run unmodified; it ends
//! the call with a trap that carries the guest's message and source location.

use wasmtime::Caller;

use super::store::StoreData;

/// The import's name in module `env`, and its type as `validate` prints types.
pub const NAME: &str = "abort";
pub const SIGNATURE: &str = "(i32, i32, i32, i32) -> ()";

/// Longest message or file name kept, in UTF-16 code units.
const MAX_UNITS: usize = 1024;

/// The trap an abort raises; its text becomes the event's failure reason.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("the guest aborted: {message} (at {file}:{line}:{column})")]
pub struct GuestAbort {
    pub message: String,
    pub file: String,
    pub line: u32,
    pub column: u32,
}

pub fn abort(caller: Caller<'_, StoreData>, message: i32, file: i32, line: i32, column: i32) -> wasmtime::Result<()> {
    let data = match caller.data().memory {
        Some(memory) => memory.data(&caller),
        None => &[],
    };
    Err(GuestAbort {
        message: read_string(data, message as u32).unwrap_or_else(|| "(no message)".to_owned()),
        file: read_string(data, file as u32).unwrap_or_else(|| "(unknown file)".to_owned()),
        line: line as u32,
        column: column as u32,
    }
    .into())
}

/// An AssemblyScript string: UTF-16LE code units at `ptr`, their byte length
/// in the object header's last word (`ptr - 4`). `None` for null or a pointer
/// outside memory; a bad header cannot make the host read out of bounds.
fn read_string(memory: &[u8], ptr: u32) -> Option<String> {
    let header = (ptr as usize).checked_sub(4)?;
    let size = u32::from_le_bytes(memory.get(header..ptr as usize)?.try_into().ok()?) as usize;
    let units = (size / 2).min(MAX_UNITS);
    let bytes = memory.get(ptr as usize..ptr as usize + units * 2)?;
    let units: Vec<u16> = bytes.chunks_exact(2).map(|c| u16::from_le_bytes([c[0], c[1]])).collect();
    Some(String::from_utf16_lossy(&units))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn as_string(memory: &mut Vec<u8>, text: &str) -> u32 {
        let units: Vec<u16> = text.encode_utf16().collect();
        memory.extend_from_slice(&((units.len() * 2) as u32).to_le_bytes());
        let ptr = memory.len() as u32;
        memory.extend(units.iter().flat_map(|u| u.to_le_bytes()));
        ptr
    }

    #[test]
    fn reads_assemblyscript_strings() {
        let mut memory = vec![0; 16];
        let message = as_string(&mut memory, "amount must be a number ✓");
        let file = as_string(&mut memory, "assembly/index.ts");
        assert_eq!(read_string(&memory, message).as_deref(), Some("amount must be a number ✓"));
        assert_eq!(read_string(&memory, file).as_deref(), Some("assembly/index.ts"));
    }

    #[test]
    fn null_and_wild_pointers_read_nothing() {
        let mut memory = vec![0; 8];
        memory.extend_from_slice(&u32::MAX.to_le_bytes());
        assert_eq!(read_string(&memory, 0), None);
        assert_eq!(read_string(&memory, 2), None, "header before memory start");
        assert_eq!(read_string(&memory, 1 << 20), None);
        // A huge length in the header is capped, then bounds-checked.
        assert_eq!(read_string(&memory, 12), None);
    }

    #[test]
    fn long_messages_are_cut() {
        let mut memory = Vec::new();
        let ptr = as_string(&mut memory, &"x".repeat(5000));
        assert_eq!(read_string(&memory, ptr).map(|s| s.len()), Some(MAX_UNITS));
    }
}
