//! Write coalescing for forwarded bodies: the upstream data frames that are ready when the server
//! asks for the next frame leave as one frame (one `writev`, one TCP segment), up to
//! [`MAX_COALESCED`] bytes, so a burst of SSE events costs one write instead of one per event.
//! TCP_NODELAY stays on; the coalescing happens here, not in TCP, and never on a timer.
//!
//! hyper's client hands a response body over one decoded chunk at a time (its body channel holds
//! one chunk; the connection task decodes the next only after the previous one was taken), so
//! "what is ready" is only visible after that task has run. When a poll took new data from the
//! upstream and the upstream then has nothing ready, the body yields to the scheduler
//! (`tokio::task::yield_now`: the tasks already woken, the upstream connection among them, run
//! first; no timer, no waiting for the node) and sends what it has once [`EMPTY_PASSES`] passes
//! in a row brought nothing new. A lone event thus leaves after a few scheduler passes
//! (microseconds when idle, a few run-queue turns under load), never after more data or a
//! timeout. The chunk read before the response head was sent goes out with the head at once.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::{Bytes, BytesMut};
use hyper::body::{Body, Frame, SizeHint};

/// Most bytes gathered into one frame; a frame that reaches it is sent and gathering starts over.
pub(crate) const MAX_COALESCED: usize = 64 * 1024;

/// Most scheduler passes one frame is gathered over.
const MAX_PASSES: u32 = 32;

/// Passes in a row that bring nothing new after which the gathered data is sent. More than one:
/// under load the yielded task can be polled again before the upstream connection task (which
/// waits in the run queue) has decoded the next chunk.
const EMPTY_PASSES: u32 = 3;

/// A body that merges the data frames its inner body has ready into one frame.
///
/// Frames other than data (trailers) are passed on in order, after the data gathered before them.
/// An inner error is passed on after the data gathered before it.
pub(crate) struct Coalesce<B: Body> {
    inner: B,
    /// Data gathered for the next frame (at first: the chunk read while choosing the node).
    gathered: Gathered,
    /// Scheduler passes spent gathering `gathered`.
    passes: u32,
    /// Passes in a row that brought nothing new.
    empty_passes: u32,
    /// A frame or error read while gathering that must be sent after the gathered data.
    pending: Option<Result<Frame<Bytes>, <B as Body>::Error>>,
    /// The inner body ended while gathering.
    ended: bool,
}

impl<B: Body<Data = Bytes>> Coalesce<B> {
    /// Wraps `inner`, sending `first` before it (gathered with whatever `inner` has ready).
    pub fn with_first(first: Option<Bytes>, inner: B) -> Self {
        Self {
            inner,
            gathered: match first {
                Some(b) if !b.is_empty() => Gathered::One(b),
                _ => Gathered::Empty,
            },
            passes: 0,
            empty_passes: 0,
            pending: None,
            ended: false,
        }
    }
}

/// What has been gathered for the frame being built: nothing, one chunk (sent as is, no copy) or
/// several copied into one buffer.
enum Gathered {
    Empty,
    One(Bytes),
    Many(BytesMut),
}

impl Gathered {
    fn len(&self) -> usize {
        match self {
            Gathered::Empty => 0,
            Gathered::One(b) => b.len(),
            Gathered::Many(b) => b.len(),
        }
    }

    fn push(&mut self, chunk: Bytes) {
        *self = match std::mem::replace(self, Gathered::Empty) {
            Gathered::Empty => Gathered::One(chunk),
            Gathered::One(first) => {
                let mut buf = BytesMut::with_capacity(first.len() + chunk.len() * 2);
                buf.extend_from_slice(&first);
                buf.extend_from_slice(&chunk);
                Gathered::Many(buf)
            }
            Gathered::Many(mut buf) => {
                buf.extend_from_slice(&chunk);
                Gathered::Many(buf)
            }
        }
    }

