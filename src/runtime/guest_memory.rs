//! Bounds-checked access to guest linear memory. Every pointer and length a
//! guest hands the host goes through here.

use super::error::ProcessError;

/// A guest-supplied `(ptr, len)` that does not lie inside its memory. Also used
/// as the trap a host function raises on such a pointer.
#[derive(Debug, Clone, Copy, PartialEq, thiserror::Error)]
#[error("invalid output pointer (ptr {ptr}, len {len}, memory {memory} bytes)")]
pub struct BadPointer {
    pub ptr: u32,
    pub len: u32,
    pub memory: u64,
}

impl From<BadPointer> for ProcessError {
    fn from(b: BadPointer) -> Self {
        ProcessError::InvalidOutputPointer { ptr: b.ptr, len: b.len, memory: b.memory }
    }
}

/// `memory[ptr..ptr + len]`, or why not.
pub fn slice(memory: &[u8], ptr: u32, len: u32) -> Result<&[u8], BadPointer> {
    let range = range(memory.len(), ptr, len)?;
    Ok(&memory[range])
}

/// Mutable `memory[ptr..ptr + len]`, or why not.
pub fn slice_mut(memory: &mut [u8], ptr: u32, len: u32) -> Result<&mut [u8], BadPointer> {
    let range = range(memory.len(), ptr, len)?;
    Ok(&mut memory[range])
}

fn range(size: usize, ptr: u32, len: u32) -> Result<std::ops::Range<usize>, BadPointer> {
    let start = ptr as usize;
    match start.checked_add(len as usize) {
        Some(end) if end <= size => Ok(start..end),
        _ => Err(BadPointer { ptr, len, memory: size as u64 }),
    }
}

/// Splits the ABI's packed `(ptr << 32) | len` result.
pub fn unpack(packed: i64) -> (u32, u32) {
    let bits = packed as u64;
    ((bits >> 32) as u32, bits as u32)
}

/// The inverse of [`unpack`], for host functions that return a buffer.
pub fn pack(ptr: u32, len: u32) -> i64 {
    (((ptr as u64) << 32) | len as u64) as i64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn in_bounds_slices_are_returned() {
        let mem = [1u8, 2, 3, 4];
        assert_eq!(slice(&mem, 1, 2).unwrap(), &[2, 3]);
        assert_eq!(slice(&mem, 4, 0).unwrap(), &[] as &[u8]);
    }

    #[test]
    fn out_of_bounds_and_overflowing_ranges_are_refused() {
        let mem = [0u8; 4];
        assert_eq!(slice(&mem, 3, 2).unwrap_err(), BadPointer { ptr: 3, len: 2, memory: 4 });
        assert!(slice(&mem, u32::MAX, u32::MAX).is_err());
        assert!(slice(&mem, 5, 0).is_err());
    }

    #[test]
    fn pack_round_trips_high_bits() {
        assert_eq!(unpack(pack(0xffff_fff0, 0x8000_0001)), (0xffff_fff0, 0x8000_0001));
        assert_eq!(unpack(0), (0, 0));
    }
}
