//! Joining a gateway by itself (`gonka-mlnode --gateway-url URL`): the agent registers through
//! the gateway's admin API (`PUT /admin/v1/nodes/{id}`, with the admin token when one is set),
//! then sends a heartbeat every interval (`POST /fleet/nodes/{id}/heartbeat`) whose body is its
//! own `GET /api/v1/state` answer. The gateway treats a heartbeat as a passed health check and
//! takes the node out of routing when heartbeats stop (after 3 missed intervals by default).
//!
//! A heartbeat answered 404 (the gateway does not know the node: it was deleted, or the gateway
//! restarted on an empty registry) registers the node again. At shutdown the heartbeats stop;
//! with [`JoinSettings::deregister`] the node is also deleted from the registry, otherwise it
//! stays registered (shown as unhealthy) and is routed to again when the agent comes back.
//!
//! Only `gonka-core`'s wire types are used ([`gonka_core::NodeConfig`]); the agent does not
//! depend on the gateway or its admin client.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use gonka_core::NodeConfig;
use tokio_util::sync::CancellationToken;

/// Default interval between two heartbeats.
pub const DEFAULT_HEARTBEAT_INTERVAL: Duration = Duration::from_secs(5);

/// How the agent joins a gateway.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JoinSettings {
    /// Base URL of the gateway's admin listener, e.g. `http://10.0.0.1:9200`.
    pub gateway_url: String,
    /// The gateway's admin token (`--admin-token`), when it has one.
    pub token: Option<String>,
    /// Id to register under (`None`: `<hostname>-<management port>`).
    pub node_id: Option<String>,
    /// Host or IP the gateway reaches this agent at (`None`: the management listener's IP when
    /// it is a specific one, else the local address this machine uses to reach the gateway).
    pub advertise_host: Option<String>,
    /// Models registered for the node (`None`/empty: the agent's start model; one is needed).
    pub models: Vec<String>,
    /// `max_concurrent` registered for the node.
    pub max_concurrent: u32,
    /// Time between two heartbeats (the gateway allows a few to be missed).
    pub interval: Duration,
    /// Delete the node from the registry at shutdown (default: keep it registered).
    pub deregister: bool,
    /// Find the gateway by mDNS when `gateway_url` is empty (`--discover`).
    pub discover: Option<crate::discover::DiscoverSettings>,
    /// The gateway was found by mDNS (reported to the gateway as the node's source).
    pub discovered: bool,
}

impl JoinSettings {
    /// Joining `gateway_url` with every other setting at its default.
    pub fn new(gateway_url: impl Into<String>) -> Self {
        Self {
            gateway_url: gateway_url.into(),
            token: None,
            node_id: None,
            advertise_host: None,
            models: Vec::new(),
            max_concurrent: 16,
            interval: DEFAULT_HEARTBEAT_INTERVAL,
            deregister: false,
            discover: None,
            discovered: false,
        }
    }

    /// Finding the gateway by mDNS with `discover` (no URL given).
    pub fn discover(discover: crate::discover::DiscoverSettings) -> Self {
        Self {
            discover: Some(discover),
            ..Self::new("")
        }
    }

    /// Checks what can be checked before joining: a model to register, and a usable URL when
    /// one is given (`gateway_url` may be empty only with `discover`).
    ///
    /// # Errors
    /// [`JoinError`] naming the problem.
    pub fn check(&self, start_model: Option<&str>) -> Result<(), JoinError> {
        if self.models.iter().all(|m| m.trim().is_empty()) && start_model.is_none() {
            return Err(JoinError::NoModel);
        }
        if self.gateway_url.is_empty() && self.discover.is_some() {
            return Ok(());
        }
        gateway_authority(&self.gateway_url)
            .map(drop)
            .ok_or_else(|| JoinError::BadUrl(self.gateway_url.clone()))
    }
}

/// `host:port` of an `http(s)://host:port[/...]` URL.
fn gateway_authority(url: &str) -> Option<&str> {
    url.trim_end_matches('/')
        .strip_prefix("http://")
        .or_else(|| url.strip_prefix("https://"))
        .filter(|a| !a.is_empty())
}

