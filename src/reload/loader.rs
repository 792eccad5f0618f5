//! Where a replacement module is loaded: background threads at a lower OS
//! scheduling priority than the workers (nice [`NICE`]), so that compiling
//! it, checking its ABI and `init`-ing its first instances take the CPU the
//! workers leave idle instead of delaying their batches.
//!
//! A small rayon pool rather than one plain thread: wasmtime compiles a
//! module's functions in parallel on the rayon pool of the thread that asks.
//! Asked from one of these threads, that is this pool, every thread of which
//! is lowered; asked from any other thread, it would be rayon's global pool,
//! which runs at the workers' priority. The compile keeps its parallelism
//! (the swap latency stays short on an idle machine) and gives way to the
//! workers on a busy one.
//!
//! Only the loading runs here. The swap itself takes the processor's control
//! lock, which the collector also takes for every batch: done at low priority,
//! a preempted swap could hold it while a batch waits (priority inversion).
//! The caller swaps on its own thread once [`Loader::run`] returns.

use std::io;

/// How much lower than the workers the loader runs, in nice steps (added to
/// the nice value the process runs at, at most 19): nice 10 gives a thread
/// about a tenth of the weight of a nice-0 one under Linux's scheduler, so a
/// waking worker preempts it, and a loaded machine still completes a reload
/// in seconds (`SCHED_IDLE` or nice 19 could leave it starved for minutes).
pub const NICE: i32 = 10;

/// Threads of the loader at most (a compile uses no more than the cores anyway).
const MAX_THREADS: usize = 4;

/// The background threads that load replacement modules. Idle between reloads.
pub struct Loader {
    pool: rayon::ThreadPool,
}

impl Loader {
    /// Starts one thread per core (at most [`MAX_THREADS`]), each lowered by
    /// [`NICE`] as it starts. A thread that may not be lowered runs at the
    /// workers' priority and says so in a debug line: reloads still work.
    pub fn start() -> io::Result<Loader> {
        let threads = std::thread::available_parallelism().map_or(1, |n| n.get()).min(MAX_THREADS);
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .thread_name(|i| format!("flowctl-reload-{i}"))
            .start_handler(|_| {
                lower_current_thread(NICE, lower_by);
            })
            .build()
            .map_err(io::Error::other)?;
        Ok(Loader { pool })
    }

    /// Runs `load` on the loader's threads and waits for its result. Any
    /// parallel work inside it (wasmtime's compile) stays on them.
    pub fn run<R: Send>(&self, load: impl FnOnce() -> R + Send) -> R {
        self.pool.install(load)
    }
}

/// Lowers the calling thread by `steps` with `lower`; false (and a debug
/// line) when that was not permitted or is not supported here.
fn lower_current_thread(steps: i32, lower: fn(i32) -> io::Result<i32>) -> bool {
    let current = std::thread::current();
    match lower(steps) {
        Ok(nice) => {
            tracing::debug!(thread = current.name(), nice, "reload loader thread started");
            true
        }
        Err(err) => {
            tracing::debug!(
                thread = current.name(),
                "cannot lower the reload loader's scheduling priority, it runs at the workers': {err}"
            );
            false
        }
    }
}

/// Adds `steps` to the calling thread's nice value (at most 19) and returns
/// the new value. On Linux the nice value is a per-thread attribute, addressed
/// by thread id under `PRIO_PROCESS`; the other threads keep theirs.
#[cfg(target_os = "linux")]
fn lower_by(steps: i32) -> io::Result<i32> {
    let now = current_thread_nice()?;
    let nice = now.saturating_add(steps).min(19);
    // SAFETY: gettid and setpriority take plain integers and touch no memory of ours.
    if unsafe { libc::setpriority(libc::PRIO_PROCESS, libc::gettid() as libc::id_t, nice) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(nice)
}

#[cfg(not(target_os = "linux"))]
fn lower_by(_steps: i32) -> io::Result<i32> {
    Err(io::Error::new(io::ErrorKind::Unsupported, "per-thread priorities are only set on Linux"))
}

/// The calling thread's nice value.
#[cfg(target_os = "linux")]
fn current_thread_nice() -> io::Result<i32> {
    // SAFETY: errno is thread-local; it is cleared because -1 is both a valid
    // nice value and getpriority's error return. gettid and getpriority take
    // plain integers.
    let nice = unsafe {
        *libc::__errno_location() = 0;
        libc::getpriority(libc::PRIO_PROCESS, libc::gettid() as libc::id_t)
    };
    match io::Error::last_os_error() {
        err if nice == -1 && err.raw_os_error() != Some(0) => Err(err),
        _ => Ok(nice),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(target_os = "linux")]
    #[test]
    fn loads_run_below_the_callers_priority_and_so_does_their_parallel_work() {
        let nice = || current_thread_nice().expect("nice");
        let loader = Loader::start().expect("loader");
        let caller = nice();
        let (pool, threads) = loader.run(|| {
            // What a parallel compile inside sees: this pool's threads, all lowered.
            (rayon::broadcast(|_| nice()), rayon::current_num_threads())
        });
        assert_eq!(threads, std::thread::available_parallelism().map_or(1, |n| n.get()).min(MAX_THREADS));
        let lowered = (caller + NICE).min(19);
        assert!(pool.iter().all(|n| *n == lowered), "threads at {pool:?}, caller at {caller}");
        assert_eq!(nice(), caller, "the caller keeps its own priority");
    }

    #[test]
    fn a_thread_that_may_not_be_lowered_still_loads() {
        fn refused(_: i32) -> io::Result<i32> {
            Err(io::Error::from(io::ErrorKind::PermissionDenied))
        }
        assert!(!lower_current_thread(NICE, refused));
        let loader = Loader::start().expect("loader");
        assert_eq!(loader.run(|| 6 * 7), 42);
    }
}
