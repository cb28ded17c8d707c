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

impl Readiness {
    /// One probe of the engine at `base_url`; `Ok(())` when ready, else what it answered.
    ///
    /// # Errors
    /// The reason it is not ready (connection refused, status code, timeout).
    pub async fn probe(self, client: &reqwest::Client, base_url: &str) -> Result<(), String> {
        get_ok(client, &format!("{base_url}/health")).await?;
        if self == Readiness::HealthThenModels {
            get_ok(client, &format!("{base_url}/v1/models")).await?;
        }
        Ok(())
    }
}

async fn get_ok(client: &reqwest::Client, url: &str) -> Result<(), String> {
    let resp = client
        .get(url)
        .timeout(PROBE_TIMEOUT)
        .send()
        .await
        .map_err(|e| format!("GET {url}: {e}"))?;
    if resp.status().is_success() {
        Ok(())
    } else {
        Err(format!("GET {url}: {}", resp.status()))
    }
}
