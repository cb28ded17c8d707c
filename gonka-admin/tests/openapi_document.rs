//! The OpenAPI document at `GET /admin/v1/openapi.json` describes exactly the routes the router
//! serves, with every method, and is valid OpenAPI (it round-trips through utoipa's types).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::BTreeSet;

use std::sync::Arc;

use common::Server;
use gonka_admin::AdminOptions;
use gonka_core::MemoryRegistry;
use reqwest::{Method, StatusCode};
use serde_json::Value;

const METHODS: [&str; 5] = ["GET", "POST", "PUT", "DELETE", "PATCH"];

async fn app(token: Option<&str>) -> Server {
    let options = AdminOptions {
        token: token.map(str::to_owned),
        ..AdminOptions::default()
    };
    Server::start_with(Arc::new(MemoryRegistry::new()), options).await
}

async fn call(app: &Server, method: &str, path: &str, token: Option<&str>) -> (StatusCode, Value) {
    let method = Method::from_bytes(method.as_bytes()).unwrap();
    let mut req = reqwest::Client::new()
        .request(method.clone(), format!("{}{path}", app.base))
        .header("content-type", "application/json");
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    if matches!(method, Method::POST | Method::PUT | Method::PATCH) {
        req = req.body("{}");
    }
    let response = req.send().await.unwrap();
    let status = response.status();
    let bytes = response.bytes().await.unwrap();
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

/// Paths the router serves under `/admin/v1`, read from the router's source so that a route added
/// there without documenting it fails this test.
fn router_paths() -> BTreeSet<String> {
    let source = include_str!("../src/router.rs");
    source
        .split(".route(")
        .skip(1)
        .filter_map(|rest| rest.trim_start().strip_prefix('"')?.split('"').next())
        .filter(|p| p.starts_with("/admin/v1/"))
        .map(str::to_owned)
        .collect()
}

fn documented(doc: &Value) -> BTreeSet<(String, String)> {
    let mut out = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            out.insert((path.clone(), method.to_ascii_uppercase()));
        }
    }
    out
}

#[tokio::test]
async fn document_lists_every_route_and_method_the_router_serves() {
    let app = app(None).await;
    let (status, doc) = call(&app, "GET", "/admin/v1/openapi.json", None).await;
    assert_eq!(status, StatusCode::OK);
    let ops = documented(&doc);
    let doc_paths: BTreeSet<String> = ops.iter().map(|(p, _)| p.clone()).collect();
    assert_eq!(
        doc_paths,
        router_paths(),
        "documented paths vs the router's routes"
    );
    for path in &doc_paths {
        let concrete = path.replace("{id}", "node-x");
        for method in METHODS {
            let (status, body) = call(&app, method, &concrete, None).await;
            let served = status != StatusCode::METHOD_NOT_ALLOWED
                && !(status == StatusCode::NOT_FOUND
                    && body["error"]
                        .as_str()
                        .unwrap_or("")
                        .starts_with("no such endpoint"));
            let listed = ops.contains(&(path.clone(), method.to_owned()));
            assert_eq!(
                served, listed,
                "{method} {path}: router answers {status} {body}, documented: {listed}"
            );
        }
    }
}

#[tokio::test]
async fn document_is_valid_openapi_with_bearer_auth_and_error_bodies() {
    let doc = gonka_admin::openapi();
    let json = serde_json::to_string(&doc).unwrap();
    let back: utoipa::openapi::OpenApi = serde_json::from_str(&json).unwrap();
    let v: Value = serde_json::from_str(&json).unwrap();
    assert_eq!(
        serde_json::to_value(&back).unwrap(),
        v,
        "the document round-trips through utoipa's types"
    );
    assert!(v["openapi"].as_str().unwrap().starts_with("3."));
    assert_eq!(
        v["components"]["securitySchemes"]["bearer"]["scheme"],
        "bearer"
    );
    // Every $ref resolves to a schema of the document.
    let schemas = v["components"]["schemas"].as_object().unwrap();
    for r in json.split("\"$ref\":\"#/components/schemas/").skip(1) {
        let name = r.split('"').next().unwrap();
        assert!(schemas.contains_key(name), "dangling $ref {name}");
    }
    // Every operation documents 401 and 403 with the error body, and says it needs the token.
    for (path, item) in v["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            for status in ["401", "403"] {
                let r = &op["responses"][status]["content"]["application/json"]["schema"]["$ref"];
                assert_eq!(
                    r, "#/components/schemas/ErrorBody",
                    "{method} {path} {status}"
                );
            }
            assert_eq!(
                op["security"][0]["bearer"],
                serde_json::json!([]),
                "{method} {path}"
            );
        }
    }
}

#[tokio::test]
async fn document_needs_the_token_when_one_is_set() {
    let app = app(Some("s3cret")).await;
    let (status, _) = call(&app, "GET", "/admin/v1/openapi.json", None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, doc) = call(&app, "GET", "/admin/v1/openapi.json", Some("s3cret")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(doc["info"]["title"], "gonka-admin");
}

#[test]
#[ignore = "prints the document; run by hand"]
fn print_document() {
    println!(
        "{}",
        serde_json::to_string_pretty(&gonka_admin::openapi()).unwrap()
    );
}
