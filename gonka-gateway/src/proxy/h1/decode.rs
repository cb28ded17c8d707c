//! An HTTP/1.1 answer body's framing, decoded from the connection's read buffer: a known length
//! (`content-length`), chunked transfer coding (RFC 9112 §7.1; chunk extensions and trailers are
//! read and dropped), or everything until the node closes the connection.

use std::io;

use bytes::{Bytes, BytesMut};

/// The longest chunk-size or trailer line accepted (a node sending more is broken).
const MAX_LINE: usize = 4096;
/// The most trailer lines accepted after the last chunk.
const MAX_TRAILERS: usize = 64;

/// How an answer's body is delimited, from its head.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Framing {
    /// `content-length` bytes (0 for a 204 or 304 answer).
    Length(u64),
    /// Chunked transfer coding.
    Chunked,
    /// Everything until the node closes the connection.
    Close,
}

/// One step of decoding.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Step {
    /// Body bytes.
    Data(Bytes),
    /// The buffer holds no more of the body: read more from the connection.
    More,
    /// The body's end.
    End,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Bytes left of a body with a known length.
    Length(u64),
    /// A chunk-size line is next.
    Size,
    /// Bytes left of the current chunk.
    Chunk(u64),
    /// The CRLF after a chunk's data is next.
    ChunkEnd,
    /// Trailer lines (or the empty line ending the body) are next; how many were read.
    Trailers(usize),
    /// Until the connection closes.
    Close,
    /// The end was reached.
    Done,
}

/// The decoder of one answer's body.
#[derive(Debug, Clone)]
pub(crate) struct Decoder {
    state: State,
}

impl Decoder {
    /// A decoder for a body framed as `framing`.
    pub fn new(framing: Framing) -> Self {
        let state = match framing {
            Framing::Length(0) => State::Done,
            Framing::Length(n) => State::Length(n),
            Framing::Chunked => State::Size,
            Framing::Close => State::Close,
        };
        Self { state }
    }

    /// Whether the body's end was reached.
    pub fn is_done(&self) -> bool {
        self.state == State::Done
    }

    /// Bytes left of a body with a known length, `None` for other framings.
    pub fn remaining(&self) -> Option<u64> {
        match self.state {
            State::Length(n) => Some(n),
            State::Done => Some(0),
            _ => None,
        }
    }

    /// The next step from what `buf` holds; consumed bytes are taken from its front.
    ///
    /// # Errors
    /// `InvalidData` naming the problem when the chunked framing is malformed.
    pub fn decode(&mut self, buf: &mut BytesMut) -> io::Result<Step> {
        loop {
            match self.state {
                State::Done => return Ok(Step::End),
                State::Length(left) | State::Chunk(left) => {
                    if buf.is_empty() {
                        return Ok(Step::More);
                    }
                    let take = usize::try_from(left).map_or(buf.len(), |l| l.min(buf.len()));
                    let left = left - take as u64;
                    self.state = match self.state {
                        State::Length(_) if left == 0 => State::Done,
                        State::Length(_) => State::Length(left),
                        _ if left == 0 => State::ChunkEnd,
                        _ => State::Chunk(left),
                    };
                    return Ok(Step::Data(buf.split_to(take).freeze()));
                }
                State::Close => {
                    if buf.is_empty() {
                        return Ok(Step::More);
                    }
                    return Ok(Step::Data(buf.split().freeze()));
                }
                State::Size => {
                    let Some(line) = take_line(buf)? else {
                        return Ok(Step::More);
                    };
                    let size = chunk_size(&line)?;
                    self.state = if size == 0 {
                        State::Trailers(0)
                    } else {
                        State::Chunk(size)
                    };
                }
                State::ChunkEnd => {
                    let Some(line) = take_line(buf)? else {
                        return Ok(Step::More);
                    };
                    if !line.is_empty() {
                        return Err(invalid("chunk data longer than its declared size"));
                    }
                    self.state = State::Size;
                }
                State::Trailers(count) => {
                    let Some(line) = take_line(buf)? else {
                        return Ok(Step::More);
                    };
                    if line.is_empty() {
                        self.state = State::Done;
                    } else if count + 1 >= MAX_TRAILERS {
                        return Err(invalid("too many trailer lines"));
                    } else {
                        self.state = State::Trailers(count + 1);
                    }
                }
            }
        }
    }

    /// The step when the connection closed: the end for a body delimited by the close.
    ///
    /// # Errors
    /// `UnexpectedEof` when the body's own framing was not complete.
    pub fn eof(&mut self) -> io::Result<Step> {
        match self.state {
            State::Close | State::Done => {
                self.state = State::Done;
                Ok(Step::End)
            }
            _ => Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "the node closed the connection before the answer's end",
            )),
        }
    }
}

