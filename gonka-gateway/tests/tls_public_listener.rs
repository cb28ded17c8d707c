//! HTTPS on the gateway's public listener (`--tls-cert`/`--tls-key`): served with a certificate
//! generated here by a private CA; plain HTTP to it fails; a handshake that stalls is cut after
//! the header read timeout; and the binary reloads the files on SIGHUP (new connections get the
//! new certificate, files that do not load keep the old one).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::io::Read;
use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use common::*;
use gonka_core::server::tls::TlsFiles;
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

fn write_pair(dir: &Path, cert: &str, key: &str) -> (std::path::PathBuf, std::path::PathBuf) {
    let (c, k) = (dir.join("cert.pem"), dir.join("key.pem"));
    std::fs::write(&c, cert).unwrap();
    std::fs::write(&k, key).unwrap();
    (c, k)
}

/// A client that trusts only `ca` and resolves `localhost` to `addr`.
fn https_client(ca: &str, addr: SocketAddr) -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .tls_built_in_root_certs(false)
        .add_root_certificate(reqwest::Certificate::from_pem(ca.as_bytes()).unwrap())
        .resolve("localhost", addr)
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap()
}

#[tokio::test]
async fn the_public_listener_serves_https_and_refuses_plain_http() {
    let dir = tempfile::tempdir().unwrap();
    let (ca, cert, key) = ca_and_leaf();
    let (c, k) = write_pair(dir.path(), &cert, &key);
    let mut config = test_config();
    config.tls = Some(TlsFiles::load(&c, &k).unwrap());
    let gw = start(config).await;
    let addr = gw.public_addr;
    assert!(gw.addresses().contains(&format!("https://{addr}")));

    let resp = https_client(&ca, addr)
        .get(format!("https://localhost:{}/livez", addr.port()))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let resp = https_client(&ca, addr)
        .get(format!("https://localhost:{}/v1/models", addr.port()))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);

    // A client that does not trust the CA refuses the certificate.
    let (other_ca, _, _) = ca_and_leaf();
    let refused = https_client(&other_ca, addr)
        .get(format!("https://localhost:{}/livez", addr.port()))
        .send()
        .await;
    assert!(refused.is_err());
    // Plain HTTP to the TLS port gets no HTTP answer.
    let plain = client()
        .get(format!("http://{addr}/livez"))
        .timeout(Duration::from_secs(10))
        .send()
        .await;
    assert!(plain.is_err(), "{plain:?}");
    gw.shutdown().await;
}

#[tokio::test]
async fn a_stalled_handshake_is_cut_after_the_header_read_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let (_, cert, key) = ca_and_leaf();
    let (c, k) = write_pair(dir.path(), &cert, &key);
    let mut config = test_config();
    config.tls = Some(TlsFiles::load(&c, &k).unwrap());
    config.header_read_timeout = Duration::from_millis(300);
    let gw = start(config).await;
    let addr = gw.public_addr;
    let closed = tokio::task::spawn_blocking(move || {
        let mut s = std::net::TcpStream::connect(addr).unwrap();
        // Generous: the server cuts at 300 ms; this only bounds the test.
        s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        let mut buf = [0u8; 16];
        match s.read(&mut buf) {
            Ok(n) => n == 0,
            // Reset by the server is closed too; our own read timeout is not.
            Err(e) => !matches!(
                e.kind(),
                std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
            ),
        }
    })
    .await
    .unwrap();
    assert!(
        closed,
        "a connection that never sends a ClientHello is closed"
    );
    gw.shutdown().await;
}

#[test]
fn files_that_do_not_load_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let (_, cert, key) = ca_and_leaf();
    let (c, k) = write_pair(dir.path(), &cert, &key);
    let missing = dir.path().join("nope.pem");
    let e = TlsFiles::load(&missing, &k).unwrap_err().to_string();
    assert!(e.contains("nope.pem"), "{e}");
    std::fs::write(dir.path().join("garbage.pem"), "not pem").unwrap();
    let e = TlsFiles::load(&c, dir.path().join("garbage.pem"))
        .unwrap_err()
        .to_string();
    assert!(e.contains("garbage.pem"), "{e}");
    let (_, _, other_key) = ca_and_leaf();
    std::fs::write(dir.path().join("other.pem"), other_key).unwrap();
    let e = TlsFiles::load(&c, dir.path().join("other.pem"))
        .unwrap_err()
        .to_string();
    assert!(e.contains("other.pem"), "key that does not match: {e}");
}

