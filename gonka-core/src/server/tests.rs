//! The server loop against real sockets on loopback: connection caps per address and per
//! listener (503 and close), and a paused request body (408 and close). Clients bind their own
//! source address in 127.0.0.0/8 (all loopback on Linux) to act as distinct clients.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
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

/// Set (to `1`) only by [`accept_backs_off_while_the_process_is_out_of_descriptors`] for the
/// child process that runs [`emfile_child`].
const EMFILE_CHILD: &str = "GONKA_TEST_EMFILE_CHILD";

/// Failed accepts [`emfile_child`] waits for: the back-off between the first and the last of them
/// adds up to 5 + 10 + ... + 640 ms = 1,275 ms (a fixed 50 ms retry would take 400 ms).
const FAILURES: usize = 9;

/// Lowers the open-file limit only in a child process (`ulimit -n 64`, then this test binary
/// again, running [`emfile_child`]), never in this shared test process.
#[test]
fn accept_backs_off_while_the_process_is_out_of_descriptors() {
    let exe = std::env::current_exe().unwrap();
    let out = std::process::Command::new("sh")
        .arg("-c")
        .arg("ulimit -n 64 && exec \"$0\" \"$@\"")
        .arg(exe)
        .args([
            "--exact",
            "server::tests::emfile_child",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(EMFILE_CHILD, "1")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "child failed:\n{stdout}\n{stderr}");
    assert!(stdout.contains("1 passed"), "child did not run:\n{stdout}");
}

/// Records when the server loop logs a failed accept.
struct AcceptFailures(Arc<Mutex<Vec<std::time::Instant>>>);

struct Message(String);

impl tracing::field::Visit for Message {
    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            self.0 = format!("{value:?}");
        }
    }
}

impl tracing::Subscriber for AcceptFailures {
    fn enabled(&self, _: &tracing::Metadata<'_>) -> bool {
        true
    }
    fn new_span(&self, _: &tracing::span::Attributes<'_>) -> tracing::span::Id {
        tracing::span::Id::from_u64(1)
    }
    fn record(&self, _: &tracing::span::Id, _: &tracing::span::Record<'_>) {}
    fn record_follows_from(&self, _: &tracing::span::Id, _: &tracing::span::Id) {}
    fn event(&self, event: &tracing::Event<'_>) {
        let mut message = Message(String::new());
        event.record(&mut message);
        if message.0 == "accept failed" {
            self.0.lock().unwrap().push(std::time::Instant::now());
        }
    }
    fn enter(&self, _: &tracing::span::Id) {}
    fn exit(&self, _: &tracing::span::Id) {}
}

/// In a process with 64 descriptors: takes every free descriptor but one, connects with that
/// one, so the server's accept fails with `EMFILE`; checks that the retries back off
/// exponentially (their spacing adds up to at least the sum of the back-off steps), then frees
/// the descriptors and checks that the waiting client is served.
#[test]
#[ignore = "run by accept_backs_off_while_the_process_is_out_of_descriptors with 64 descriptors"]
fn emfile_child() {
    assert_eq!(
        std::env::var(EMFILE_CHILD).as_deref(),
        Ok("1"),
        "run only by its parent test"
    );
    let failures = Arc::new(Mutex::new(Vec::new()));
    let _subscriber = tracing::subscriber::set_default(AcceptFailures(Arc::clone(&failures)));
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let (addr, _stop) = start(ServeLimits::default()).await;
        let mut held = Vec::new();
        for _ in 0..1024 {
            match std::fs::File::open("/dev/null") {
                Ok(f) => held.push(f),
                Err(e) => {
                    assert_eq!(e.raw_os_error(), Some(24), "EMFILE: {e}");
                    break;
                }
            }
        }
        held.pop();
        let mut client = TcpStream::connect(addr).await.unwrap();
        let deadline = tokio::time::Instant::now() + DEADLINE;
        while failures.lock().unwrap().len() < FAILURES {
            assert!(
                tokio::time::Instant::now() < deadline,
                "only {} failed accepts",
                failures.lock().unwrap().len()
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let spread = {
            let f = failures.lock().unwrap();
            f[FAILURES - 1] - f[0]
        };
        let backoff: Duration = (0..FAILURES - 1)
            .map(|i| super::ACCEPT_BACKOFF_FIRST * 2u32.pow(u32::try_from(i).unwrap()))
            .map(|d| d.min(super::ACCEPT_BACKOFF_MAX))
            .sum();
        assert!(
            spread >= backoff,
            "{FAILURES} failed accepts within {spread:?}: no exponential back-off (at least {backoff:?})"
        );
        drop(held);
        client
            .write_all(b"GET /ok HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            .await
            .unwrap();
        let reply = read_to_close(&mut client).await;
        assert!(reply.starts_with("HTTP/1.1 200 "), "{reply}");
    });
}
