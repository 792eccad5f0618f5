//! WASI `poll_oneoff` under the call's deadline. It is the one WASI call that
//! can block (a guest's `sleep` is a clock subscription), and epoch
//! interruption only fires inside wasm code, so wasmtime's own version would
//! let a guest park its worker thread for as long as it asks. This one waits
//! only when the wait ends before the call's deadline; a wait past it ends
//! the call at once with `deadline exceeded`, as the epoch would have a bit
//! later. The locked-down context has only stdin (empty), stdout and stderr
//! (never full), so every descriptor subscription is ready immediately.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use wasmtime::{Caller, Trap};

use super::guest_memory;
use super::store::StoreData;

const SUBSCRIPTION_SIZE: u32 = 48;
const EVENT_SIZE: usize = 32;

const ERRNO_SUCCESS: i32 = 0;
const ERRNO_BADF: i32 = 8;
const ERRNO_FAULT: i32 = 21;
const ERRNO_INVAL: i32 = 28;

const EVENT_CLOCK: u8 = 0;
const EVENT_FD_READ: u8 = 1;
const EVENT_FD_WRITE: u8 = 2;

const CLOCK_REALTIME: u32 = 0;
const CLOCK_MONOTONIC: u32 = 1;
const SUBSCRIPTION_CLOCK_ABSTIME: u16 = 1;
const EVENT_FD_READWRITE_HANGUP: u16 = 1;

/// What an output descriptor reports as writable: the log stream's `check_write`.
const WRITABLE_BYTES: u64 = 64 * 1024;

/// A subscription as read from guest memory.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Subscription {
    /// Ready when the host clock reaches `at`.
    Clock { userdata: u64, at: Instant },
    /// Ready now: `(type, nbytes, flags)` of its event.
    Descriptor { userdata: u64, kind: u8, nbytes: u64, flags: u16 },
}

/// `poll_oneoff(in, out, nsubscriptions, nevents_out) -> errno`.
pub fn poll_oneoff(
    mut caller: Caller<'_, StoreData>,
    subs_ptr: i32,
    events_ptr: i32,
    count: i32,
    nevents_ptr: i32,
) -> wasmtime::Result<i32> {
    let Some(memory) = caller.data().memory else {
        return Ok(ERRNO_FAULT);
    };
    let count = count as u32;
    if count == 0 {
        return Ok(ERRNO_INVAL);
    }
    let Some(subs_len) = count.checked_mul(SUBSCRIPTION_SIZE) else {
        return Ok(ERRNO_FAULT);
    };
    let now = Instant::now();
    let origin = caller.data().clock_origin;
    let subs: Result<Vec<Subscription>, i32> =
        match guest_memory::slice(memory.data(&caller), subs_ptr as u32, subs_len) {
            Ok(bytes) => bytes.chunks_exact(SUBSCRIPTION_SIZE as usize).map(|raw| parse(raw, now, origin)).collect(),
            Err(_) => return Ok(ERRNO_FAULT),
        };
    let subs = match subs {
        Ok(subs) => subs,
        Err(errno) => return Ok(errno),
    };
    let ready_now = subs.iter().any(|s| matches!(s, Subscription::Descriptor { .. }));
    let wake = if ready_now {
        now
    } else {
        let earliest = subs.iter().filter_map(|s| match s {
            Subscription::Clock { at, .. } => Some(*at),
            Subscription::Descriptor { .. } => None,
        });
        let wake = earliest.min().unwrap_or(now);
        if wake > caller.data().deadline {
            return Err(Trap::Interrupt.into());
        }
        std::thread::sleep(wake.saturating_duration_since(now));
        wake
    };
    let mut events = Vec::with_capacity(subs.len() * EVENT_SIZE);
    let mut ready = 0u32;
    for sub in &subs {
        let event = match *sub {
            Subscription::Clock { userdata, at } if at <= wake => event(userdata, EVENT_CLOCK, 0, 0),
            Subscription::Clock { .. } => continue,
            Subscription::Descriptor { userdata, kind, nbytes, flags } => event(userdata, kind, nbytes, flags),
        };
        events.extend_from_slice(&event);
        ready += 1;
    }
    let data = memory.data_mut(&mut caller);
    let Ok(out) = guest_memory::slice_mut(data, events_ptr as u32, events.len() as u32) else {
        return Ok(ERRNO_FAULT);
    };
    out.copy_from_slice(&events);
    let Ok(nevents) = guest_memory::slice_mut(data, nevents_ptr as u32, 4) else {
        return Ok(ERRNO_FAULT);
    };
    nevents.copy_from_slice(&ready.to_le_bytes());
    Ok(ERRNO_SUCCESS)
}

