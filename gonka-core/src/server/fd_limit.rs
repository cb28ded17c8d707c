//! The process's open-file limit (every connection is one descriptor): [`raise_fd_limit`], called
//! once by each binary at start, and the connection caps derived from the limit
//! ([`fd_reserve`], [`default_max_connections`], [`default_max_connections_per_ip`]).

/// The soft limit assumed where the operating system has none to read (not Unix).
const ASSUMED_SOFT_LIMIT: u64 = 1024;

/// Fewest descriptors kept out of reach of client connections (see [`fd_reserve`]).
pub const FD_RESERVE_MIN: u64 = 64;

/// Most descriptors [`fd_reserve`] keeps back, however high the limit.
pub const FD_RESERVE_MAX: u64 = 4096;

/// Highest default per-listener connection cap, however high the descriptor limit: idle
/// connections cost memory too, so more must be asked for (`--max-connections`).
pub const DEFAULT_MAX_CONNECTIONS_CEILING: usize = 16_384;

/// The open-file limits of the process before and after [`raise_fd_limit`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FdLimit {
    /// Soft limit found at start.
    pub before: u64,
    /// Soft limit now (the hard limit when raising it worked, else `before`).
    pub after: u64,
    /// Hard limit (the ceiling of the soft one).
    pub hard: u64,
}

/// Raises the soft open-file limit (`RLIMIT_NOFILE`) of this process to its hard limit and logs
/// the old and new values (`info`; `warn` when the raise was refused), so that each connection
/// cap derived from it ([`default_max_connections`]) is as high as the host allows. Binaries call
/// it once, at start, before binding listeners; libraries never do. `None` where there is no such
/// limit (not Unix) or it cannot be read.
pub fn raise_fd_limit() -> Option<FdLimit> {
    imp::raise()
}

/// The current soft open-file limit, 1,024 (an assumed default) where it cannot be read,
/// `u64::MAX` when unlimited.
pub fn fd_soft_limit() -> u64 {
    imp::soft().unwrap_or(ASSUMED_SOFT_LIMIT)
}

/// Descriptors kept back from client connections for everything else the process opens
/// (upstream and health-check connections, the database, log files): an eighth of `soft_limit`,
/// at least [`FD_RESERVE_MIN`] and at most [`FD_RESERVE_MAX`].
pub fn fd_reserve(soft_limit: u64) -> u64 {
    (soft_limit / 8).clamp(FD_RESERVE_MIN, FD_RESERVE_MAX)
}

/// Client connections the whole process may hold open at once under `soft_limit`: the limit
/// less [`fd_reserve`] (at least 1).
pub fn process_connection_budget(soft_limit: u64) -> usize {
    let budget = soft_limit.saturating_sub(fd_reserve(soft_limit)).max(1);
    usize::try_from(budget).unwrap_or(usize::MAX)
}

/// Default cap on open connections of one listener under `soft_limit`:
/// [`process_connection_budget`], at most [`DEFAULT_MAX_CONNECTIONS_CEILING`].
pub fn default_max_connections(soft_limit: u64) -> usize {
    process_connection_budget(soft_limit).min(DEFAULT_MAX_CONNECTIONS_CEILING)
}

/// Default cap on open connections from one client address for a listener capped at
/// `max_connections`: a quarter of it (at least 1), so one address never holds a whole listener.
pub fn default_max_connections_per_ip(max_connections: usize) -> usize {
    (max_connections / 4).max(1)
}

#[cfg(unix)]
mod imp {
    use nix::sys::resource::{getrlimit, setrlimit, Resource, RLIM_INFINITY};

    use super::FdLimit;

    // `rlim_t` is `u64` on Linux and macOS, signed on some BSDs.
    #[allow(clippy::useless_conversion, clippy::unnecessary_fallible_conversions)]
    fn as_u64(v: nix::sys::resource::rlim_t) -> u64 {
        if v == RLIM_INFINITY {
            u64::MAX
        } else {
            u64::try_from(v).unwrap_or(u64::MAX)
        }
    }

    pub(super) fn soft() -> Option<u64> {
        getrlimit(Resource::RLIMIT_NOFILE)
            .ok()
            .map(|(soft, _)| as_u64(soft))
    }

    pub(super) fn raise() -> Option<FdLimit> {
        let (soft, hard) = match getrlimit(Resource::RLIMIT_NOFILE) {
            Ok(limits) => limits,
            Err(e) => {
                tracing::warn!(error = %e, "cannot read the open-file limit (RLIMIT_NOFILE)");
                return None;
            }
        };
        let mut limit = FdLimit {
            before: as_u64(soft),
            after: as_u64(soft),
            hard: as_u64(hard),
        };
        if soft == hard {
            tracing::info!(
                limit = limit.after,
                "open-file limit already at its hard limit"
            );
            return Some(limit);
        }
        match setrlimit(Resource::RLIMIT_NOFILE, hard, hard) {
            Ok(()) => {
                limit.after = limit.hard;
                tracing::info!(
                    old = limit.before,
                    new = limit.after,
                    "open-file limit raised to its hard limit"
                );
            }
            Err(e) => tracing::warn!(
                limit = limit.before,
                hard = limit.hard,
                error = %e,
                "cannot raise the open-file limit; connection caps follow the current one"
            ),
        }
        Some(limit)
    }
}

#[cfg(not(unix))]
mod imp {
    use super::FdLimit;

    pub(super) fn soft() -> Option<u64> {
        None
    }

    pub(super) fn raise() -> Option<FdLimit> {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_reserve_is_an_eighth_of_the_limit_within_its_bounds() {
        assert_eq!(fd_reserve(256), FD_RESERVE_MIN);
        assert_eq!(fd_reserve(1024), 128);
        assert_eq!(fd_reserve(1 << 20), FD_RESERVE_MAX);
        assert_eq!(fd_reserve(u64::MAX), FD_RESERVE_MAX);
    }

    #[test]
    fn default_caps_stay_below_the_limit_less_the_reserve() {
        for soft in [16, 256, 1024, 65_536, 1 << 20, u64::MAX] {
            let max = default_max_connections(soft);
            assert!(max >= 1);
            assert!(
                soft <= FD_RESERVE_MIN || (max as u64) <= soft - fd_reserve(soft),
                "{soft}: {max}"
            );
            assert!(max <= DEFAULT_MAX_CONNECTIONS_CEILING);
            let per_ip = default_max_connections_per_ip(max);
            assert!(per_ip >= 1 && per_ip <= max);
        }
        assert_eq!(default_max_connections(1024), 896);
        assert_eq!(default_max_connections_per_ip(896), 224);
        assert_eq!(default_max_connections(1 << 20), 16_384);
    }

    #[test]
    fn the_soft_limit_can_be_read() {
        assert!(fd_soft_limit() > 0);
    }
}