/// Joins as `settings` say until `stop` is cancelled: first finds the gateway by mDNS when no
/// URL is given (looking again until one answers), then registers and heartbeats
/// ([`Joiner::run`]). Check the settings with [`JoinSettings::check`] first; a failure here
/// is logged.
pub async fn run(
    mut settings: JoinSettings,
    mgmt: SocketAddr,
    inference: SocketAddr,
    start_model: Option<String>,
    agent_token: Option<String>,
    stop: CancellationToken,
) {
    if settings.gateway_url.is_empty() {
        let Some(discover) = settings.discover.clone() else {
            tracing::error!("joining a gateway needs --gateway-url or --discover");
            return;
        };
        tracing::info!(
            service = crate::discover::GATEWAY_SERVICE_TYPE,
            "looking for a gateway by mDNS"
        );
        loop {
            tokio::select! {
                () = stop.cancelled() => return,
                found = crate::discover::find_gateway(&discover) => match found {
                    Ok(url) => {
                        tracing::info!(gateway = %url, "found a gateway by mDNS");
                        settings.gateway_url = url;
                        settings.discovered = true;
                        break;
                    }
                    Err(e) => tracing::warn!(error = %e, "no gateway found by mDNS yet; looking again"),
                },
            }
        }
    }
    match Joiner::new(
        settings,
        mgmt,
        inference,
        start_model.as_deref(),
        agent_token,
    )
    .await
    {
        Ok(joiner) => joiner.run(stop).await,
        Err(e) => tracing::error!(error = %e, "cannot join the gateway"),
    }
}

/// Why joining cannot even start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum JoinError {
    /// No model to register (neither `--register-model` nor `--model`).
    #[error("joining a gateway needs a model to register: set --model or --register-model")]
    NoModel,
    /// The gateway URL is not an `http(s)://host:port` URL.
    #[error("--gateway-url {0:?} is not an http(s) URL")]
    BadUrl(String),
}

/// A running join: registration, then heartbeats until cancelled.
#[derive(Debug)]
pub struct Joiner {
    settings: JoinSettings,
    http: reqwest::Client,
    base: String,
    node: NodeConfig,
    state_url: String,
    agent_token: Option<String>,
}

impl Joiner {
    /// Prepares joining with `settings` for the agent serving its management API at `mgmt` and
    /// its inference API at `inference`, with `agent_token` (its own `--token`) to read its
    /// state; `start_model` is registered when `settings.models` is empty.
    ///
    /// # Errors
    /// [`JoinError`] when no model is known or the URL is not http(s).
    pub async fn new(
        settings: JoinSettings,
        mgmt: SocketAddr,
        inference: SocketAddr,
        start_model: Option<&str>,
        agent_token: Option<String>,
    ) -> Result<Self, JoinError> {
        let base = settings.gateway_url.trim_end_matches('/').to_owned();
        let Some(authority) = gateway_authority(&base) else {
            return Err(JoinError::BadUrl(settings.gateway_url.clone()));
        };
        let mut models: Vec<String> = settings
            .models
            .iter()
            .filter(|m| !m.trim().is_empty())
            .cloned()
            .collect();
        if models.is_empty() {
            models.extend(start_model.map(str::to_owned));
        }
        if models.is_empty() {
            return Err(JoinError::NoModel);
        }
        let host = match &settings.advertise_host {
            Some(h) => h.clone(),
            None => advertised_ip(mgmt.ip(), authority).await.to_string(),
        };
        let id = settings
            .node_id
            .clone()
            .unwrap_or_else(|| format!("{}-{}", hostname(), mgmt.port()));
        let mut node = NodeConfig::new(id, models[0].clone())
            .at(host, inference.port(), mgmt.port())
            .max_concurrent(settings.max_concurrent.max(1));
        for m in &models[1..] {
            node = node.model(m.clone(), Vec::new());
        }
        let own_ip = if mgmt.ip().is_unspecified() {
            IpAddr::from([127, 0, 0, 1])
        } else {
            mgmt.ip()
        };
        let state_url = format!(
            "http://{}{}",
            SocketAddr::new(own_ip, mgmt.port()),
            gonka_core::mlnode_api::paths::STATE
        );
        let http = reqwest::Client::builder()
            .no_proxy()
            .connect_timeout(Duration::from_secs(2))
            .timeout(settings.interval.max(Duration::from_secs(2)))
            .build()
            .unwrap_or_default();
        Ok(Self {
            settings,
            http,
            base,
            node,
            state_url,
            agent_token,
        })
    }

