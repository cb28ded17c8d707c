//! The server loop against real sockets on loopback: connection caps per address and per
//! listener (503 and close), and a paused request body (408 and close). Clients bind their own
//! source address in 127.0.0.0/8 (all loopback on Linux) to act as distinct clients.

use std::net::SocketAddr;
use std::time::Duration;

use axum::body::Bytes;
use axum::routing::{get, post};
use axum::Router;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::sync::oneshot;

use super::{serve, ServeLimits};

/// Far longer than anything these servers wait for: a connection open then was never answered.
const DEADLINE: Duration = Duration::from_secs(20);

fn app() -> Router {
    Router::new()
        .route("/ok", get(|| async { "ok" }))
        .route("/echo", post(|body: Bytes| async move { body }))
}

/// Serves [`app`] with `limits` on a fresh loopback port until the returned sender is dropped.
async fn start(limits: ServeLimits) -> (SocketAddr, oneshot::Sender<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = oneshot::channel::<()>();
    tokio::spawn(serve(listener, app(), limits, async {
        let _ = stopped.await;
    }));
    (addr, stop)
}

fn caps(max: usize, per_ip: usize) -> ServeLimits {
    ServeLimits::default().with_connection_caps(Some(max), Some(per_ip))
}

/// A connection to `addr` from the source address `from` (e.g. `127.0.0.2`).
async fn connect_from(from: &str, addr: SocketAddr) -> TcpStream {
    let socket = TcpSocket::new_v4().unwrap();
    socket.bind(format!("{from}:0").parse().unwrap()).unwrap();
    socket.connect(addr).await.unwrap()
}

/// Everything the server sends until it closes `stream`; panics after [`DEADLINE`].
async fn read_to_close(stream: &mut TcpStream) -> String {
    let mut received = Vec::new();
    tokio::time::timeout(DEADLINE, stream.read_to_end(&mut received))
        .await
        .expect("the server closes the connection")
        .ok();
    String::from_utf8_lossy(&received).into_owned()
}

/// `GET /ok` with `Connection: close` from `from`; the whole answer.
async fn get_ok(from: &str, addr: SocketAddr) -> String {
    let mut stream = connect_from(from, addr).await;
    stream
        .write_all(b"GET /ok HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    read_to_close(&mut stream).await
}

#[tokio::test]
async fn connections_over_the_per_address_cap_get_503_while_other_addresses_are_served() {
    let (addr, _stop) = start(caps(8, 2)).await;
    // Accepted in connect order: the first two from 127.0.0.2 hold its places.
    let first = connect_from("127.0.0.2", addr).await;
    let _second = connect_from("127.0.0.2", addr).await;

    let mut third = connect_from("127.0.0.2", addr).await;
    let reply = read_to_close(&mut third).await;
    assert!(reply.starts_with("HTTP/1.1 503 "), "{reply}");
    assert!(reply.contains("connection: close"), "{reply}");
    assert!(
        reply.contains("too_many_connections_from_address"),
        "{reply}"
    );

    let reply = get_ok("127.0.0.3", addr).await;
    assert!(reply.starts_with("HTTP/1.1 200 "), "{reply}");

    // A closed connection frees its place (the server sees the close asynchronously).
    drop(first);
    let mut served = false;
    for _ in 0..250 {
        if get_ok("127.0.0.2", addr).await.starts_with("HTTP/1.1 200 ") {
            served = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(served, "127.0.0.2 never got its place back");
}

#[tokio::test]
async fn connections_over_the_listener_cap_get_503_from_any_address() {
    let (addr, _stop) = start(caps(2, 2)).await;
    let _a = connect_from("127.0.0.2", addr).await;
    let _b = connect_from("127.0.0.3", addr).await;
    let reply = get_ok("127.0.0.4", addr).await;
    assert!(reply.starts_with("HTTP/1.1 503 "), "{reply}");
    assert!(reply.contains("\"too_many_connections\""), "{reply}");
}

#[tokio::test]
async fn a_paused_request_body_gets_408_and_the_connection_closes() {
    let limits = ServeLimits::client_timeouts(DEADLINE, Duration::from_millis(200));
    let (addr, _stop) = start(limits).await;
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream
        .write_all(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n0123456789")
        .await
        .unwrap();
    let reply = read_to_close(&mut stream).await;
    assert!(reply.starts_with("HTTP/1.1 408 "), "{reply}");
    assert!(reply.contains("connection: close"), "{reply}");
    assert!(reply.contains("request_timeout"), "{reply}");

    // A body sent in time is untouched.
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream
        .write_all(
            b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello",
        )
        .await
        .unwrap();
    let reply = read_to_close(&mut stream).await;
    assert!(reply.starts_with("HTTP/1.1 200 "), "{reply}");
    assert!(reply.ends_with("hello"), "{reply}");
}
