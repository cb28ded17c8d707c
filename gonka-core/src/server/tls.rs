//! TLS termination for [`serve_tls`](super::serve_tls) (feature `tls`): rustls with the ring
//! provider, a certificate chain and private key read from PEM files, and [`TlsFiles::reload`]
//! to read them again while serving (the binaries call it on `SIGHUP`): new connections get the
//! new certificate, open ones keep theirs, and files that do not load leave the old certificate
//! in place.

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use rustls::ServerConfig;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

/// Why a certificate or key could not be loaded; names the file.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// The certificate file is unreadable, not PEM, or holds no certificate.
    #[error("TLS certificate {path}: {reason}")]
    Certificate {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// The key file is unreadable, not PEM, or holds no private key.
    #[error("TLS private key {path}: {reason}")]
    Key {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// The key does not match the certificate, or rustls refused the pair.
    #[error("TLS certificate {cert} with key {key}: {reason}")]
    Pair {
        /// The certificate file.
        cert: PathBuf,
        /// The key file.
        key: PathBuf,
        /// rustls' reason.
        reason: String,
    },
}

/// A certificate chain and key from PEM files, loaded into a rustls server configuration that
/// [`reload`](Self::reload) replaces. Cheap to clone (clones share the configuration).
#[derive(Debug, Clone)]
pub struct TlsFiles {
    cert: PathBuf,
    key: PathBuf,
    current: Arc<RwLock<Arc<ServerConfig>>>,
}

impl TlsFiles {
    /// Loads `cert` (PEM chain, leaf first) and `key` (PEM PKCS#8, PKCS#1 or SEC1 private key).
    /// The server offers HTTP/2 and HTTP/1.1 by ALPN.
    ///
    /// # Errors
    /// [`TlsError`] naming the file that does not load.
    pub fn load(cert: impl Into<PathBuf>, key: impl Into<PathBuf>) -> Result<Self, TlsError> {
        let cert = cert.into();
        let key = key.into();
        let config = server_config(&cert, &key)?;
        Ok(Self {
            cert,
            key,
            current: Arc::new(RwLock::new(Arc::new(config))),
        })
    }

    /// Reads the files again; on success new connections use them, on failure the previous
    /// certificate stays and the error says why.
    ///
    /// # Errors
    /// [`TlsError`] naming the file that does not load.
    pub fn reload(&self) -> Result<(), TlsError> {
        let config = server_config(&self.cert, &self.key)?;
        let mut current = self
            .current
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        *current = Arc::new(config);
        Ok(())
    }

    /// The configuration for a new connection.
    pub fn config(&self) -> Arc<ServerConfig> {
        self.current
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// The certificate file.
    pub fn cert_path(&self) -> &Path {
        &self.cert
    }

    /// The key file.
    pub fn key_path(&self) -> &Path {
        &self.key
    }

    /// Calls [`reload`](Self::reload) on every `SIGHUP` until the process ends, logging the
    /// outcome (a failed reload keeps the old certificate). The `SIGHUP` handler is installed
    /// when this is called, not when the future first runs, so a `SIGHUP` sent once the caller
    /// has gone on (announced its listeners, say) reloads instead of ending the process. Call
    /// it inside a Tokio runtime, once per process, and spawn the future.
    #[cfg(unix)]
    pub fn reload_on_sighup(self) -> impl std::future::Future<Output = ()> + Send + 'static {
        use tokio::signal::unix::{signal, SignalKind};
        let hup = signal(SignalKind::hangup());
        async move {
            let mut hup = match hup {
                Ok(s) => s,
                Err(e) => {
                    tracing::warn!(error = %e, "cannot listen for SIGHUP: TLS certificates will not reload");
                    return;
                }
            };
            while hup.recv().await.is_some() {
                match self.reload() {
                    Ok(()) => {
                        tracing::info!(cert = %self.cert.display(), "TLS certificate reloaded")
                    }
                    Err(e) => {
                        tracing::error!(error = %e, "TLS reload failed; keeping the previous certificate")
                    }
                }
            }
        }
    }
}

fn server_config(cert: &Path, key: &Path) -> Result<ServerConfig, TlsError> {
    let cert_err = |reason: String| TlsError::Certificate {
        path: cert.to_owned(),
        reason,
    };
    let key_err = |reason: String| TlsError::Key {
        path: key.to_owned(),
        reason,
    };
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
        .map_err(|e| cert_err(e.to_string()))?
        .collect::<Result<_, _>>()
        .map_err(|e| cert_err(e.to_string()))?;
    if chain.is_empty() {
        return Err(cert_err("no PEM certificate in the file".into()));
    }
    let private = PrivateKeyDer::from_pem_file(key).map_err(|e| key_err(e.to_string()))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| cert_err(e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(chain, private)
        .map_err(|e| TlsError::Pair {
            cert: cert.to_owned(),
            key: key.to_owned(),
            reason: e.to_string(),
        })?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(config)
}
