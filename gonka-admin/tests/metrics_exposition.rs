//! `GET /metrics` of the admin server as `run_server` serves it (the binary's start-up): requests
//! counted by method, matched route and status, their latency, build info; behind the admin
//! token when one is set.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use gonka_admin::ServerConfig;

struct Running {
    base: String,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: std::thread::JoinHandle<Result<(), gonka_admin::RunError>>,
    _dir: tempfile::TempDir,
}

async fn serve(token: Option<&str>) -> Running {
    let dir = tempfile::tempdir().unwrap();
    let mut config = ServerConfig::new(format!(
        "sqlite://{}",
        dir.path().join("gonka.db").display()
    ));
    config.token = token.map(str::to_owned);
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    // The server's future is not `Send`: it runs on a runtime of its own, as in the binary.
    let task = std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let listener = tokio::net::TcpListener::from_std(listener).unwrap();
            gonka_admin::run_server(config, listener, async {
                let _ = rx.await;
            })
            .await
        })
    });
    let client = reqwest::Client::new();
    // Bounded wait until it serves (the registry opens first).
    for _ in 0..500 {
        if client.get(format!("{base}/livez")).send().await.is_ok() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    Running {
        base,
        stop: Some(tx),
        task,
        _dir: dir,
    }
}

impl Running {
    async fn stop(mut self) {
        let _ = self.stop.take().unwrap().send(());
        tokio::task::spawn_blocking(move || self.task.join())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
    }
}

#[tokio::test]
async fn requests_are_counted_by_route_and_status() {
    let server = serve(None).await;
    let client = reqwest::Client::new();
    let base = &server.base;
    assert_eq!(
        client
            .get(format!("{base}/admin/v1/nodes"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    for _ in 0..2 {
        assert_eq!(
            client
                .get(format!("{base}/admin/v1/nodes/no-such-node"))
                .send()
                .await
                .unwrap()
                .status(),
            404
        );
    }
    client.get(format!("{base}/nowhere")).send().await.unwrap();
    let r = client.get(format!("{base}/metrics")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let text = r.text().await.unwrap();
    for expected in [
        format!(
            "gonka_build_info{{binary=\"gonka-admin\",version=\"{}\"}} 1",
            env!("CARGO_PKG_VERSION")
        ),
        "gonka_admin_requests_total{method=\"GET\",route=\"/admin/v1/nodes\",status=\"200\"} 1"
            .into(),
        "gonka_admin_requests_total{method=\"GET\",route=\"/admin/v1/nodes/{id}\",status=\"404\"} 2"
            .into(),
        "gonka_admin_requests_total{method=\"GET\",route=\"unmatched\",status=\"404\"} 1".into(),
        "gonka_admin_request_duration_seconds_count{route=\"/admin/v1/nodes/{id}\"} 2".into(),
    ] {
        assert!(text.contains(&expected), "missing {expected:?} in:\n{text}");
    }
    server.stop().await;
}

#[tokio::test]
async fn with_a_token_metrics_need_it() {
    let server = serve(Some("s3cret")).await;
    let client = reqwest::Client::new();
    let url = format!("{}/metrics", server.base);
    assert_eq!(client.get(&url).send().await.unwrap().status(), 401);
    let r = client.get(&url).bearer_auth("s3cret").send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert!(r
        .text()
        .await
        .unwrap()
        .contains("gonka_admin_requests_total"));
    server.stop().await;
}
