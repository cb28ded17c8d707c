//! Readiness probes of an engine's HTTP API.

use std::time::Duration;

/// What an engine must answer to count as ready.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Readiness {
    /// `GET /health` answers 200 (llama-server: 503 while loading).
    Health,
    /// `GET /health` then `GET /v1/models` answer 200 (vLLM, SGLang).
    HealthThenModels,
}

/// Per-probe timeout: vLLM accepts connections before it answers, so a probe must not hang.
pub const PROBE_TIMEOUT: Duration = Duration::from_secs(2);

/// Why an engine is not ready: what one probe got instead of `200`.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ProbeError {
    /// The request failed (connection refused, timeout, ...).
    #[error("GET {url}: {source}")]
    Transport {
        /// The URL probed.
        url: String,
        /// The client's error.
        #[source]
        source: reqwest::Error,
    },
    /// The engine answered a non-success status (llama-server: 503 while loading).
    #[error("GET {url}: {status}")]
    Status {
        /// The URL probed.
        url: String,
        /// The status.
        status: reqwest::StatusCode,
    },
}

impl Readiness {
    /// One probe of the engine at `base_url`; `Ok(())` when ready, else what it answered.
    ///
    /// # Errors
    /// [`ProbeError`]: why it is not ready (connection refused, status code, timeout).
    pub async fn probe(self, client: &reqwest::Client, base_url: &str) -> Result<(), ProbeError> {
        get_ok(client, &format!("{base_url}/health")).await?;
        if self == Readiness::HealthThenModels {
            get_ok(client, &format!("{base_url}/v1/models")).await?;
        }
        Ok(())
    }
}

async fn get_ok(client: &reqwest::Client, url: &str) -> Result<(), ProbeError> {
    let resp = client
        .get(url)
        .timeout(PROBE_TIMEOUT)
        .send()
        .await
        .map_err(|source| ProbeError::Transport {
            url: url.to_owned(),
            source,
        })?;
    if resp.status().is_success() {
        Ok(())
    } else {
        Err(ProbeError::Status {
            url: url.to_owned(),
            status: resp.status(),
        })
    }
}
