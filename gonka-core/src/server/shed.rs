//! Shedding a connection over a cap ([`super::admission`]): the client gets a minimal
//! `HTTP/1.1 503` (`Connection: close`, `Retry-After: 1`, an OpenAI-shaped JSON body naming the
//! reason) and the connection is closed, instead of waiting unanswered in the listen queue.

use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use super::admission::ShedReason;
use super::openai_error_body;

/// Longest a shed connection is kept to deliver its 503 and read what the client already sent.
const SHED_LINGER: Duration = Duration::from_secs(1);

/// Most bytes of a shed client's request read (and dropped) before closing.
const SHED_READ_MAX: usize = 64 * 1024;

/// Shed connections lingering at once per listener; past that, a shed connection is answered
/// with what fits in its socket buffer and closed at once.
pub(crate) const SHED_LINGERING_MAX: usize = 64;

/// The complete 503 response for `reason`.
pub(crate) fn response(reason: ShedReason) -> Vec<u8> {
    let body = openai_error_body("overloaded_error", reason.code(), &reason.to_string());
    let body = body.to_string();
    format!(
        "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\ncontent-length: {}\r\nretry-after: 1\r\nconnection: close\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

/// Answers `stream` with the 503 of `reason` and closes it. While fewer than
/// [`SHED_LINGERING_MAX`] shed connections linger (`lingering` holds the permits), the connection
/// is kept up to [`SHED_LINGER`] in a task of `tasks` so the client reads the answer before the
/// close (closing with unread request bytes would reset it away); otherwise the answer is written
/// without waiting and the connection dropped at once.
pub(crate) fn shed(
    stream: TcpStream,
    reason: ShedReason,
    lingering: &Arc<Semaphore>,
    tasks: &mut JoinSet<()>,
) {
    let answer = response(reason);
    match Arc::clone(lingering).try_acquire_owned() {
        Ok(permit) => {
            tasks.spawn(async move {
                let _permit = permit;
                let _ = tokio::time::timeout(SHED_LINGER, linger(stream, &answer)).await;
            });
        }
        Err(_) => {
            let _ = stream.try_write(&answer);
            let mut buf = [0u8; 4096];
            let mut read = 0;
            while read < SHED_READ_MAX {
                match stream.try_read(&mut buf) {
                    Ok(n) if n > 0 => read += n,
                    _ => break,
                }
            }
        }
    }
}

/// Writes `answer`, half-closes, and reads (and drops) what the client sends until it closes.
async fn linger(mut stream: TcpStream, answer: &[u8]) -> std::io::Result<()> {
    stream.write_all(answer).await?;
    stream.shutdown().await?;
    let mut buf = [0u8; 4096];
    let mut read = 0;
    while read < SHED_READ_MAX {
        match stream.read(&mut buf).await? {
            0 => break,
            n => read += n,
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_answer_is_a_complete_503_that_closes() {
        let text = String::from_utf8(response(ShedReason::Address(64))).unwrap();
        let (head, body) = text.split_once("\r\n\r\n").unwrap();
        assert!(
            head.starts_with("HTTP/1.1 503 Service Unavailable\r\n"),
            "{head}"
        );
        assert!(head.contains("\r\nconnection: close"), "{head}");
        assert!(
            head.contains(&format!("content-length: {}", body.len())),
            "{head}"
        );
        let json: serde_json::Value = serde_json::from_str(body).unwrap();
        assert_eq!(json["error"]["code"], "too_many_connections_from_address");
        assert!(json["error"]["message"].as_str().unwrap().contains("64"));
    }
}