/// The next line of `buf` without its line end (CRLF, or a bare LF), when a whole one is there.
fn take_line(buf: &mut BytesMut) -> io::Result<Option<Bytes>> {
    match memchr::memchr(b'\n', buf) {
        Some(at) => {
            let mut line = buf.split_to(at + 1);
            line.truncate(at);
            if line.last() == Some(&b'\r') {
                line.truncate(at - 1);
            }
            Ok(Some(line.freeze()))
        }
        None if buf.len() > MAX_LINE => Err(invalid("chunk-size or trailer line too long")),
        None => Ok(None),
    }
}

/// The size of a chunk-size line: hex digits, then optional whitespace and `;extensions`.
fn chunk_size(line: &[u8]) -> io::Result<u64> {
    let digits = line
        .iter()
        .position(|b| !b.is_ascii_hexdigit())
        .unwrap_or(line.len());
    let rest = line[digits..].trim_ascii_start();
    if digits == 0 || digits > 15 || !(rest.is_empty() || rest.first() == Some(&b';')) {
        return Err(invalid("invalid chunk size line"));
    }
    std::str::from_utf8(&line[..digits])
        .ok()
        .and_then(|hex| u64::from_str_radix(hex, 16).ok())
        .ok_or_else(|| invalid("invalid chunk size line"))
}

fn invalid(what: &str) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        format!("invalid answer body: {what}"),
    )
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use proptest::prelude::*;

    use super::*;

    /// Every step of decoding `input` fed in pieces of `piece` bytes, as data and end.
    fn run(framing: Framing, input: &[u8], piece: usize) -> io::Result<(Vec<u8>, bool)> {
        let mut decoder = Decoder::new(framing);
        let mut buf = BytesMut::new();
        let mut out = Vec::new();
        let mut fed = 0;
        loop {
            match decoder.decode(&mut buf)? {
                Step::Data(d) => out.extend_from_slice(&d),
                Step::End => return Ok((out, true)),
                Step::More if fed < input.len() => {
                    let end = (fed + piece).min(input.len());
                    buf.extend_from_slice(&input[fed..end]);
                    fed = end;
                }
                Step::More => {
                    return match decoder.eof()? {
                        Step::End => Ok((out, false)),
                        other => panic!("eof gave {other:?}"),
                    }
                }
            }
        }
    }

    #[test]
    fn a_length_body_ends_at_its_length_and_leaves_what_follows() {
        let mut decoder = Decoder::new(Framing::Length(2));
        let mut buf = BytesMut::from(&b"{}HTTP"[..]);
        assert_eq!(
            decoder.decode(&mut buf).unwrap(),
            Step::Data(Bytes::from_static(b"{}"))
        );
        assert!(decoder.is_done());
        assert_eq!(decoder.decode(&mut buf).unwrap(), Step::End);
        assert_eq!(&buf[..], b"HTTP");
    }

    #[test]
    fn chunks_with_extensions_and_trailers_are_decoded() {
        let body = b"2;ext=1\r\n{}\r\nA \r\n0123456789\r\n0\r\nx-trailer: 1\r\n\r\n";
        for piece in [1, 3, body.len()] {
            let (data, in_step) = run(Framing::Chunked, body, piece).unwrap();
            assert_eq!(&data[..], b"{}0123456789");
            assert!(in_step);
        }
    }

    #[test]
    fn malformed_chunks_are_named() {
        for (body, what) in [
            (&b"zz\r\n"[..], "invalid chunk size"),
            (b"2\r\n{}}\r\n", "longer than its declared size"),
            (b"1000000000000000\r\n", "invalid chunk size"),
        ] {
            let e = run(Framing::Chunked, body, body.len()).unwrap_err();
            assert!(e.to_string().contains(what), "{e}");
        }
        let long = vec![b'1'; MAX_LINE + 1];
        assert!(run(Framing::Chunked, &long, long.len()).is_err());
    }

    #[test]
    fn a_close_before_the_end_is_an_error_but_ends_a_close_delimited_body() {
        let e = run(Framing::Length(5), b"{}", 2).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::UnexpectedEof);
        assert!(run(Framing::Chunked, b"2\r\n{}\r\n", 7).is_err());
        assert_eq!(
            run(Framing::Close, b"abc", 1).unwrap(),
            (b"abc".to_vec(), false)
        );
    }

    proptest! {
        /// Any chunking of any data, fed in any piece size, decodes to the data.
        #[test]
        fn chunked_round_trip(
            chunks in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 1..40), 0..8),
            piece in 1usize..64,
        ) {
            let mut wire = Vec::new();
            for c in &chunks {
                wire.extend_from_slice(format!("{:x}\r\n", c.len()).as_bytes());
                wire.extend_from_slice(c);
                wire.extend_from_slice(b"\r\n");
            }
            wire.extend_from_slice(b"0\r\n\r\n");
            let (data, in_step) = run(Framing::Chunked, &wire, piece).unwrap();
            prop_assert_eq!(data, chunks.concat());
            prop_assert!(in_step);
        }

        /// Arbitrary bytes never panic the chunked decoder.
        #[test]
        fn chunked_never_panics(input in proptest::collection::vec(any::<u8>(), 0..200), piece in 1usize..16) {
            let _ = run(Framing::Chunked, &input, piece);
        }
    }
}
