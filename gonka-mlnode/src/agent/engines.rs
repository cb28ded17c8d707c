//! What PoC needs to know about the engines: the ready replicas by port (upstream's "healthy
//! backends") and the model being served.

use std::collections::BTreeMap;

use super::{Agent, UpPhase};
use crate::poc::PocTarget;

impl Agent {
    /// The ready engine replicas, by port (ascending, as upstream's `get_healthy_backends`):
    /// port → base URL. Empty while no engine serves.
    pub fn ready_engines(&self) -> BTreeMap<u16, String> {
        self.lock()
            .replicas
            .iter()
            .filter_map(|r| r.backend.base_url())
            .filter_map(|url| {
                let port = reqwest::Url::parse(&url).ok()?.port_or_known_default()?;
                Some((port, url))
            })
            .collect()
    }

    /// The model the engines were brought up with, once the up completed (`None` before, while
    /// it starts, and after `down` or a failed up).
    pub fn served_model(&self) -> Option<String> {
        let inner = self.lock();
        inner
            .loaded
            .as_ref()
            .filter(|_| inner.up == UpPhase::Completed)
            .map(|l| l.model.clone())
    }

    /// `/api/v1/state`'s `poc_status`: with PoC forwarded to the engines, theirs aggregated as
    /// upstream's ML node aggregates it (`NO_BACKENDS` while none is ready); else the agent's
    /// own runner (`GENERATING` or `IDLE`).
    pub(crate) async fn poc_status(&self) -> String {
        let poc = self.poc();
        if PocTarget::of(&poc.settings().model, self.config.engine) == PocTarget::Engine {
            return self.poc_engines().poc_status(&self.ready_engines()).await;
        }
        if poc.is_generating() {
            "GENERATING"
        } else {
            "IDLE"
        }
        .to_owned()
    }
}
