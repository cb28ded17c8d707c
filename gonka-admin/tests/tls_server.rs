//! `gonka-admin serve --tls-cert FILE --tls-key FILE`: the real binary serves the admin API over
//! HTTPS (certificates from private CAs generated here), plain HTTP to it fails, and a SIGHUP
//! after the files are replaced makes new connections present the new certificate.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::Path;
use std::time::Duration;

use common::bin::spawn_admin;
use gonka_admin::Client;
use rcgen::{BasicConstraints, CertificateParams, IsCa, KeyPair};

/// A CA, and a leaf for `localhost` it signed: (ca pem, leaf cert pem, leaf key pem).
fn ca_and_leaf() -> (String, String, String) {
    let ca_key = KeyPair::generate().unwrap();
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let leaf_key = KeyPair::generate().unwrap();
    let leaf = CertificateParams::new(vec!["localhost".to_owned()])
        .unwrap()
        .signed_by(&leaf_key, &ca, &ca_key)
        .unwrap();
    (ca.pem(), leaf.pem(), leaf_key.serialize_pem())
}

fn write_pair(dir: &Path, cert: &str, key: &str) {
    std::fs::write(dir.join("cert.pem"), cert).unwrap();
    std::fs::write(dir.join("key.pem"), key).unwrap();
}

/// Whether a client trusting only `ca` lists the nodes of the server at `url`.
async fn lists_with(ca: &str, url: &str) -> bool {
    Client::with_ca_pem(url, ca.as_bytes())
        .unwrap()
        .list()
        .await
        .is_ok()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_binary_serves_https_refuses_plain_http_and_reloads_on_sighup() {
    let dir = tempfile::tempdir().unwrap();
    let (ca1, cert1, key1) = ca_and_leaf();
    write_pair(dir.path(), &cert1, &key1);
    let cert = dir.path().join("cert.pem");
    let key = dir.path().join("key.pem");
    let admin = spawn_admin(
        &dir.path().join("admin.db"),
        &[
            "--tls-cert",
            cert.to_str().unwrap(),
            "--tls-key",
            key.to_str().unwrap(),
        ],
    );
    let url = format!("https://localhost:{}", admin.addr.port());
    assert!(lists_with(&ca1, &url).await, "HTTPS with the first CA");
    let plain = reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap()
        .get(format!("http://{}/admin/v1/nodes", admin.addr))
        .send()
        .await;
    assert!(plain.is_err(), "plain HTTP to the TLS port: {plain:?}");

    let (ca2, cert2, key2) = ca_and_leaf();
    write_pair(dir.path(), &cert2, &key2);
    let kill = std::process::Command::new("kill")
        .args(["-HUP", &admin.child.id().to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    let mut reloaded = false;
    for _ in 0..200 {
        if lists_with(&ca2, &url).await {
            reloaded = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        reloaded,
        "new connections present the second CA's certificate"
    );
    assert!(!lists_with(&ca1, &url).await);
    let status = admin.terminate();
    assert!(status.success(), "SIGTERM ends it cleanly: {status:?}");
}

#[test]
fn a_certificate_that_does_not_load_stops_start_up_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("cert.pem"), "not a certificate").unwrap();
    std::fs::write(dir.path().join("key.pem"), "not a key").unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_gonka-admin"))
        .args(["--listen", "127.0.0.1:0", "--database"])
        .arg(format!("sqlite://{}", dir.path().join("a.db").display()))
        .arg("--tls-cert")
        .arg(dir.path().join("cert.pem"))
        .arg("--tls-key")
        .arg(dir.path().join("key.pem"))
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("cert.pem"), "{stderr}");
}
