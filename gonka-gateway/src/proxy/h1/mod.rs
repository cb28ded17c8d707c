//! One HTTP/1.1 client connection to a node, driven by the request that uses it: the request is
//! written with one `writev`, the answer's head parsed with `httparse` and its body decoded from
//! the same read buffer, all in the caller's task. No connection task, no channel between tasks
//! and no wake-up of another task per request or per streamed chunk.
//!
//! A node may answer before it has read the whole request — 413 for a body too large for the
//! engine — and close the connection; the rest of the body then cannot be written (broken pipe,
//! reset) while the answer already waits in the receive buffer. Such a write error is taken as
//! "the node stopped reading" ([`WriteError::stopped_reading`]): the caller goes on to read the
//! answer, and when there is none the read fails as the write did.

mod decode;
mod head;

use std::io::{self, IoSlice};
use std::pin::Pin;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use axum::http::{header, HeaderName, HeaderValue, Method};
use bytes::{Bytes, BytesMut};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

pub(crate) use decode::Decoder;
pub(crate) use head::Head;

/// How long connecting to a node may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// The read buffer grows by this much when it is nearly full.
const READ_CHUNK: usize = 8 * 1024;

/// A request write that failed, with how much of it had been written.
#[derive(Debug)]
pub(crate) struct WriteError {
    /// Bytes written before the error.
    pub written: usize,
    /// The error.
    pub error: io::Error,
}

impl WriteError {
    /// Whether the error says the node stopped reading (and may have answered already).
    pub fn stopped_reading(&self) -> bool {
        matches!(
            self.error.kind(),
            io::ErrorKind::BrokenPipe
                | io::ErrorKind::ConnectionReset
                | io::ErrorKind::ConnectionAborted
        )
    }
}

/// One connection to a node and what was read from it but not yet used.
#[derive(Debug)]
pub(crate) struct Conn {
    io: TcpStream,
    buf: BytesMut,
}