    /// The node as registered.
    pub fn node(&self) -> &NodeConfig {
        &self.node
    }

    /// Registers, then heartbeats every interval until `stop` is cancelled; then deregisters
    /// when configured. Failures are logged and retried on the next beat; never returns early.
    pub async fn run(self, stop: CancellationToken) {
        let id = self.node.id.clone();
        tracing::info!(node = %id, gateway = %self.base, host = %self.node.host, "joining the gateway");
        let mut registered = false;
        let mut last_ok: Option<bool> = None;
        let mut tick = tokio::time::interval(self.settings.interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                () = stop.cancelled() => break,
                _ = tick.tick() => {}
            }
            if !registered {
                registered = match self.register().await {
                    Ok(()) => {
                        tracing::info!(node = %id, "registered with the gateway");
                        true
                    }
                    Err(e) => {
                        tracing::warn!(node = %id, error = %e, "registration with the gateway failed; retrying");
                        continue;
                    }
                };
            }
            let beat = self.heartbeat().await;
            match (&beat, last_ok) {
                (Ok(Beat::Accepted), Some(true)) => {}
                (Ok(Beat::Accepted), _) => tracing::info!(node = %id, "heartbeats accepted"),
                (Ok(Beat::UnknownNode), _) => {
                    tracing::warn!(node = %id, "the gateway does not know this node; registering again");
                    registered = false;
                }
                (Err(e), Some(false)) => {
                    tracing::debug!(node = %id, error = %e, "heartbeat failed")
                }
                (Err(e), _) => tracing::warn!(node = %id, error = %e, "heartbeat failed"),
            }
            last_ok = Some(matches!(beat, Ok(Beat::Accepted)));
        }
        tracing::info!(node = %id, "heartbeats stopped");
        if self.settings.deregister && registered {
            match self.deregister().await {
                Ok(()) => tracing::info!(node = %id, "deregistered from the gateway"),
                Err(e) => tracing::warn!(node = %id, error = %e, "deregistration failed"),
            }
        }
    }

    fn with_token(&self, rb: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        match &self.settings.token {
            Some(t) if !t.is_empty() => rb.bearer_auth(t),
            _ => rb,
        }
    }

    async fn register(&self) -> Result<(), String> {
        let url = format!("{}/admin/v1/nodes/{}", self.base, self.node.id);
        let response = self
            .with_token(self.http.put(&url))
            .json(&self.node)
            .send()
            .await
            .map_err(|e| format!("PUT {url}: {e}"))?;
        check(response, &url).await.map(drop)
    }

    async fn deregister(&self) -> Result<(), String> {
        let url = format!("{}/admin/v1/nodes/{}", self.base, self.node.id);
        let response = self
            .with_token(self.http.delete(&url))
            .send()
            .await
            .map_err(|e| format!("DELETE {url}: {e}"))?;
        check(response, &url).await.map(drop)
    }

    async fn heartbeat(&self) -> Result<Beat, String> {
        let state = {
            let rb = self.http.get(&self.state_url);
            let rb = match &self.agent_token {
                Some(t) => rb.bearer_auth(t),
                None => rb,
            };
            let response = rb
                .send()
                .await
                .map_err(|e| format!("own state {}: {e}", self.state_url))?;
            check(response, &self.state_url).await?
        };
        let url = format!(
            "{}/fleet/nodes/{}/heartbeat?interval_ms={}&source={}",
            self.base,
            self.node.id,
            self.settings.interval.as_millis(),
            if self.settings.discovered {
                "mdns"
            } else {
                "heartbeat"
            }
        );
        let response = self
            .with_token(self.http.post(&url))
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(state)
            .send()
            .await
            .map_err(|e| format!("POST {url}: {e}"))?;
        if response.status() == reqwest::StatusCode::NOT_FOUND {
            return Ok(Beat::UnknownNode);
        }
        check(response, &url).await.map(|_| Beat::Accepted)
    }
}

enum Beat {
    Accepted,
    UnknownNode,
}

