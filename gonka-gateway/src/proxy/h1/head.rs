//! An HTTP/1.x answer's head, parsed with `httparse` (hyper's own parser) from the connection's
//! read buffer, with what it says about the body's framing and the connection's reuse.

use std::io;

use axum::http::{header, HeaderMap, HeaderName, HeaderValue, StatusCode, Version};
use bytes::{Buf, BytesMut};

use super::decode::Framing;

/// The most header lines an answer may have.
const MAX_HEADERS: usize = 100;
/// The largest answer head accepted.
pub(crate) const MAX_HEAD: usize = 64 * 1024;

/// A parsed answer head.
#[derive(Debug)]
pub(crate) struct Head {
    /// The status code.
    pub status: StatusCode,
    /// HTTP/1.0 or HTTP/1.1.
    pub version: Version,
    /// Every header, as sent.
    pub headers: HeaderMap,
    /// How the body is delimited.
    pub framing: Framing,
    /// Whether the connection may carry another request after this answer's body.
    pub keep_alive: bool,
}

/// The head at the front of `buf`, taken from it, or `None` while it is incomplete.
///
/// # Errors
/// `InvalidData` naming the problem: a malformed head, one over [`MAX_HEAD`] bytes or
/// [`MAX_HEADERS`] headers, a malformed or conflicting `content-length`.
pub(crate) fn parse(buf: &mut BytesMut) -> io::Result<Option<Head>> {
    let mut lines = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut response = httparse::Response::new(&mut lines);
    let len = match response.parse(buf) {
        Ok(httparse::Status::Complete(len)) => len,
        Ok(httparse::Status::Partial) if buf.len() > MAX_HEAD => {
            return Err(invalid(format!("head longer than {MAX_HEAD} bytes")))
        }
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(e) => return Err(invalid(e.to_string())),
    };
    let code = response.code.unwrap_or(0);
    let status = StatusCode::from_u16(code).map_err(|_| invalid(format!("status {code}")))?;
    let version = match response.version {
        Some(0) => Version::HTTP_10,
        _ => Version::HTTP_11,
    };
    let mut headers = HeaderMap::with_capacity(response.headers.len());
    for h in response.headers.iter() {
        let name = HeaderName::from_bytes(h.name.as_bytes())
            .map_err(|_| invalid(format!("header name {:?}", h.name)))?;
        let value = HeaderValue::from_bytes(h.value)
            .map_err(|_| invalid(format!("value of header {name}")))?;
        headers.append(name, value);
    }
    buf.advance(len);
    let framing = framing(status, &headers)?;
    let close = has_token(&headers, "close");
    let keep_alive = framing != Framing::Close
        && !close
        && (version == Version::HTTP_11 || has_token(&headers, "keep-alive"));
    Ok(Some(Head {
        status,
        version,
        headers,
        framing,
        keep_alive,
    }))
}

/// How the body of an answer with `status` and `headers` is delimited (RFC 9112 §6.3).
fn framing(status: StatusCode, headers: &HeaderMap) -> io::Result<Framing> {
    if status.is_informational()
        || status == StatusCode::NO_CONTENT
        || status == StatusCode::NOT_MODIFIED
    {
        return Ok(Framing::Length(0));
    }
    if headers.contains_key(header::TRANSFER_ENCODING) {
        return Ok(match tokens(headers, &header::TRANSFER_ENCODING).last() {
            Some(coding) if coding.eq_ignore_ascii_case("chunked") => Framing::Chunked,
            _ => Framing::Close,
        });
    }
    let mut length = None;
    for value in headers.get_all(header::CONTENT_LENGTH) {
        for part in value.as_bytes().split(|&b| b == b',') {
            let n = std::str::from_utf8(part.trim_ascii())
                .ok()
                .filter(|s| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
                .and_then(|s| s.parse::<u64>().ok())
                .ok_or_else(|| invalid("invalid content-length".to_owned()))?;
            if length.is_some_and(|l| l != n) {
                return Err(invalid("conflicting content-length values".to_owned()));
            }
            length = Some(n);
        }
    }
    Ok(length.map_or(Framing::Close, Framing::Length))
}

/// Whether a `connection` header lists `token`.
fn has_token(headers: &HeaderMap, token: &str) -> bool {
    tokens(headers, &header::CONNECTION).any(|t| t.eq_ignore_ascii_case(token))
}

/// The comma-separated tokens of every `name` header, trimmed, in order.
fn tokens<'a>(headers: &'a HeaderMap, name: &HeaderName) -> impl Iterator<Item = &'a str> {
    headers
        .get_all(name)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
}

fn invalid(what: String) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        format!("invalid answer head: {what}"),
    )
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use proptest::prelude::*;

    use super::*;

    fn head(text: &str) -> io::Result<Option<Head>> {
        parse(&mut BytesMut::from(text.as_bytes()))
    }

    #[test]
    fn a_keep_alive_answer_with_a_length() {
        let mut buf =
            BytesMut::from(&b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nX-A: b\r\n\r\n{}"[..]);
        let h = parse(&mut buf).unwrap().unwrap();
        assert_eq!(h.status, StatusCode::OK);
        assert_eq!(h.framing, Framing::Length(2));
        assert!(h.keep_alive);
        assert_eq!(h.headers["x-a"], "b");
        assert_eq!(&buf[..], b"{}", "the body stays in the buffer");
    }

    #[test]
    fn framing_and_reuse_follow_the_head() {
        let cases = [
            (
                "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
                Framing::Chunked,
                true,
            ),
            (
                "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n",
                Framing::Close,
                false,
            ),
            ("HTTP/1.1 200 OK\r\n\r\n", Framing::Close, false),
            ("HTTP/1.1 204 No Content\r\n\r\n", Framing::Length(0), true),
            (
                "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\n",
                Framing::Length(2),
                false,
            ),
            (
                "HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\n",
                Framing::Length(2),
                false,
            ),
            (
                "HTTP/1.0 200 OK\r\nContent-Length: 2\r\nConnection: keep-alive\r\n\r\n",
                Framing::Length(2),
                true,
            ),
            (
                "HTTP/1.1 200 OK\r\nContent-Length: 2, 2\r\n\r\n",
                Framing::Length(2),
                true,
            ),
        ];
        for (text, framing, keep_alive) in cases {
            let h = head(text).unwrap().unwrap();
            assert_eq!((h.framing, h.keep_alive), (framing, keep_alive), "{text}");
        }
    }

    #[test]
    fn incomplete_heads_wait_and_bad_ones_are_named() {
        assert!(head("HTTP/1.1 200 OK\r\nContent-Le").unwrap().is_none());
        for (text, what) in [
            (
                "HTTP/1.1 200 OK\r\nContent-Length: 2, 3\r\n\r\n",
                "conflicting",
            ),
            (
                "HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n",
                "invalid content-length",
            ),
            ("HTTZ/1.1 200 OK\r\n\r\n", "invalid answer head"),
        ] {
            let e = head(text).unwrap_err();
            assert!(e.to_string().contains(what), "{text}: {e}");
        }
        let long = format!("HTTP/1.1 200 OK\r\nX: {}", "a".repeat(MAX_HEAD));
        assert!(head(&long).unwrap_err().to_string().contains("longer than"));
    }

    proptest! {
        /// Arbitrary bytes never panic the head parser.
        #[test]
        fn never_panics(input in proptest::collection::vec(any::<u8>(), 0..300)) {
            let _ = parse(&mut BytesMut::from(&input[..]));
        }
    }
}