/// One 48-byte subscription: userdata u64 @0, tag u8 @8, then for a clock
/// id u32 @16, timeout u64 @24, precision u64 @32, flags u16 @40; for a
/// descriptor fd u32 @16. `origin` is the guest's monotonic clock's zero.
fn parse(raw: &[u8], now: Instant, origin: Instant) -> Result<Subscription, i32> {
    let u64_at = |at: usize| raw.get(at..at + 8).and_then(|b| b.try_into().ok()).map_or(0, u64::from_le_bytes);
    let u32_at = |at: usize| raw.get(at..at + 4).and_then(|b| b.try_into().ok()).map_or(0, u32::from_le_bytes);
    let u16_at = |at: usize| raw.get(at..at + 2).and_then(|b| b.try_into().ok()).map_or(0, u16::from_le_bytes);
    let userdata = u64_at(0);
    match raw.get(8).copied().unwrap_or(u8::MAX) {
        EVENT_CLOCK => {
            let timeout = Duration::from_nanos(u64_at(24));
            let absolute = u16_at(40) & SUBSCRIPTION_CLOCK_ABSTIME != 0;
            let at = match (u32_at(16), absolute) {
                (CLOCK_MONOTONIC | CLOCK_REALTIME, false) => now.checked_add(timeout),
                (CLOCK_MONOTONIC, true) => origin.checked_add(timeout),
                (CLOCK_REALTIME, true) => {
                    let since_epoch = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
                    now.checked_add(timeout.saturating_sub(since_epoch))
                }
                _ => return Err(ERRNO_INVAL),
            };
            // A wait too long to represent is a wait past any deadline.
            Ok(Subscription::Clock { userdata, at: at.unwrap_or(now + Duration::from_secs(86_400 * 365)) })
        }
        EVENT_FD_READ => match u32_at(16) {
            // stdin is empty: readable at once, at its end.
            0 => Ok(Subscription::Descriptor {
                userdata,
                kind: EVENT_FD_READ,
                nbytes: 0,
                flags: EVENT_FD_READWRITE_HANGUP,
            }),
            _ => Err(ERRNO_BADF),
        },
        EVENT_FD_WRITE => match u32_at(16) {
            1 | 2 => Ok(Subscription::Descriptor { userdata, kind: EVENT_FD_WRITE, nbytes: WRITABLE_BYTES, flags: 0 }),
            _ => Err(ERRNO_BADF),
        },
        _ => Err(ERRNO_INVAL),
    }
}

/// One 32-byte event: userdata u64 @0, errno u16 @8, type u8 @10,
/// nbytes u64 @16, flags u16 @24.
fn event(userdata: u64, kind: u8, nbytes: u64, flags: u16) -> [u8; EVENT_SIZE] {
    let mut out = [0u8; EVENT_SIZE];
    out[0..8].copy_from_slice(&userdata.to_le_bytes());
    out[10] = kind;
    out[16..24].copy_from_slice(&nbytes.to_le_bytes());
    out[24..26].copy_from_slice(&flags.to_le_bytes());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn clock(id: u32, timeout_ns: u64, flags: u16) -> Vec<u8> {
        let mut raw = vec![0u8; 48];
        raw[0..8].copy_from_slice(&7u64.to_le_bytes());
        raw[8] = EVENT_CLOCK;
        raw[16..20].copy_from_slice(&id.to_le_bytes());
        raw[24..32].copy_from_slice(&timeout_ns.to_le_bytes());
        raw[40..42].copy_from_slice(&flags.to_le_bytes());
        raw
    }

    #[test]
    fn clock_subscriptions_become_host_instants() {
        let now = Instant::now();
        let origin = now - Duration::from_secs(10);
        let relative = parse(&clock(CLOCK_MONOTONIC, 5_000_000, 0), now, origin).unwrap();
        assert_eq!(relative, Subscription::Clock { userdata: 7, at: now + Duration::from_millis(5) });
        let absolute = parse(&clock(CLOCK_MONOTONIC, 12_000_000_000, 1), now, origin).unwrap();
        assert_eq!(absolute, Subscription::Clock { userdata: 7, at: now + Duration::from_secs(2) });
        let Subscription::Clock { at, .. } = parse(&clock(CLOCK_MONOTONIC, u64::MAX, 0), now, origin).unwrap() else {
            panic!("a clock")
        };
        assert!(at > now + Duration::from_secs(86_400), "an endless wait stays endless");
        assert_eq!(parse(&clock(3, 1, 0), now, origin), Err(ERRNO_INVAL), "cputime clocks are not supported");
    }

    #[test]
    fn descriptors_are_ready_or_bad() {
        let now = Instant::now();
        let mut raw = vec![0u8; 48];
        raw[8] = EVENT_FD_WRITE;
        raw[16] = 1;
        assert!(matches!(parse(&raw, now, now), Ok(Subscription::Descriptor { kind: EVENT_FD_WRITE, .. })));
        raw[16] = 5;
        assert_eq!(parse(&raw, now, now), Err(ERRNO_BADF));
        raw[8] = 9;
        assert_eq!(parse(&raw, now, now), Err(ERRNO_INVAL));
    }
}