/// The body of a 2xx answer, or an error naming the URL, status and body.
async fn check(response: reqwest::Response, url: &str) -> Result<String, String> {
    let status = response.status();
    let body = response.text().await.unwrap_or_default();
    if status.is_success() {
        Ok(body)
    } else {
        let body: String = body.chars().take(300).collect();
        Err(format!("{url}: {status}: {body}"))
    }
}

/// The host name of this machine (`localhost` when unknown).
fn hostname() -> String {
    nix::unistd::gethostname()
        .ok()
        .and_then(|h| h.into_string().ok())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".to_owned())
}

/// The IP to advertise: `listen` when it is a specific address, else the local address this
/// machine would use towards the gateway at `authority` (`host:port`; a connected UDP socket
/// sends nothing), else loopback.
async fn advertised_ip(listen: IpAddr, authority: &str) -> IpAddr {
    if !listen.is_unspecified() {
        return listen;
    }
    let authority = authority.split('/').next().unwrap_or(authority);
    let target = match tokio::net::lookup_host(authority).await {
        Ok(mut addrs) => addrs.next(),
        Err(_) => tokio::net::lookup_host(format!("{authority}:80"))
            .await
            .ok()
            .and_then(|mut a| a.next()),
    };
    let local = match target {
        Some(target) => {
            let bind: SocketAddr = if target.is_ipv4() {
                SocketAddr::from(([0, 0, 0, 0], 0))
            } else {
                SocketAddr::from(([0u16; 8], 0))
            };
            match tokio::net::UdpSocket::bind(bind).await {
                Ok(socket) => match socket.connect(target).await {
                    Ok(()) => socket.local_addr().ok().map(|a| a.ip()),
                    Err(_) => None,
                },
                Err(_) => None,
            }
        }
        None => None,
    };
    local
        .filter(|ip| !ip.is_unspecified())
        .unwrap_or(IpAddr::from([127, 0, 0, 1]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_node_registered_names_the_ports_the_model_and_a_reachable_host() {
        let settings = JoinSettings::new("http://127.0.0.1:9200/");
        let joiner = Joiner::new(
            settings,
            "0.0.0.0:8080".parse().unwrap(),
            "0.0.0.0:5000".parse().unwrap(),
            Some("Qwen/Qwen3-32B-FP8"),
            None,
        )
        .await
        .unwrap();
        let node = joiner.node();
        assert_eq!(
            node.host, "127.0.0.1",
            "the address towards a loopback gateway"
        );
        assert_eq!((node.inference_port, node.poc_port), (5000, 8080));
        assert!(node.serves("Qwen/Qwen3-32B-FP8"));
        assert!(node.id.ends_with("-8080"), "{}", node.id);
        assert_eq!(joiner.base, "http://127.0.0.1:9200");
    }

    #[tokio::test]
    async fn explicit_settings_win_and_missing_ones_are_errors() {
        let mut settings = JoinSettings::new("http://gw.example:9200");
        settings.node_id = Some("n1".into());
        settings.advertise_host = Some("10.1.2.3".into());
        settings.models = vec!["a".into(), "b".into()];
        let joiner = Joiner::new(
            settings,
            "10.0.0.5:8081".parse().unwrap(),
            "10.0.0.5:5001".parse().unwrap(),
            None,
            None,
        )
        .await
        .unwrap();
        assert_eq!(joiner.node().id, "n1");
        assert_eq!(joiner.node().host, "10.1.2.3");
        assert!(joiner.node().serves("a") && joiner.node().serves("b"));
        assert_eq!(joiner.state_url, "http://10.0.0.5:8081/api/v1/state");

        let none = Joiner::new(
            JoinSettings::new("http://127.0.0.1:1"),
            "127.0.0.1:1".parse().unwrap(),
            "127.0.0.1:2".parse().unwrap(),
            None,
            None,
        )
        .await;
        assert!(matches!(none, Err(JoinError::NoModel)));
        let bad = Joiner::new(
            JoinSettings::new("gw:9200"),
            "127.0.0.1:1".parse().unwrap(),
            "127.0.0.1:2".parse().unwrap(),
            Some("m"),
            None,
        )
        .await;
        assert!(matches!(bad, Err(JoinError::BadUrl(_))));
    }
}