fn signal(pid: u32, name: &str) {
    let status = std::process::Command::new("kill")
        .args(["-s", name, &pid.to_string()])
        .status()
        .unwrap();
    assert!(status.success(), "kill -s {name} {pid}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_binary_reloads_its_certificate_on_sighup_and_keeps_it_when_the_new_files_are_bad() {
    let dir = tempfile::tempdir().unwrap();
    let (ca1, cert1, key1) = ca_and_leaf();
    let (c, k) = write_pair(dir.path(), &cert1, &key1);
    let db = format!("sqlite://{}", dir.path().join("gonka.db").display());
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_gonka-gateway"))
        .args([
            "--public-listen",
            "127.0.0.1:0",
            "--admin-listen",
            "127.0.0.1:0",
        ])
        .args(["--poc-listen", "127.0.0.1:0", "--database", &db])
        .arg("--tls-cert")
        .arg(&c)
        .arg("--tls-key")
        .arg(&k)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .env_remove("RUST_LOG")
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    // The log, line by line, so the test waits on the gateway's own word that a reload ran.
    let log = std::sync::Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let stderr = child.stderr.take().unwrap();
    let sink = log.clone();
    tokio::spawn(async move {
        let mut lines = tokio::io::AsyncBufReadExt::lines(tokio::io::BufReader::new(stderr));
        while let Ok(Some(line)) = lines.next_line().await {
            sink.lock().unwrap().push(line);
        }
    });
    let logged = |what: &'static str, times: usize| {
        let log = log.clone();
        async move {
            log.lock()
                .unwrap()
                .iter()
                .filter(|l| l.contains(what))
                .count()
                >= times
        }
    };
    let stdout = child.stdout.take().unwrap();
    let mut lines = tokio::io::AsyncBufReadExt::lines(tokio::io::BufReader::new(stdout));
    let line = tokio::time::timeout(Duration::from_secs(30), lines.next_line())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    // "gonka-gateway listening: public https://127.0.0.1:PORT, admin http://..."
    let public = line
        .split("public https://")
        .nth(1)
        .unwrap_or_else(|| panic!("no https public address in {line:?}"))
        .split(',')
        .next()
        .unwrap();
    let addr: SocketAddr = public.parse().unwrap();
    let url = format!("https://localhost:{}/livez", addr.port());
    let pid = child.id().unwrap();
    // A SIGHUP as soon as the gateway has said it listens (a `systemctl reload` right after
    // start) reloads; it does not end the process.
    signal(pid, "HUP");
    eventually("the gateway logs the reload", || {
        logged("TLS certificate reloaded", 1)
    })
    .await;
    assert_eq!(
        https_client(&ca1, addr)
            .get(&url)
            .send()
            .await
            .unwrap()
            .status(),
        200
    );

    let (ca2, cert2, key2) = ca_and_leaf();
    write_pair(dir.path(), &cert2, &key2);
    signal(pid, "HUP");
    eventually("the gateway logs the reload", || {
        logged("TLS certificate reloaded", 2)
    })
    .await;
    assert_eq!(
        https_client(&ca2, addr)
            .get(&url)
            .send()
            .await
            .unwrap()
            .status(),
        200,
        "new connections present the reloaded certificate"
    );
    assert!(https_client(&ca1, addr).get(&url).send().await.is_err());

    // A broken replacement is refused (and logged); the certificate of CA 2 stays.
    std::fs::write(&c, "not a certificate").unwrap();
    signal(pid, "HUP");
    eventually("the gateway logs the failed reload", || {
        logged("TLS reload failed", 1)
    })
    .await;
    assert_eq!(
        https_client(&ca2, addr)
            .get(&url)
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    assert!(https_client(&ca1, addr).get(&url).send().await.is_err());
    signal(pid, "TERM");
    let status = tokio::time::timeout(Duration::from_secs(30), child.wait())
        .await
        .unwrap()
        .unwrap();
    assert!(status.success(), "{status}");
}
