//! Checks for servers behind [`crate::server`]'s read timeouts: a client that stalls in the middle
//! of its request must be answered or disconnected, never kept forever.

use std::time::Duration;

use tokio::io::AsyncReadExt;
use tokio::net::TcpStream;

/// Reads `stream` until the server closes it and returns what the server sent (possibly
/// nothing, lossily decoded). Panics, naming `deadline` and what was received, when the
/// connection is still open after `deadline`: pick one well past the server's read timeouts, so
/// a connection still open then was never cut.
pub async fn read_until_closed(stream: &mut TcpStream, deadline: Duration) -> String {
    let mut received = Vec::new();
    let outcome = tokio::time::timeout(deadline, async {
        let mut buf = [0u8; 4096];
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => received.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await;
    assert!(
        outcome.is_ok(),
        "connection still open after {deadline:?}; received {:?}",
        String::from_utf8_lossy(&received)
    );
    String::from_utf8_lossy(&received).into_owned()
}

#[cfg(test)]
mod tests {
    use tokio::io::AsyncWriteExt;
    use tokio::net::TcpListener;

    use super::*;

    #[tokio::test]
    async fn returns_what_the_server_sent_before_closing() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = tokio::spawn(async move {
            let (mut s, _) = listener.accept().await.unwrap();
            s.write_all(b"HTTP/1.1 408 Request Timeout\r\n\r\n")
                .await
                .unwrap();
        });
        let mut client = TcpStream::connect(addr).await.unwrap();
        let reply = read_until_closed(&mut client, Duration::from_secs(30)).await;
        assert_eq!(reply, "HTTP/1.1 408 Request Timeout\r\n\r\n");
        server.await.unwrap();
    }

    // The server holds the connection forever, so the outcome does not depend on the deadline.
    #[tokio::test]
    #[should_panic(expected = "connection still open after")]
    async fn panics_when_the_server_keeps_the_connection_open() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let _held = tokio::spawn(async move {
            let (s, _) = listener.accept().await.unwrap();
            std::future::pending::<()>().await;
            drop(s);
        });
        let mut client = TcpStream::connect(addr).await.unwrap();
        read_until_closed(&mut client, Duration::from_millis(200)).await;
    }
}
