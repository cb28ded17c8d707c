//! Request ids for `x-request-id`: a random per-process prefix and a counter. Unique within the
//! process and across restarts with overwhelming probability; no system call per request
//! (unlike UUIDv4 from the OS random source).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use axum::http::{HeaderValue, Request};
use rand::Rng;
use tower_http::request_id::{MakeRequestId, RequestId};

/// Makes ids like `gw-3f9a1c2e-000000000000002a`.
#[derive(Debug, Clone)]
pub struct CounterRequestId {
    prefix: u32,
    next: Arc<AtomicU64>,
}

impl Default for CounterRequestId {
    fn default() -> Self {
        Self {
            prefix: rand::thread_rng().gen(),
            next: Arc::new(AtomicU64::new(0)),
        }
    }
}

impl MakeRequestId for CounterRequestId {
    fn make_request_id<B>(&mut self, _request: &Request<B>) -> Option<RequestId> {
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        // `gw-{prefix:08x}-{n:016x}` written in place: no formatting machinery per request.
        let mut id = [0u8; 28];
        id[..3].copy_from_slice(b"gw-");
        write_hex(&mut id[3..11], u64::from(self.prefix));
        id[11] = b'-';
        write_hex(&mut id[12..], n);
        HeaderValue::from_bytes(&id).ok().map(RequestId::new)
    }
}

/// Writes the low `out.len()` hex digits of `value` (lower case, zero-padded) into `out`.
fn write_hex(out: &mut [u8], mut value: u64) {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    for byte in out.iter_mut().rev() {
        *byte = DIGITS[(value & 0xf) as usize];
        value >>= 4;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_distinct_and_share_the_process_prefix() {
        let mut make = CounterRequestId::default();
        let req = Request::new(());
        let a = make.make_request_id(&req).unwrap();
        let b = make.make_request_id(&req).unwrap();
        let (a, b) = (
            a.header_value().to_str().unwrap(),
            b.header_value().to_str().unwrap(),
        );
        assert_ne!(a, b);
        assert_eq!(a[..11], b[..11]);
        assert!(a.starts_with("gw-"));
    }

    #[test]
    fn ids_read_as_prefix_and_counter_in_hex() {
        let mut make = CounterRequestId {
            prefix: 0x3f9a_1c2e,
            next: Arc::new(AtomicU64::new(0x2a)),
        };
        let id = make.make_request_id(&Request::new(())).unwrap();
        assert_eq!(
            id.header_value().to_str().unwrap(),
            format!("gw-{:08x}-{:016x}", 0x3f9a_1c2e_u32, 0x2a_u64)
        );
        let mut max = CounterRequestId {
            prefix: u32::MAX,
            next: Arc::new(AtomicU64::new(u64::MAX)),
        };
        let id = max.make_request_id(&Request::new(())).unwrap();
        assert_eq!(
            id.header_value().to_str().unwrap(),
            "gw-ffffffff-ffffffffffffffff"
        );
    }
}
