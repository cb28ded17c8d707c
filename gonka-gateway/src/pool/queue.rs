//! The holding queue: waiting for a slot when no node is eligible, bounded in size and time.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use gonka_core::RequestInfo;
use tokio::time::Instant;

use super::{AcquireError, NodePool, Permit};

impl NodePool {
    /// Takes a slot like [`try_acquire`](Self::try_acquire), waiting in the holding queue until
    /// `deadline` when no node is eligible now.
    ///
    /// # Errors
    /// `QueueFull` when `queue_capacity` requests already wait; `Timeout` at the deadline;
    /// `Closed` once [`close`](Self::close) was called.
    pub async fn acquire(
        self: &Arc<Self>,
        chain: &[RequestInfo],
        exclude: &[Arc<str>],
        deadline: Instant,
    ) -> Result<Permit, AcquireError> {
        let mut queued: Option<QueueSlot<'_>> = None;
        loop {
            let notified = self.changed.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if let Some(p) = self.try_acquire(chain, exclude) {
                return Ok(p);
            }
            if self.closed.load(Ordering::Acquire) {
                return Err(AcquireError::Closed);
            }
            if queued.is_none() {
                if self.waiting.fetch_add(1, Ordering::AcqRel) >= self.queue_capacity {
                    self.waiting.fetch_sub(1, Ordering::AcqRel);
                    return Err(AcquireError::QueueFull);
                }
                queued = Some(QueueSlot(&self.waiting));
            }
            tokio::select! {
                () = &mut notified => {}
                () = tokio::time::sleep_until(deadline) => return Err(AcquireError::Timeout),
            }
        }
    }

    /// Requests waiting in the holding queue now.
    pub fn queue_depth(&self) -> usize {
        self.waiting.load(Ordering::Acquire)
    }

    /// Wakes every waiter and makes new waits fail at once (shutdown).
    pub fn close(&self) {
        self.closed.store(true, Ordering::Release);
        self.wake();
    }
}

struct QueueSlot<'a>(&'a AtomicUsize);

impl Drop for QueueSlot<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}
