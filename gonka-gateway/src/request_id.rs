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
        let id = format!("gw-{:08x}-{n:016x}", self.prefix);
        HeaderValue::from_str(&id).ok().map(RequestId::new)
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
}
