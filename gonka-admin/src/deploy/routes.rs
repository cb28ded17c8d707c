//! Model route handlers.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::Json;
use gonka_core::deploy::spec::{validate_route, RouteSpec};
use gonka_core::deploy::{ids, ModelRoute};
use gonka_core::{Error, FieldError};
use rand::Rng;
use serde_json::{json, Value};

use super::{parse_body, store_error, DeployState};
use crate::error::ApiError;

/// The body of a route's creation or replacement.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RouteBody {
    model_name: String,
    task_group_id: String,
    #[serde(default)]
    engine: Option<String>,
    /// Defaults as [`RouteSpec::default`] for the four route fields.
    priority: Option<u32>,
    weight: Option<u32>,
    version: Option<String>,
    algorithm: Option<String>,
    #[serde(default = "active")]
    status: String,
}

fn active() -> String {
    "active".into()
}

/// The fields of [`RouteBody`] and whether each is a number (else a string).
const ROUTE_FIELDS: [(&str, bool); 8] = [
    ("model_name", false),
    ("task_group_id", false),
    ("engine", false),
    ("priority", true),
    ("weight", true),
    ("version", false),
    ("algorithm", false),
    ("status", false),
];

/// Every field of a route body that is unknown or of the wrong type, each named (serde's own
/// message names neither the field of a wrong type nor all the problems at once).
fn check_shape(body: &Value) -> Vec<FieldError> {
    let Some(fields) = body.as_object() else {
        return vec![FieldError::new("body", "a model route is a JSON object")];
    };
    let mut problems = Vec::new();
    for (name, value) in fields {
        match ROUTE_FIELDS.iter().find(|(f, _)| f == name) {
            None => problems.push(FieldError::new(
                name,
                format!(
                    "{name} is not a field of a model route; expected model_name, task_group_id, engine, priority, weight, version, algorithm or status"
                ),
            )),
            Some((_, true)) if !value.is_null() && value.as_u64().is_none_or(|n| n > u64::from(u32::MAX)) => {
                problems.push(FieldError::new(
                    name,
                    format!("{name} must be a whole number from 0 to {}, got {value}", u32::MAX),
                ))
            }
            Some((_, false)) if !value.is_null() && !value.is_string() => problems.push(
                FieldError::new(name, format!("{name} must be a string, got {value}")),
            ),
            _ => {}
        }
    }
    problems
}

/// The route body of a request, every bad field named at once.
fn parse_route(headers: &HeaderMap, body: &Bytes) -> Result<RouteBody, ApiError> {
    let value: Value = parse_body(headers, body)?;
    let problems = check_shape(&value);
    if !problems.is_empty() {
        return Err(ApiError::Core(Error::Invalid(problems)));
    }
    serde_json::from_value(value).map_err(|e| match e.to_string() {
        m if m.contains("model_name") => ApiError::invalid("model_name", m),
        m if m.contains("task_group_id") => ApiError::invalid("task_group_id", m),
        m => ApiError::BadRequest(format!("invalid body: {m}")),
    })
}

fn to_route(id: String, body: RouteBody) -> Result<ModelRoute, ApiError> {
    let d = RouteSpec::default();
    let spec = RouteSpec {
        priority: body.priority.unwrap_or(d.priority),
        weight: body.weight.unwrap_or(d.weight),
        version: body.version.unwrap_or(d.version),
        algorithm: body.algorithm.unwrap_or(d.algorithm),
    };
    let mut problems = Vec::new();
    validate_route(&spec, "", &mut problems);
    if body.model_name.trim().is_empty() {
        problems.push(FieldError::new(
            "model_name",
            "model_name is required and cannot be empty",
        ));
    }
    let active = match body.status.as_str() {
        "active" => true,
        "inactive" => false,
        other => {
            problems.push(FieldError::new(
                "status",
                format!("status {other:?} is unknown; expected active or inactive"),
            ));
            false
        }
    };
    if !problems.is_empty() {
        return Err(ApiError::Core(Error::Invalid(problems)));
    }
    Ok(ModelRoute {
        id,
        model_name: body.model_name,
        task_group_id: body.task_group_id,
        engine: body.engine,
        spec,
        active,
    })
}

fn view(r: &ModelRoute) -> Value {
    let mut v = json!(r);
    v["status"] = json!(if r.active { "active" } else { "inactive" });
    v
}

/// `GET /api/v1/model-routes`.
pub(crate) async fn list(State(s): State<DeployState>) -> Result<Json<Value>, ApiError> {
    let routes = s.store.routes().await.map_err(store_error)?;
    Ok(Json(
        json!({ "model_routes": routes.iter().map(view).collect::<Vec<_>>() }),
    ))
}

/// `POST /api/v1/model-routes`.
pub(crate) async fn create(
    State(s): State<DeployState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let body = parse_route(&headers, &body)?;
    let route = to_route(ids::model_route_id(rand::thread_rng().gen()), body)?;
    s.store
        .put_route(route.clone())
        .await
        .map_err(|e| group_missing(e, &route))?;
    Ok((
        StatusCode::CREATED,
        Json(json!({ "model_route": view(&route) })),
    ))
}

/// An unknown group is a 400 on `task_group_id`, not a 404 of the route.
fn group_missing(e: Error, route: &ModelRoute) -> ApiError {
    match e {
        Error::NotFound { .. } => ApiError::invalid(
            "task_group_id",
            format!("task group {} does not exist", route.task_group_id),
        ),
        other => store_error(other),
    }
}

async fn find(s: &DeployState, id: &str) -> Result<ModelRoute, ApiError> {
    s.store
        .routes()
        .await
        .map_err(store_error)?
        .into_iter()
        .find(|r| r.id == id)
        .ok_or_else(|| ApiError::Core(Error::NotFound { id: id.to_owned() }))
}

/// `GET /api/v1/model-routes/{id}`.
pub(crate) async fn get(
    State(s): State<DeployState>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    Ok(Json(json!({ "model_route": view(&find(&s, &id).await?) })))
}

/// `PUT /api/v1/model-routes/{id}`: replaces an existing route (e.g. its weight, live).
pub(crate) async fn put(
    State(s): State<DeployState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let body = parse_route(&headers, &body)?;
    find(&s, &id).await?;
    let route = to_route(id, body)?;
    s.store
        .put_route(route.clone())
        .await
        .map_err(|e| group_missing(e, &route))?;
    Ok(Json(json!({ "model_route": view(&route) })))
}

/// `DELETE /api/v1/model-routes/{id}`.
pub(crate) async fn delete(
    State(s): State<DeployState>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    s.store.delete_route(&id).await.map_err(store_error)?;
    Ok(Json(json!({ "deleted": id })))
}
