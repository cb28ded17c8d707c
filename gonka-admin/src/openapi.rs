//! The admin API's OpenAPI 3 document, generated from the handlers' `#[utoipa::path]`
//! attributes and the wire types' schemas, served at `GET /admin/v1/openapi.json`.

use axum::extract::State;
use axum::Json;
use gonka_core::{
    AdminState, BatchError, FieldError, GovernanceModels, Hardware, ModelArgs, NodeConfig,
    NodeRecord, NodeState, NodeStatus, PocStatus,
};
use serde::{Deserialize, Serialize};
use utoipa::openapi::schema::{ObjectBuilder, Schema, SchemaType, Type};
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::openapi::RefOr;
use utoipa::OpenApi;

use crate::handlers::{admin_state, batch, nodes};
use crate::state::AppState;
use crate::{AdminStateChanged, PartialBatch};

/// The body of every error answer but a batch whose nodes were all rejected: `error` says what is
/// wrong; validation failures add `fields`, one entry per problem.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ErrorBody {
    /// A human-readable message.
    pub error: String,
    /// The individual validation problems (400 on a node body only).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub fields: Vec<FieldError>,
}

/// The 400 body of a batch whose nodes were all rejected.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct BatchRejected {
    /// One entry per rejected node, in request order.
    pub errors: Vec<BatchError>,
}

/// A batch's 400 body: [`ErrorBody`] when the body is not a non-empty JSON array,
/// [`BatchRejected`] when every node failed validation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(untagged)]
pub enum BatchBadRequest {
    /// Every node failed validation.
    Rejected(BatchRejected),
    /// The body is not a non-empty JSON array.
    Error(ErrorBody),
}

/// The schema of a `PUT /admin/v1/nodes/{id}` body: a [`NodeConfig`] whose `id` may be omitted
/// or null (the path id is used then). Schema only; the handler validates the JSON itself.
pub struct NodePut;

impl utoipa::PartialSchema for NodePut {
    fn schema() -> RefOr<Schema> {
        let mut schema = <NodeConfig as utoipa::PartialSchema>::schema();
        if let RefOr::T(Schema::Object(o)) = &mut schema {
            o.required.retain(|r| r != "id");
            if let Some(RefOr::T(Schema::Object(id))) = o.properties.get_mut("id") {
                id.schema_type = SchemaType::from_iter([Type::String, Type::Null]);
            }
            o.description = Some(
                "A node config; `id` may be omitted or null (the path id is used) and must \
                 otherwise equal the path id."
                    .to_owned(),
            );
        }
        schema
    }
}

impl utoipa::ToSchema for NodePut {}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "gonka-admin",
        description = "Admin API of a Gonka network node: register, update, enable/disable and delete ML nodes. \
            Every call needs `Authorization: Bearer <token>` when the server runs with a token; request bodies \
            need `Content-Type: application/json`; a foreign `Origin` or an unexpected `Host` answers 403."
    ),
    paths(
        nodes::list,
        nodes::create,
        batch::batch,
        nodes::get,
        nodes::put,
        nodes::delete,
        admin_state::enable,
        admin_state::disable,
        document,
    ),
    components(schemas(
        NodeConfig, ModelArgs, Hardware, NodeRecord, NodeState, NodeStatus, PocStatus, AdminState,
        FieldError, BatchError, AdminStateChanged, NodePut, PartialBatch, ErrorBody, BatchRejected,
        BatchBadRequest,
    )),
    modifiers(&BearerAuth),
    tags((name = "nodes", description = "ML nodes of the registry")),
)]
struct ApiDoc;

/// Adds the `bearer` security scheme the paths refer to.
struct BearerAuth;

impl utoipa::Modify for BearerAuth {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        let components = doc.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)),
        );
    }
}

/// The admin API's OpenAPI 3.1 document for a server with the default governance models: every
/// route of [`crate::router`] with its request body, every status it can answer with that status's
/// body schema, and the bearer security scheme. See [`openapi_for`].
pub fn openapi() -> utoipa::openapi::OpenApi {
    openapi_for(&GovernanceModels::default())
}

/// As [`openapi`] for a server accepting the models of `governance`: `NodeConfig.models` needs
/// at least one entry and its names must be among them (what the server's validation checks).
pub fn openapi_for(governance: &GovernanceModels) -> utoipa::openapi::OpenApi {
    let mut doc = ApiDoc::openapi();
    doc.info.version = env!("CARGO_PKG_VERSION").to_owned();
    let models = doc
        .components
        .as_mut()
        .and_then(|c| c.schemas.get_mut("NodeConfig"))
        .and_then(|s| match s {
            RefOr::T(Schema::Object(o)) => o.properties.get_mut("models"),
            _ => None,
        });
    if let Some(RefOr::T(Schema::Object(models))) = models {
        models.min_properties = Some(1);
        let names = ObjectBuilder::new()
            .schema_type(Type::String)
            .enum_values(Some(governance.iter().map(str::to_owned)))
            .build();
        models.property_names = Some(Box::new(Schema::Object(names)));
    }
    doc
}

/// `GET /admin/v1/openapi.json` → 200, this document (behind the token like every call).
#[utoipa::path(get, path = "/admin/v1/openapi.json", tag = "meta", operation_id = "openapi",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "This OpenAPI document", body = Object, content_type = "application/json"),
        (status = 401, description = "Missing or wrong bearer token", body = ErrorBody),
        (status = 403, description = "Foreign `Origin` or unexpected `Host` (cross-site protection)", body = ErrorBody),
    ),
)]
pub async fn document(State(s): State<AppState>) -> Json<utoipa::openapi::OpenApi> {
    Json(openapi_for(&s.options.governance))
}
