//! The typed client over `https://`: the admin API served with TLS (a certificate from a private
//! CA generated here) is reached by `Client::with_ca_pem` and by `gonka-admin nodes --ca-cert`;
//! a client that does not trust the CA fails with a transport error.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use gonka_admin::{AdminOptions, Client, ClientError};
use gonka_core::server::tls::TlsFiles;
use gonka_core::server::ServeLimits;
use gonka_core::{MemoryRegistry, NodeConfig, NodeRegistry};
use rcgen::{BasicConstraints, CertificateParams, IsCa, KeyPair};

struct TlsServer {
    url: String,
    ca: String,
    _dir: tempfile::TempDir,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
}

async fn tls_server(registry: Arc<dyn NodeRegistry>) -> TlsServer {
    let ca_key = KeyPair::generate().unwrap();
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let leaf_key = KeyPair::generate().unwrap();
    let leaf = CertificateParams::new(vec!["localhost".to_owned()])
        .unwrap()
        .signed_by(&leaf_key, &ca, &ca_key)
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("cert.pem"), leaf.pem()).unwrap();
    std::fs::write(dir.path().join("key.pem"), leaf_key.serialize_pem()).unwrap();
    let tls = TlsFiles::load(dir.path().join("cert.pem"), dir.path().join("key.pem")).unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let app = gonka_admin::router(registry, AdminOptions::default());
    tokio::spawn(gonka_core::server::serve_tls(
        listener,
        app,
        ServeLimits::default(),
        tls,
        async move {
            let _ = stopped.await;
        },
    ));
    TlsServer {
        url: format!("https://localhost:{port}"),
        ca: ca.pem(),
        _dir: dir,
        stop: Some(stop),
    }
}

impl Drop for TlsServer {
    fn drop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
    }
}

#[tokio::test]
async fn the_typed_client_speaks_https_to_a_server_signed_by_a_private_ca() {
    let registry = Arc::new(MemoryRegistry::new());
    registry
        .upsert(NodeConfig::new("node1", "Qwen/Qwen3-32B-FP8").at("10.0.0.21", 5050, 8080))
        .await
        .unwrap();
    let server = tls_server(registry).await;
    let client = Client::with_ca_pem(&server.url, server.ca.as_bytes()).unwrap();
    let nodes = client.list().await.unwrap();
    assert_eq!(nodes.len(), 1);
    assert_eq!(nodes[0].node.id, "node1");

    // Without the CA the certificate is refused.
    let untrusting = Client::new(&server.url);
    assert!(matches!(
        untrusting.list().await,
        Err(ClientError::Transport(_))
    ));
    assert!(Client::with_ca_pem(&server.url, b"not pem").is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_operator_cli_takes_a_ca_certificate_for_https() {
    let server = tls_server(Arc::new(MemoryRegistry::new())).await;
    let ca_file = server._dir.path().join("ca.pem");
    std::fs::write(&ca_file, &server.ca).unwrap();
    let url = server.url.clone();
    let out = tokio::task::spawn_blocking(move || {
        std::process::Command::new(env!("CARGO_BIN_EXE_gonka-admin"))
            .args(["nodes", "list", "--server", &url, "--ca-cert"])
            .arg(&ca_file)
            .env("NO_PROXY", "localhost")
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("(no nodes)"));
}
