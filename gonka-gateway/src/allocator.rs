//! The `gonka-gateway` binary's global allocator: mimalloc instead of glibc malloc, configured to
//! hand freed memory back to the operating system.
//!
//! The proxy path allocates and frees many small buffers per request (hyper heads and bodies,
//! header maps, boxed futures); glibc's malloc/free/consolidate were ~8 % of the gateway's CPU
//! under load, mimalloc's ~4 % (benches/load/NOTES.md has the before/after).
//!
//! mimalloc's defaults on Linux keep what a burst used: its first arena (where everything is
//! allocated) is committed eagerly, and freed pages are purged only a second (arenas: ten
//! seconds) after they were freed, and only when mimalloc is next called on that thread, which an
//! idle gateway barely does. With 1,000 nodes that held ~30 MB after a burst that reached every
//! node (benches/load/MEMORY.md). Two measures return it:
//!
//! - `MIMALLOC_ARENA_EAGER_COMMIT=0`. mimalloc reads it when the process loads and reserves its
//!   first arena before `main` runs, so setting it from inside is too late: [`configure`]
//!   re-executes the binary once (same process id, arguments and descriptors) with the variable
//!   set, unless it is already in the environment (an operator's value wins;
//!   `MIMALLOC_ARENA_EAGER_COMMIT=2` is mimalloc's default). Measured cost: ~1 % CPU per request.
//! - [`on_thread_park`], given to the runtime: a worker thread that goes idle asks mimalloc to
//!   collect and purge at once, at most every [`COLLECT_EVERY`] per thread. Under load that is a
//!   few calls a second; once the load stops, what it freed leaves the process. (A purge delay of
//!   0 did the same and cost ~5 % CPU per request: an `madvise` per freed range.)

use std::cell::Cell;
use std::time::{Duration, Instant};

/// The allocator of the binary.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// The variable mimalloc reads for its arena eager commit option, and the gateway's value.
const ARENA_EAGER_COMMIT: (&str, &str) = ("MIMALLOC_ARENA_EAGER_COMMIT", "0");
/// Longest a worker thread goes idle without asking mimalloc to collect.
pub const COLLECT_EVERY: Duration = Duration::from_secs(1);

/// Configures the allocator; call first thing in `main`, before any thread starts. Without
/// `MIMALLOC_ARENA_EAGER_COMMIT` in the environment this re-executes the binary with it set (on
/// Linux, through `/proc/self/exe`, so a binary replaced on disk meanwhile is not what runs) and
/// does not return; if that fails, it warns on standard error and goes on with mimalloc's
/// default.
pub fn configure() {
    #[cfg(target_os = "linux")]
    name_after_arg0();
    #[cfg(target_os = "linux")]
    if std::env::var_os(ARENA_EAGER_COMMIT.0).is_none() {
        use std::os::unix::process::CommandExt;
        let mut args = std::env::args_os();
        let mut command = std::process::Command::new("/proc/self/exe");
        if let Some(arg0) = args.next() {
            command.arg0(arg0);
        }
        // Returns only on failure.
        let error = command
            .args(args)
            .env(ARENA_EAGER_COMMIT.0, ARENA_EAGER_COMMIT.1)
            .exec();
        eprintln!(
            "gonka-gateway: warning: cannot re-execute with {}={} ({error}); mimalloc keeps freed \
             memory longer",
            ARENA_EAGER_COMMIT.0, ARENA_EAGER_COMMIT.1
        );
    }
}

/// Names the process (what `ps`, `top`, `pgrep` and `/proc/PID/comm` show) after the file name
/// of its `argv[0]`, as `execve` of that path names it: a process executed through
/// `/proc/self/exe` is otherwise named `exe`. Linux keeps the first 15 bytes.
#[cfg(target_os = "linux")]
fn name_after_arg0() {
    use std::os::unix::ffi::OsStrExt;
    let Some(arg0) = std::env::args_os().next() else {
        return;
    };
    let Some(name) = std::path::Path::new(&arg0).file_name() else {
        return;
    };
    let mut comm = [0u8; 16];
    let bytes = name.as_bytes();
    let len = bytes.len().min(15);
    // No NUL inside: an argument reaches the process as a C string.
    comm[..len].copy_from_slice(&bytes[..len]);
    // SAFETY: PR_SET_NAME reads a NUL-terminated string of at most 16 bytes; `comm` is 16
    // bytes and its last byte is always 0.
    #[allow(unsafe_code)]
    unsafe {
        libc::prctl(libc::PR_SET_NAME, comm.as_ptr());
    }
}

thread_local! {
    /// When this thread last asked mimalloc to collect.
    static LAST_COLLECT: Cell<Option<Instant>> = const { Cell::new(None) };
}

/// For the runtime's `on_thread_park`: when this worker thread goes idle and has not collected
/// for [`COLLECT_EVERY`], asks mimalloc to collect its heap and purge what is free now
/// (`mi_collect(true)`). Returns whether it collected.
pub fn on_thread_park() -> bool {
    let now = Instant::now();
    let due = LAST_COLLECT.with(|last| match last.get() {
        Some(at) if now.duration_since(at) < COLLECT_EVERY => false,
        _ => {
            last.set(Some(now));
            true
        }
    });
    if due {
        collect();
    }
    due
}

/// Collects this thread's heap and purges the freed memory of every arena now.
#[allow(unsafe_code)]
fn collect() {
    // SAFETY: `mi_collect` may be called from any thread at any time; it only touches
    // mimalloc's own structures (this thread's heap and the arenas, under their locks).
    unsafe { libmimalloc_sys::mi_collect(true) }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// mimalloc's number of its arena eager commit option (`mi_option_e` of its `mimalloc.h`).
    const MI_OPTION_ARENA_EAGER_COMMIT: libmimalloc_sys::mi_option_t = 4;

    #[allow(unsafe_code)]
    fn get(option: libmimalloc_sys::mi_option_t) -> std::ffi::c_long {
        // SAFETY: reads one entry of mimalloc's option table.
        unsafe { libmimalloc_sys::mi_option_get(option) }
    }

    #[test]
    fn the_variable_names_the_option_it_means() {
        // Skipped where the caller's environment names it (its value would be read instead).
        if std::env::var_os(ARENA_EAGER_COMMIT.0).is_some() {
            return;
        }
        // mimalloc's documented default, read through the option's number: 2 = eager on
        // overcommitting systems.
        assert_eq!(get(MI_OPTION_ARENA_EAGER_COMMIT), 2);
    }

    #[test]
    fn a_parking_thread_collects_at_most_once_per_interval() {
        std::thread::spawn(|| {
            assert!(on_thread_park(), "the first park collects");
            let freed: Vec<Vec<u8>> = (0..1000).map(|_| vec![0u8; 4096]).collect();
            drop(freed);
            assert!(!on_thread_park(), "not again within the interval");
        })
        .join()
        .unwrap();
    }
}
