//! The `gonka-gateway` binary's global allocator: mimalloc instead of glibc malloc, configured to
//! hand freed memory back to the operating system.
//!
//! The proxy path allocates and frees many small buffers per request (hyper heads and bodies,
//! header maps, boxed futures); glibc's malloc/free/consolidate were ~8 % of the gateway's CPU
//! under load, mimalloc's ~4 % (benches/load/NOTES.md has the before/after).
//!
//! mimalloc's defaults on Linux keep what a burst used: its first arena (where everything is
//! allocated) is committed eagerly, and freed pages are purged only a second (arenas: ten
//! seconds) after they were freed, when mimalloc is next called. With 1,000 nodes that held
//! ~30 MB after a burst that reached every node (benches/load/MEMORY.md). Two options return it:
//!
//! - `MIMALLOC_ARENA_EAGER_COMMIT=0`. mimalloc reads it when the process loads and reserves its
//!   first arena before `main` runs, so setting it from inside is too late: [`configure`]
//!   re-executes the binary once (same process id, arguments and descriptors) with the variable
//!   set, unless it is already in the environment.
//! - `MIMALLOC_PURGE_DELAY=0` (purge at once): set from inside by [`configure`].
//!
//! An operator's own value of either variable wins (`MIMALLOC_ARENA_EAGER_COMMIT=2` and
//! `MIMALLOC_PURGE_DELAY=1000` give mimalloc's defaults back).

/// The allocator of the binary.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// mimalloc's number of its purge delay option (`mi_option_e` of its `mimalloc.h`, the same in
/// its v2 and v3; the Rust binding does not export it). The test reads the documented defaults
/// through this number and the one before, so a renumbering fails it.
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

/// The variable mimalloc reads for its arena eager commit option, and the gateway's value.
const ARENA_EAGER_COMMIT: (&str, &str) = ("MIMALLOC_ARENA_EAGER_COMMIT", "0");
/// The variable mimalloc reads for [`MI_OPTION_PURGE_DELAY`] (milliseconds), and the gateway's
/// value.
const PURGE_DELAY: (&str, std::ffi::c_long) = ("MIMALLOC_PURGE_DELAY", 0);

/// Configures the allocator; call first thing in `main`, before any thread starts. Without
/// `MIMALLOC_ARENA_EAGER_COMMIT` in the environment this re-executes the binary with it set (on
/// Linux, through `/proc/self/exe`, so a binary replaced on disk meanwhile is not what runs) and
/// does not return; if that fails, it warns on standard error and goes on with mimalloc's
/// default. Then it sets the purge delay unless `MIMALLOC_PURGE_DELAY` is set.
pub fn configure() {
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
    if std::env::var_os(PURGE_DELAY.0).is_none() {
        set(MI_OPTION_PURGE_DELAY, PURGE_DELAY.1);
    }
}

/// Sets one of mimalloc's options.
#[allow(unsafe_code)]
fn set(option: libmimalloc_sys::mi_option_t, value: std::ffi::c_long) {
    // SAFETY: `mi_option_set` stores a plain integer in mimalloc's option table; `option` is one
    // of the enumerated options (see the numbers above and their test).
    unsafe { libmimalloc_sys::mi_option_set(option, value) }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// mimalloc's number of its arena eager commit option (`mi_option_e`).
    const MI_OPTION_ARENA_EAGER_COMMIT: libmimalloc_sys::mi_option_t = 4;

    #[allow(unsafe_code)]
    fn get(option: libmimalloc_sys::mi_option_t) -> std::ffi::c_long {
        // SAFETY: reads one entry of mimalloc's option table.
        unsafe { libmimalloc_sys::mi_option_get(option) }
    }

    #[test]
    fn option_numbers_name_the_options_they_mean() {
        // Skipped where the caller's environment names them (its values would be read instead).
        if std::env::var_os(ARENA_EAGER_COMMIT.0).is_some()
            || std::env::var_os(PURGE_DELAY.0).is_some()
        {
            return;
        }
        // mimalloc's documented defaults: 2 = eager on overcommitting systems; v3 purges after
        // 1,000 ms, v2 after 10.
        assert_eq!(get(MI_OPTION_ARENA_EAGER_COMMIT), 2);
        assert!(matches!(get(MI_OPTION_PURGE_DELAY), 10 | 1000));
        set(MI_OPTION_PURGE_DELAY, PURGE_DELAY.1);
        assert_eq!(get(MI_OPTION_PURGE_DELAY), PURGE_DELAY.1);
    }
}
