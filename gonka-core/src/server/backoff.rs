//! [`AcceptBackoff`]: how long the server loop waits after a failed `accept` (out of file
//! descriptors, `EMFILE`/`ENFILE`, or of memory) before it tries again: doubling from
//! [`ACCEPT_BACKOFF_FIRST`] up to [`ACCEPT_BACKOFF_MAX`], back to the first after an accept
//! succeeds, so an exhausted process neither spins on `accept` nor stalls long once it recovers.

use std::io;
use std::time::Duration;

/// First wait after a failed accept.
pub const ACCEPT_BACKOFF_FIRST: Duration = Duration::from_millis(5);

/// Longest wait between two accepts that fail.
pub const ACCEPT_BACKOFF_MAX: Duration = Duration::from_secs(1);

/// Exponential, bounded back-off of a listener's failing accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct AcceptBackoff {
    next: Duration,
}

impl Default for AcceptBackoff {
    fn default() -> Self {
        Self {
            next: ACCEPT_BACKOFF_FIRST,
        }
    }
}

impl AcceptBackoff {
    /// The wait before the next try after a failed accept (and doubles the one after it).
    pub(crate) fn failed(&mut self) -> Duration {
        let wait = self.next;
        self.next = (self.next * 2).min(ACCEPT_BACKOFF_MAX);
        wait
    }

    /// An accept succeeded: the next failure waits [`ACCEPT_BACKOFF_FIRST`] again.
    pub(crate) fn succeeded(&mut self) {
        self.next = ACCEPT_BACKOFF_FIRST;
    }
}

/// Whether an accept error concerns only the connection being accepted (the client gave up
/// before it was accepted): the loop goes on at once, without backing off.
pub(crate) fn is_connection_error(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionRefused
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles_up_to_the_ceiling_and_resets_on_success() {
        let mut b = AcceptBackoff::default();
        let waits: Vec<Duration> = (0..12).map(|_| b.failed()).collect();
        assert_eq!(waits[0], ACCEPT_BACKOFF_FIRST);
        assert_eq!(waits[1], ACCEPT_BACKOFF_FIRST * 2);
        assert!(waits.windows(2).all(|w| w[1] >= w[0]));
        assert_eq!(*waits.last().unwrap(), ACCEPT_BACKOFF_MAX);
        b.succeeded();
        assert_eq!(b.failed(), ACCEPT_BACKOFF_FIRST);
    }

    #[test]
    fn only_per_connection_errors_skip_the_back_off() {
        assert!(is_connection_error(&io::Error::from(
            io::ErrorKind::ConnectionAborted
        )));
        // EMFILE
        assert!(!is_connection_error(&io::Error::from_raw_os_error(24)));
    }
}
