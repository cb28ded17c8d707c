//! The [`InferenceBackend`] conformance suite.
//!
//! Each check starts from a stopped engine and leaves it stopped, so the checks can run one by
//! one or all together ([`backend_suite`]). The engine must list the launched model on
//! `GET {base_url}/v1/models` (the OpenAI models endpoint) while it is ready.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::{EngineHealth, Error, InferenceBackend, LaunchSpec};

/// The model the suite launches.
pub const BACKEND_MODEL: &str = "contract-model";

/// How long one HTTP probe of the engine may take.
const PROBE_TIMEOUT: Duration = Duration::from_secs(10);

/// The spec the suite launches: [`BACKEND_MODEL`], dtype `auto`, no extra args, on `port`
/// (0 lets an in-process engine pick its own).
pub fn launch_spec(port: u16) -> LaunchSpec {
    LaunchSpec {
        model: BACKEND_MODEL.into(),
        dtype: "auto".into(),
        args: vec![],
        port,
    }
}

/// Runs the whole [`InferenceBackend`] contract against `backend`, launching on `port`.
pub async fn backend_suite(backend: &dyn InferenceBackend, port: u16) {
    backend_starts_stopped(backend).await;
    backend_start_makes_it_ready_and_serving(backend, port).await;
    backend_start_of_the_running_model_is_a_no_op(backend, port).await;
    backend_start_of_another_model_is_busy(backend, port).await;
    backend_stop_releases_everything(backend, port).await;
    backend_stop_is_idempotent(backend).await;
    backend_restarts_after_stop(backend, port).await;
}

/// A backend not started (or stopped) is `Stopped` with no base URL and no process.
pub async fn backend_starts_stopped(backend: &dyn InferenceBackend) {
    assert_eq!(backend.health().await, EngineHealth::Stopped);
    assert_eq!(backend.base_url(), None, "a stopped engine has no base URL");
    assert_eq!(backend.pid(), None, "a stopped engine has no process");
    assert!(!backend.kind().is_empty(), "kind names the engine");
}

/// `start` returns once the engine is `Ready`, with a base URL that lists the model.
pub async fn backend_start_makes_it_ready_and_serving(backend: &dyn InferenceBackend, port: u16) {
    backend
        .start(&launch_spec(port))
        .await
        .expect("start of a fresh engine");
    assert_eq!(backend.health().await, EngineHealth::Ready);
    let base_url = backend.base_url().expect("a ready engine has a base URL");
    let (status, body) = http_get(&base_url, "/v1/models")
        .await
        .expect("the ready engine answers");
    assert_eq!(status, 200, "GET /v1/models: {body}");
    assert!(
        body.contains(BACKEND_MODEL),
        "/v1/models does not list {BACKEND_MODEL}: {body}"
    );
    stop(backend).await;
}

/// Starting the model that is already running changes nothing (same base URL, same process).
pub async fn backend_start_of_the_running_model_is_a_no_op(
    backend: &dyn InferenceBackend,
    port: u16,
) {
    let spec = launch_spec(port);
    backend.start(&spec).await.expect("first start");
    let (url, pid) = (backend.base_url(), backend.pid());
    backend
        .start(&spec)
        .await
        .expect("starting the running model again is a no-op");
    assert_eq!(backend.health().await, EngineHealth::Ready);
    assert_eq!(backend.base_url(), url);
    assert_eq!(backend.pid(), pid);
    stop(backend).await;
}

/// Starting another model while one runs is `Busy`, and the running one keeps serving.
pub async fn backend_start_of_another_model_is_busy(backend: &dyn InferenceBackend, port: u16) {
    backend.start(&launch_spec(port)).await.expect("start");
    let other = LaunchSpec {
        model: "other-model".into(),
        ..launch_spec(port)
    };
    let got = backend.start(&other).await;
    assert!(matches!(got, Err(Error::Busy(_))), "{got:?}");
    assert_eq!(backend.health().await, EngineHealth::Ready);
    let base_url = backend.base_url().expect("still ready");
    let (_, body) = http_get(&base_url, "/v1/models").await.expect("answers");
    assert!(body.contains(BACKEND_MODEL), "{body}");
    stop(backend).await;
}

/// `stop` returns once the engine is `Stopped`, without base URL or process, and its port no
/// longer answers.
pub async fn backend_stop_releases_everything(backend: &dyn InferenceBackend, port: u16) {
    backend.start(&launch_spec(port)).await.expect("start");
    let base_url = backend.base_url().expect("ready");
    backend.stop().await.expect("stop");
    assert_eq!(backend.health().await, EngineHealth::Stopped);
    assert_eq!(backend.base_url(), None);
    assert_eq!(backend.pid(), None);
    assert!(
        http_get(&base_url, "/v1/models").await.is_err(),
        "{base_url} still answers after stop"
    );
}

/// `stop` of a stopped engine is `Ok` and leaves it stopped.
pub async fn backend_stop_is_idempotent(backend: &dyn InferenceBackend) {
    backend.stop().await.expect("stop of a stopped engine");
    backend.stop().await.expect("and again");
    backend_starts_stopped(backend).await;
}

/// An engine stopped after running starts again and serves.
pub async fn backend_restarts_after_stop(backend: &dyn InferenceBackend, port: u16) {
    backend.start(&launch_spec(port)).await.expect("start");
    stop(backend).await;
    backend_start_makes_it_ready_and_serving(backend, port).await;
}

async fn stop(backend: &dyn InferenceBackend) {
    backend.stop().await.expect("stop");
    assert_eq!(backend.health().await, EngineHealth::Stopped);
}

/// A minimal HTTP/1.1 GET of `path` on `base_url` (`http://host:port`): status and body text
/// (chunked framing is left in; the suite only searches the text).
///
/// # Errors
/// Connection, I/O or timeout failures, and an unparsable answer.
async fn http_get(base_url: &str, path: &str) -> std::io::Result<(u16, String)> {
    let authority = base_url
        .strip_prefix("http://")
        .unwrap_or(base_url)
        .trim_end_matches('/');
    let authority = authority.split('/').next().unwrap_or(authority).to_owned();
    let request = format!("GET {path} HTTP/1.1\r\nHost: {authority}\r\nConnection: close\r\n\r\n");
    let exchange = async move {
        let mut stream = TcpStream::connect(&authority).await?;
        stream.write_all(request.as_bytes()).await?;
        let mut answer = Vec::new();
        stream.read_to_end(&mut answer).await?;
        Ok::<_, std::io::Error>(answer)
    };
    let answer = tokio::time::timeout(PROBE_TIMEOUT, exchange)
        .await
        .map_err(|_| std::io::Error::new(std::io::ErrorKind::TimedOut, "probe timed out"))??;
    let text = String::from_utf8_lossy(&answer).into_owned();
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| std::io::Error::new(std::io::ErrorKind::InvalidData, "no status line"))?;
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    Ok((status, body))
}