impl Conn {
    /// Connects to `authority` (`host:port`), with no Nagle delay (small requests and answers).
    ///
    /// # Errors
    /// Why no connection was made, in words (`connection refused`, `connect timed out`, ...).
    pub async fn connect(authority: &str) -> Result<Self, String> {
        let io = match tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(authority)).await {
            Err(_) => return Err("connect timed out".to_owned()),
            Ok(Err(e)) => return Err(e.kind().to_string()),
            Ok(Ok(io)) => io,
        };
        let _ = io.set_nodelay(true);
        Ok(Self {
            io,
            buf: BytesMut::with_capacity(READ_CHUNK),
        })
    }

    /// Whether a kept-alive connection can take a request: the node has neither closed it nor
    /// sent anything unasked. Costs a system call only when the connection became readable.
    pub fn is_reusable(&self) -> bool {
        if !self.buf.is_empty() {
            return false;
        }
        let mut cx = Context::from_waker(Waker::noop());
        match self.io.poll_read_ready(&mut cx) {
            Poll::Pending => true,
            Poll::Ready(Err(_)) => false,
            Poll::Ready(Ok(())) => {
                let mut probe = [0u8; 1];
                matches!(self.io.try_read(&mut probe), Err(e) if e.kind() == io::ErrorKind::WouldBlock)
            }
        }
    }

    /// Writes `head` then `body`.
    ///
    /// # Errors
    /// The I/O error and how many bytes had been written.
    pub async fn write(&mut self, head: &[u8], body: &[u8]) -> Result<(), WriteError> {
        let total = head.len() + body.len();
        let mut written = 0;
        while written < total {
            let slices = if written < head.len() {
                [IoSlice::new(&head[written..]), IoSlice::new(body)]
            } else {
                [
                    IoSlice::new(&body[written - head.len()..]),
                    IoSlice::new(&[]),
                ]
            };
            match self.io.write_vectored(&slices).await {
                Ok(0) => {
                    let error = io::Error::new(io::ErrorKind::WriteZero, "the node took no bytes");
                    return Err(WriteError { written, error });
                }
                Ok(n) => written += n,
                Err(error) => return Err(WriteError { written, error }),
            }
        }
        Ok(())
    }

    /// Reads the answer's head, skipping interim (1xx) answers; the body stays buffered.
    ///
    /// # Errors
    /// When the connection fails or closes before a whole head, or the head is invalid
    /// (`101 Switching Protocols` included: the gateway never asks to upgrade).
    pub async fn read_head(&mut self) -> io::Result<Head> {
        loop {
            if let Some(head) = head::parse(&mut self.buf)? {
                if head.status == axum::http::StatusCode::SWITCHING_PROTOCOLS {
                    return Err(io::Error::new(
                        io::ErrorKind::InvalidData,
                        "the node switched protocols unasked",
                    ));
                }
                if head.status.is_informational() {
                    continue;
                }
                return Ok(head);
            }
            self.reserve();
            if tokio::io::AsyncReadExt::read_buf(&mut self.io, &mut self.buf).await? == 0 {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "the node closed the connection before answering",
                ));
            }
        }
    }

    /// The next piece of the body `decoder` delimits, `None` at its end.
    pub fn poll_body(
        &mut self,
        decoder: &mut Decoder,
        cx: &mut Context<'_>,
    ) -> Poll<Option<io::Result<Bytes>>> {
        loop {
            let step = match decoder.decode(&mut self.buf) {
                Ok(step) => step,
                Err(e) => return Poll::Ready(Some(Err(e))),
            };
            match step {
                decode::Step::Data(data) => return Poll::Ready(Some(Ok(data))),
                decode::Step::End => return Poll::Ready(None),
                decode::Step::More => {
                    self.reserve();
                    let read =
                        tokio_util::io::poll_read_buf(Pin::new(&mut self.io), cx, &mut self.buf);
                    match read {
                        Poll::Pending => return Poll::Pending,
                        Poll::Ready(Err(e)) => return Poll::Ready(Some(Err(e))),
                        Poll::Ready(Ok(0)) => {
                            return match decoder.eof() {
                                Ok(_) => Poll::Ready(None),
                                Err(e) => Poll::Ready(Some(Err(e))),
                            }
                        }
                        Poll::Ready(Ok(_)) => {}
                    }
                }
            }
        }
    }

    /// Whether bytes beyond the answer were read (the node sent something unasked).
    pub fn has_leftover(&self) -> bool {
        !self.buf.is_empty()
    }

    /// Room to read into; the buffer's space is reclaimed when what was handed out is gone.
    fn reserve(&mut self) {
        if self.buf.capacity() - self.buf.len() < READ_CHUNK / 4 {
            self.buf.reserve(READ_CHUNK);
        }
    }
}

/// The head of a request with `method` for `path` (origin form) and a body of `body_len` bytes,
/// sent to `host`: the request line, `host`, `headers` except any `host` or `content-length` of
/// their own, and `content-length`.
pub(crate) fn encode_head<'h>(
    method: &Method,
    path: &str,
    host: &str,
    headers: impl IntoIterator<Item = (&'h HeaderName, &'h HeaderValue)>,
    body_len: usize,
    out: &mut Vec<u8>,
) {
    use std::io::Write as _;
    out.extend_from_slice(method.as_str().as_bytes());
    out.push(b' ');
    out.extend_from_slice(path.as_bytes());
    out.extend_from_slice(b" HTTP/1.1\r\nhost: ");
    out.extend_from_slice(host.as_bytes());
    out.extend_from_slice(b"\r\n");
    for (name, value) in headers {
        if name == header::HOST || name == header::CONTENT_LENGTH {
            continue;
        }
        out.extend_from_slice(name.as_str().as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(value.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    // Writing to a Vec cannot fail.
    let _ = write!(out, "content-length: {body_len}\r\n\r\n");
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn the_head_names_host_length_and_headers_once() {
        let json = HeaderValue::from_static("application/json");
        let other = HeaderValue::from_static("elsewhere");
        let headers = [
            (&header::CONTENT_TYPE, &json),
            (&header::HOST, &other),
            (&header::CONTENT_LENGTH, &other),
        ];
        let mut out = Vec::new();
        encode_head(
            &Method::POST,
            "/v1/chat/completions?x=1",
            "10.0.0.1:5000",
            headers,
            2,
            &mut out,
        );
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "POST /v1/chat/completions?x=1 HTTP/1.1\r\nhost: 10.0.0.1:5000\r\n\
             content-type: application/json\r\ncontent-length: 2\r\n\r\n"
        );
    }
}
