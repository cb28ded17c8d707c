//! Upstream connections that hear a node's early answer. A node may answer before it has read
//! the whole request — 413 for a body too large for the engine — and close the connection; the
//! rest of the body then cannot be written (broken pipe, reset) while the answer already waits
//! in the receive buffer. hyper stops at the write error and the answer is lost: the client's
//! mistake looked like a node failure, retried on every node and counted against each breaker.
//!
//! [`EarlyAnswerIo`] takes such a write error as "the node stopped reading": the rest of the
//! request is dropped (the node does not want it) and hyper goes on to read the answer. When
//! there is none, the read fails as the write did, and the try fails as before.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use hyper::rt::{Read, ReadBufCursor, Write};

/// A connection whose writes, once the peer stopped reading, are dropped instead of failing.
#[derive(Debug)]
pub(crate) struct EarlyAnswerIo<T> {
    inner: T,
    /// The peer stopped reading: what hyper still writes is dropped.
    write_closed: bool,
}

impl<T> EarlyAnswerIo<T> {
    /// Wraps a fresh connection.
    pub fn new(inner: T) -> Self {
        Self {
            inner,
            write_closed: false,
        }
    }

    /// Passes on `result`, except a "peer stopped reading" error, after which the write side
    /// is closed and `written` is reported instead.
    fn written<R>(&mut self, result: Poll<io::Result<R>>, written: R) -> Poll<io::Result<R>> {
        match result {
            Poll::Ready(Err(e)) if stopped_reading(&e) => {
                tracing::debug!(error = %e, "upstream stopped reading the request; reading its answer");
                self.write_closed = true;
                Poll::Ready(Ok(written))
            }
            other => other,
        }
    }
}

/// The write errors a peer that closed its connection (possibly after answering) causes.
fn stopped_reading(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::BrokenPipe
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::ConnectionAborted
    )
}

impl<T: Read + Unpin> Read for EarlyAnswerIo<T> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: ReadBufCursor<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_read(cx, buf)
    }
}

impl<T: Write + Unpin> Write for EarlyAnswerIo<T> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if this.write_closed {
            return Poll::Ready(Ok(buf.len()));
        }
        let result = Pin::new(&mut this.inner).poll_write(cx, buf);
        this.written(result, buf.len())
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let len = bufs.iter().map(|b| b.len()).sum();
        if this.write_closed {
            return Poll::Ready(Ok(len));
        }
        let result = Pin::new(&mut this.inner).poll_write_vectored(cx, bufs);
        this.written(result, len)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.write_closed {
            return Poll::Ready(Ok(()));
        }
        let result = Pin::new(&mut this.inner).poll_flush(cx);
        this.written(result, ())
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.write_closed {
            return Poll::Ready(Ok(()));
        }
        let result = Pin::new(&mut this.inner).poll_shutdown(cx);
        this.written(result, ())
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use hyper_util::rt::TokioIo;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use super::*;

    /// A peer that answers after the request's first bytes, without reading the rest, then
    /// closes: writing the request fails, reading still gets the answer.
    #[tokio::test]
    async fn an_answer_sent_before_the_request_was_read_is_still_read() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let peer = tokio::spawn(async move {
            let (mut s, _) = listener.accept().await.unwrap();
            let mut head = [0u8; 4];
            s.read_exact(&mut head).await.unwrap();
            s.write_all(b"answer").await.unwrap();
            // Closed with the rest of the request unread: the kernel resets the connection.
        });
        let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
        let mut io = TokioIo::new(EarlyAnswerIo::new(TokioIo::new(stream)));
        io.write_all(b"POST").await.unwrap();
        tokio::time::timeout(Duration::from_secs(10), peer)
            .await
            .unwrap()
            .unwrap();
        let chunk = vec![b'x'; 256 * 1024];
        // Bounded: the reset comes after at most a few socket buffers; the writes never fail.
        for _ in 0..64 {
            io.write_all(&chunk).await.unwrap();
            if io.inner().write_closed {
                break;
            }
        }
        assert!(io.inner().write_closed, "the peer's reset was seen");
        io.flush().await.unwrap();
        let mut answer = [0u8; 6];
        tokio::time::timeout(Duration::from_secs(10), io.read_exact(&mut answer))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(&answer, b"answer");
    }
}
