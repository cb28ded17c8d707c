//! Which accepted connections a listener keeps ([`Admission`]): at most `max_connections` open on
//! the listener, at most `max_connections_per_ip` from one client address, and, over every
//! listener of the process together, at most the open-file limit less a reserve
//! ([`super::fd_limit::process_connection_budget`]) so that upstream and health-check
//! connections always find a descriptor. A connection over a cap is shed ([`super::shed`]).

use std::collections::HashMap;
use std::fmt;
use std::net::IpAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

/// Client connections open on every listener of this process.
pub(crate) static PROCESS_OPEN: AtomicUsize = AtomicUsize::new(0);

/// Why a connection was shed, with the cap it hit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ShedReason {
    /// The listener holds its `max_connections`.
    Listener(usize),
    /// The client's address holds its `max_connections_per_ip`.
    Address(usize),
    /// The process holds as many client connections as its descriptor limit allows.
    Process(usize),
}

impl ShedReason {
    /// The short machine-readable code of the 503 body.
    pub(crate) fn code(self) -> &'static str {
        match self {
            Self::Listener(_) => "too_many_connections",
            Self::Address(_) => "too_many_connections_from_address",
            Self::Process(_) => "out_of_file_descriptors",
        }
    }
}

impl fmt::Display for ShedReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Listener(n) => {
                write!(f, "too many open connections on this listener (limit {n})")
            }
            Self::Address(n) => {
                write!(f, "too many open connections from your address (limit {n})")
            }
            Self::Process(n) => write!(f, "server out of connection capacity (limit {n})"),
        }
    }
}

#[derive(Debug, Default)]
struct Open {
    total: usize,
    by_ip: HashMap<IpAddr, usize>,
}

/// The caps of one listener and its count of open connections.
#[derive(Debug)]
pub(crate) struct Admission {
    max: usize,
    per_ip: usize,
    process_budget: usize,
    process_open: &'static AtomicUsize,
    open: Arc<Mutex<Open>>,
}

impl Admission {
    /// A listener allowing `max` open connections, `per_ip` from one address, within a process
    /// budget of `process_budget` connections counted by `process_open` over all listeners
    /// ([`PROCESS_OPEN`] outside tests).
    pub(crate) fn new(
        max: usize,
        per_ip: usize,
        process_budget: usize,
        process_open: &'static AtomicUsize,
    ) -> Self {
        Self {
            max,
            per_ip,
            process_budget,
            process_open,
            open: Arc::default(),
        }
    }

    /// Counts a new connection from `ip` when every cap allows it; the connection stays counted
    /// until the returned [`Admitted`] is dropped.
    pub(crate) fn admit(&self, ip: IpAddr) -> Result<Admitted, ShedReason> {
        let ip = ip.to_canonical();
        let mut open = self.open.lock().unwrap_or_else(PoisonError::into_inner);
        if open.total >= self.max {
            return Err(ShedReason::Listener(self.max));
        }
        let from_ip = open.by_ip.get(&ip).copied().unwrap_or(0);
        if from_ip >= self.per_ip {
            return Err(ShedReason::Address(self.per_ip));
        }
        if self.process_open.fetch_add(1, Ordering::AcqRel) >= self.process_budget {
            self.process_open.fetch_sub(1, Ordering::AcqRel);
            return Err(ShedReason::Process(self.process_budget));
        }
        open.total += 1;
        open.by_ip.insert(ip, from_ip + 1);
        Ok(Admitted {
            open: Arc::clone(&self.open),
            process_open: self.process_open,
            ip,
        })
    }

    /// Connections open on this listener now.
    #[cfg(test)]
    pub(crate) fn open(&self) -> usize {
        self.open
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .total
    }
}

/// One admitted connection; dropping it frees its place.
#[derive(Debug)]
pub(crate) struct Admitted {
    open: Arc<Mutex<Open>>,
    process_open: &'static AtomicUsize,
    ip: IpAddr,
}

impl Drop for Admitted {
    fn drop(&mut self) {
        self.process_open.fetch_sub(1, Ordering::AcqRel);
        let mut open = self.open.lock().unwrap_or_else(PoisonError::into_inner);
        open.total = open.total.saturating_sub(1);
        if let Some(n) = open.by_ip.get_mut(&self.ip) {
            *n -= 1;
            if *n == 0 {
                open.by_ip.remove(&self.ip);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn caps_per_address_then_per_listener_and_frees_on_drop() {
        static OPEN: AtomicUsize = AtomicUsize::new(0);
        let admission = Admission::new(3, 2, usize::MAX, &OPEN);
        let a1 = admission.admit(ip("127.0.0.2")).unwrap();
        let _a2 = admission.admit(ip("127.0.0.2")).unwrap();
        assert_eq!(
            admission.admit(ip("127.0.0.2")).unwrap_err(),
            ShedReason::Address(2)
        );
        // The IPv4-mapped form is the same client.
        assert_eq!(
            admission.admit(ip("::ffff:127.0.0.2")).unwrap_err(),
            ShedReason::Address(2)
        );
        let _b1 = admission.admit(ip("127.0.0.3")).unwrap();
        assert_eq!(
            admission.admit(ip("127.0.0.4")).unwrap_err(),
            ShedReason::Listener(3)
        );
        drop(a1);
        assert_eq!(admission.open(), 2);
        let _a3 = admission.admit(ip("127.0.0.2")).unwrap();
    }

    #[test]
    fn the_process_budget_spans_listeners() {
        static OPEN: AtomicUsize = AtomicUsize::new(0);
        let first = Admission::new(10, 10, 2, &OPEN);
        let second = Admission::new(10, 10, 2, &OPEN);
        let x = first.admit(ip("10.0.0.1")).unwrap();
        let _y = second.admit(ip("10.0.0.2")).unwrap();
        assert_eq!(
            second.admit(ip("10.0.0.3")).unwrap_err(),
            ShedReason::Process(2)
        );
        assert_eq!(OPEN.load(Ordering::Acquire), 2);
        drop(x);
        let _z = second.admit(ip("10.0.0.3")).unwrap();
    }
}