    fn into_bytes(self) -> Option<Bytes> {
        match self {
            Gathered::Empty => None,
            Gathered::One(b) => Some(b),
            Gathered::Many(b) => Some(b.freeze()),
        }
    }
}

impl<B> Body for Coalesce<B>
where
    B: Body<Data = Bytes> + Unpin,
    B::Error: Unpin,
{
    type Data = Bytes;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let this = self.get_mut();
        if let Some(next) = this.pending.take() {
            return Poll::Ready(Some(next));
        }
        let mut got_new = false;
        while !this.ended && this.gathered.len() < MAX_COALESCED {
            match Pin::new(&mut this.inner).poll_frame(cx) {
                Poll::Ready(Some(Ok(frame))) => match frame.into_data() {
                    Ok(chunk) => {
                        if !chunk.is_empty() {
                            this.gathered.push(chunk);
                            got_new = true;
                        }
                    }
                    Err(other) => {
                        this.pending = Some(Ok(other));
                        break;
                    }
                },
                Poll::Ready(Some(Err(e))) => {
                    this.pending = Some(Err(e));
                    break;
                }
                Poll::Ready(None) => this.ended = true,
                Poll::Pending => {
                    if this.gathered.len() == 0 {
                        return Poll::Pending;
                    }
                    if got_new {
                        this.empty_passes = 0;
                    } else if this.passes > 0 {
                        this.empty_passes += 1;
                    }
                    let worth_a_pass = this.passes > 0 || got_new;
                    if worth_a_pass && this.empty_passes < EMPTY_PASSES && this.passes < MAX_PASSES
                    {
                        // One more scheduler pass to see what the upstream decodes meanwhile.
                        this.passes += 1;
                        // Its first poll schedules the wake-up after the tasks already woken.
                        let mut pass = std::pin::pin!(tokio::task::yield_now());
                        if pass.as_mut().poll(cx).is_pending() {
                            return Poll::Pending;
                        }
                    }
                    break;
                }
            }
        }
        this.passes = 0;
        this.empty_passes = 0;
        match std::mem::replace(&mut this.gathered, Gathered::Empty).into_bytes() {
            Some(data) => Poll::Ready(Some(Ok(Frame::data(data)))),
            None => match this.pending.take() {
                Some(next) => Poll::Ready(Some(next)),
                None if this.ended => Poll::Ready(None),
                None => Poll::Pending,
            },
        }
    }

    fn is_end_stream(&self) -> bool {
        self.gathered.len() == 0
            && self.pending.is_none()
            && (self.ended || self.inner.is_end_stream())
    }

    fn size_hint(&self) -> SizeHint {
        if self.pending.is_some() {
            return SizeHint::default();
        }
        // An exact hint lets the server send Content-Length instead of chunked encoding.
        let inner = self.inner.size_hint();
        let first = self.gathered.len() as u64;
        let mut hint = SizeHint::new();
        hint.set_lower(inner.lower().saturating_add(first));
        if let Some(upper) = inner.upper() {
            hint.set_upper(upper.saturating_add(first));
        }
        hint
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    use std::task::{Wake, Waker};

    use http_body_util::StreamBody;
    use tokio::sync::mpsc;
    use tokio_stream::wrappers::UnboundedReceiverStream;

    use super::*;

    type Item = Result<Frame<Bytes>, std::io::Error>;
    type Fed = StreamBody<UnboundedReceiverStream<Item>>;

    /// Counts the wake-ups a body asks for.
    #[derive(Default)]
    struct Wakes(AtomicUsize);

    impl Wake for Wakes {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
        fn wake_by_ref(self: &Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    /// A body fed by hand through a channel (what was sent is "already received"), polled by
    /// hand with a waker that counts wake-ups.
    struct Harness {
        tx: mpsc::UnboundedSender<Item>,
        body: Coalesce<Fed>,
        wakes: Arc<Wakes>,
    }

    impl Harness {
        fn new(first: Option<&'static [u8]>) -> Self {
            let (tx, rx) = mpsc::unbounded_channel();
            let inner = StreamBody::new(UnboundedReceiverStream::new(rx));
            Self {
                tx,
                body: Coalesce::with_first(first.map(Bytes::from_static), inner),
                wakes: Arc::default(),
            }
        }

        fn send(&self, n: usize) {
            self.tx.send(Ok(event(n))).unwrap();
        }

        /// Polls once; returns the result and whether the body asked to be polled again at once.
        fn poll(&mut self) -> (Poll<Option<Item>>, bool) {
            let before = self.wakes.0.load(Ordering::SeqCst);
            let waker = Waker::from(self.wakes.clone());
            let mut cx = Context::from_waker(&waker);
            let p = Pin::new(&mut self.body).poll_frame(&mut cx);
            (p, self.wakes.0.load(Ordering::SeqCst) > before)
        }

        /// Polls until a data frame comes, checking that every `Pending` on the way asked to be
        /// polled again at once (a scheduler pass, not a wait for the node). Returns the frame
        /// and the number of passes it took.
        fn next_frame(&mut self) -> (Bytes, u32) {
            for passes in 0..=MAX_PASSES + 1 {
                match self.poll() {
                    (Poll::Pending, true) => continue,
                    (Poll::Pending, false) => panic!("waiting for the node with data in hand"),
                    (p, _) => return (data(p), passes),
                }
            }
            panic!("no frame after {MAX_PASSES} passes");
        }
    }

    fn data(p: Poll<Option<Item>>) -> Bytes {
        match p {
            Poll::Ready(Some(Ok(f))) => f.into_data().unwrap(),
            other => panic!("expected a data frame, got {other:?}"),
        }
    }

    fn text(n: usize) -> String {
        format!("data: {{\"n\":{n}}}\n\n")
    }

    fn event(n: usize) -> Frame<Bytes> {
        Frame::data(Bytes::from(text(n)))
    }

    #[test]
    fn events_received_together_leave_as_one_frame() {
        let mut h = Harness::new(None);
        for n in 0..5 {
            h.send(n);
        }
        let (frame, passes) = h.next_frame();
        let expected: String = (0..5).map(text).collect();
        assert_eq!(frame, expected.as_bytes());
        assert!(passes <= EMPTY_PASSES);
        let (p, rewake) = h.poll();
        assert!(
            p.is_pending() && !rewake,
            "nothing more was received: wait for the node"
        );
    }

    #[test]
    fn a_lone_event_leaves_after_a_few_passes_without_waiting_for_more() {
        let mut h = Harness::new(None);
        assert!(matches!(h.poll(), (Poll::Pending, false)));
        h.send(1);
        // Not held for more data or a timer: each Pending asks to be polled again at once, and
        // the event leaves although nothing else arrives.
        let (frame, passes) = h.next_frame();
        assert_eq!(frame, text(1).as_bytes());
        assert_eq!(
            passes, EMPTY_PASSES,
            "one pass for the event, then the empty ones"
        );
        assert!(matches!(h.poll(), (Poll::Pending, false)));
        h.send(2);
        assert_eq!(h.next_frame().0, text(2).as_bytes());
        drop(h.tx);
        assert!(matches!(h.body.poll_frame_noop(), Poll::Ready(None)));
        assert!(h.body.is_end_stream());
    }

    #[test]
    fn events_handed_over_one_per_pass_join_one_frame() {
        // hyper's client body channel holds one chunk: the next arrives after the previous was
        // taken and the connection task ran.
        let mut h = Harness::new(None);
        h.send(1);
        assert!(matches!(h.poll(), (Poll::Pending, true)));
        h.send(2);
        assert!(matches!(h.poll(), (Poll::Pending, true)));
        assert!(
            matches!(h.poll(), (Poll::Pending, true)),
            "one empty pass is not the end"
        );
        h.send(3);
        let expected: String = (1..=3).map(text).collect();
        assert_eq!(h.next_frame().0, expected.as_bytes());
    }

    #[test]
    fn the_end_of_the_body_flushes_what_was_gathered_then_ends() {
        let mut h = Harness::new(None);
        h.send(1);
        h.send(2);
        drop(h.tx);
        let expected = text(1) + &text(2);
        assert_eq!(data(h.body.poll_frame_noop()), expected.as_bytes());
        assert!(matches!(h.body.poll_frame_noop(), Poll::Ready(None)));
    }

    #[test]
    fn frames_are_bounded_in_size() {
        let h = Harness::new(None);
        let chunk = Bytes::from(vec![b'x'; 16 * 1024]);
        for _ in 0..10 {
            h.tx.send(Ok(Frame::data(chunk.clone()))).unwrap();
        }
        let Harness { tx, mut body, .. } = h;
        drop(tx);
        let mut sizes = Vec::new();
        for _ in 0..20 {
            match body.poll_frame_noop() {
                Poll::Ready(Some(Ok(f))) => sizes.push(f.into_data().unwrap().len()),
                Poll::Ready(None) => break,
                other => panic!("unexpected {other:?}"),
            }
        }
        assert_eq!(sizes, vec![MAX_COALESCED, MAX_COALESCED, 32 * 1024]);
    }

    #[test]
    fn an_upstream_error_follows_the_data_gathered_before_it() {
        let mut h = Harness::new(None);
        h.send(1);
        h.tx.send(Err(std::io::Error::other("reset"))).unwrap();
        assert_eq!(data(h.poll().0), text(1).as_bytes());
        match h.poll().0 {
            Poll::Ready(Some(Err(e))) => assert_eq!(e.to_string(), "reset"),
            other => panic!("expected the error, got {other:?}"),
        }
    }

    #[test]
    fn the_first_chunk_is_gathered_with_what_is_ready() {
        let mut h = Harness::new(Some(b"head "));
        h.tx.send(Ok(Frame::data(Bytes::from_static(b"tail"))))
            .unwrap();
        assert_eq!(h.next_frame().0, &b"head tail"[..]);
    }

    #[test]
    fn the_chunk_read_before_the_head_leaves_with_it_at_once() {
        let mut h = Harness::new(Some(b"head "));
        assert!(matches!(h.poll(), (Poll::Ready(Some(Ok(_))), false)));
        assert!(matches!(h.poll(), (Poll::Pending, false)));
    }

    #[test]
    fn a_known_length_stays_exact_so_content_length_can_be_sent() {
        let inner = http_body_util::Full::new(Bytes::from_static(b"tail"));
        let body = Coalesce::with_first(Some(Bytes::from_static(b"head ")), inner);
        assert_eq!(body.size_hint().exact(), Some(9));
        let h = Harness::new(Some(b"head "));
        assert_eq!(
            h.body.size_hint().exact(),
            None,
            "unknown length stays unknown"
        );
    }

    #[test]
    fn trailers_follow_the_data_gathered_before_them() {
        let mut h = Harness::new(None);
        h.send(1);
        h.tx.send(Ok(Frame::trailers(http::HeaderMap::new())))
            .unwrap();
        h.send(2);
        assert_eq!(data(h.poll().0), text(1).as_bytes());
        match h.poll().0 {
            Poll::Ready(Some(Ok(f))) => assert!(f.is_trailers()),
            other => panic!("expected trailers, got {other:?}"),
        }
        assert_eq!(h.next_frame().0, text(2).as_bytes());
    }

    trait PollNoop {
        fn poll_frame_noop(&mut self) -> Poll<Option<Item>>;
    }

    impl PollNoop for Coalesce<Fed> {
        fn poll_frame_noop(&mut self) -> Poll<Option<Item>> {
            let mut cx = Context::from_waker(Waker::noop());
            Pin::new(self).poll_frame(&mut cx)
        }
    }
}
