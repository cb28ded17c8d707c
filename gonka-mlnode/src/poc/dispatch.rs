//! Where each PoC route goes ([`PocTarget`]): to the vLLM engine's own PoC routes
//! ([`super::forward`]), to the agent's own runner on the served GGUF (after checking that
//! `params.model` is the served model), or to the agent's runner on the explicitly chosen tiny
//! model or model file.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{json, Value};

use super::forward::Reply;
use super::routes;
use super::settings::PocModel;
use crate::agent::Agent;
use crate::engine::{llamacpp, EngineKind};

/// Where an ML node's PoC calls go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PocTarget {
    /// Forwarded to the engines' PoC routes (vLLM, the gonka-ai fork).
    Engine,
    /// The agent's runner on the GGUF the llama.cpp engine serves.
    ServedGguf,
    /// The agent's runner on the explicitly chosen model ([`PocModel::Tiny`] or
    /// [`PocModel::File`]).
    Local,
    /// PoC on the served model is impossible with this engine; the message says why.
    Unavailable(String),
}

impl PocTarget {
    /// The target of PoC computed on `model` by an ML node running `engine`.
    pub fn of(model: &PocModel, engine: EngineKind) -> Self {
        match (model, engine) {
            (PocModel::Served, EngineKind::Vllm) => PocTarget::Engine,
            (PocModel::Served, EngineKind::Llamacpp) => PocTarget::ServedGguf,
            (PocModel::Served, other) => PocTarget::Unavailable(format!(
                "PoC on the served model needs the vllm (gonka-ai fork) or llamacpp engine; this \
                 ML node runs {other} (start it with --poc-tiny-model for a devnet)"
            )),
            _ => PocTarget::Local,
        }
    }
}

fn target(agent: &Agent) -> PocTarget {
    PocTarget::of(&agent.poc().settings().model, agent.config().engine)
}

/// The names a request may give the served model `served` (upstream's engine accepts its
/// served name and its model path).
fn served_names(agent: &Agent, served: &str) -> Vec<String> {
    let mut names = vec![served.to_owned()];
    if let Ok(file) = llamacpp::model_file(served, &agent.config().model_files) {
        let file = file.to_string_lossy().into_owned();
        if file != served {
            names.push(file);
        }
    }
    names
}

/// Refuses a body whose `params.model` is not the served model as the vLLM fork's
/// `check_params_match` does (`409 {detail: {error: "params mismatch", requested, deployed}}`),
/// and any PoC while no model is served (`503`). A body without a readable `params.model` goes
/// on (the route names what is wrong with it).
fn check_served_model(agent: &Agent, body: &[u8]) -> Result<(), Reply> {
    let Some(served) = agent.served_model() else {
        return Err(Reply::detail(
            StatusCode::SERVICE_UNAVAILABLE,
            "No model is served: PoC computes on the served model (POST /api/v1/inference/up first)",
        ));
    };
    let params = serde_json::from_slice::<Value>(body)
        .ok()
        .map(|v| v["params"].clone())
        .unwrap_or(Value::Null);
    let Some(requested) = params["model"].as_str() else {
        return Ok(());
    };
    let names = served_names(agent, &served);
    if names.iter().any(|n| n == requested) {
        return Ok(());
    }
    Err(Reply::detail(
        StatusCode::CONFLICT,
        json!({
            "error": "params mismatch",
            "requested": {
                "model": requested,
                "seq_len": params["seq_len"],
                "k_dim": params.get("k_dim").cloned().unwrap_or(json!(12)),
            },
            "deployed": {"model": names, "seq_len": null, "k_dim": null},
        }),
    ))
}

/// `POST /api/v1/inference/pow/init/generate`.
pub(crate) async fn init_generate(State(agent): State<Arc<Agent>>, body: Bytes) -> Response {
    match target(&agent) {
        PocTarget::Engine => {
            let engines = agent.ready_engines();
            agent
                .poc_engines()
                .init_generate(&engines, &body)
                .await
                .into_response()
        }
        PocTarget::ServedGguf => match check_served_model(&agent, &body) {
            Ok(()) => routes::init_generate(State(agent), body)
                .await
                .into_response(),
            Err(reply) => reply.into_response(),
        },
        PocTarget::Local => routes::init_generate(State(agent), body)
            .await
            .into_response(),
        PocTarget::Unavailable(why) => {
            Reply::detail(StatusCode::SERVICE_UNAVAILABLE, why).into_response()
        }
    }
}

/// `POST /api/v1/inference/pow/generate`.
pub(crate) async fn generate(State(agent): State<Arc<Agent>>, body: Bytes) -> Response {
    match target(&agent) {
        PocTarget::Engine => {
            let engines = agent.ready_engines();
            agent
                .poc_engines()
                .generate(&engines, &body)
                .await
                .into_response()
        }
        PocTarget::ServedGguf => match check_served_model(&agent, &body) {
            Ok(()) => routes::generate(State(agent), body).await.into_response(),
            Err(reply) => reply.into_response(),
        },
        PocTarget::Local => routes::generate(State(agent), body).await.into_response(),
        PocTarget::Unavailable(why) => {
            Reply::detail(StatusCode::SERVICE_UNAVAILABLE, why).into_response()
        }
    }
}

/// `GET /api/v1/inference/pow/generate/{request_id}`: a queued `generate`'s result.
pub(crate) async fn generate_result(
    State(agent): State<Arc<Agent>>,
    Path(request_id): Path<String>,
) -> Response {
    match target(&agent) {
        PocTarget::Engine => {
            let engines = agent.ready_engines();
            agent
                .poc_engines()
                .generate_result(&engines, &request_id)
                .await
                .into_response()
        }
        _ => routes::generate_result(State(agent), Path(request_id))
            .await
            .into_response(),
    }
}

/// `GET /api/v1/inference/pow/status`.
pub(crate) async fn status(State(agent): State<Arc<Agent>>) -> Response {
    match target(&agent) {
        PocTarget::Engine => {
            let engines = agent.ready_engines();
            agent.poc_engines().status(&engines).await.into_response()
        }
        _ => routes::status(State(agent)).await.into_response(),
    }
}

/// `POST /api/v1/inference/pow/stop`.
pub(crate) async fn stop(State(agent): State<Arc<Agent>>) -> Response {
    match target(&agent) {
        PocTarget::Engine => {
            let engines = agent.ready_engines();
            agent.poc_engines().stop(&engines).await.into_response()
        }
        _ => routes::stop(State(agent)).await.into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_served_model_decides_by_engine_and_an_explicit_choice_stays_local() {
        assert_eq!(
            PocTarget::of(&PocModel::Served, EngineKind::Vllm),
            PocTarget::Engine
        );
        assert_eq!(
            PocTarget::of(&PocModel::Served, EngineKind::Llamacpp),
            PocTarget::ServedGguf
        );
        let PocTarget::Unavailable(why) = PocTarget::of(&PocModel::Served, EngineKind::Simulator)
        else {
            panic!("the simulator serves no model PoC can run on");
        };
        assert!(why.contains("--poc-tiny-model"), "{why}");
        for engine in [
            EngineKind::Vllm,
            EngineKind::Llamacpp,
            EngineKind::Simulator,
        ] {
            assert_eq!(PocTarget::of(&PocModel::Tiny, engine), PocTarget::Local);
            assert_eq!(
                PocTarget::of(&PocModel::File("m.gguf".into()), engine),
                PocTarget::Local
            );
        }
    }
}
