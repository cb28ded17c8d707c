//! Routing by model route with real servers: a gateway with deployments and simulator ML nodes
//! whose tasks run where the tests put them. A weighted split measured over 10,000 requests;
//! the canary flow 100 → 80:20 → 100:0 changed live through the admin API under load with no
//! failed request; priority fallback and weight-0 fallback when nodes go down; the headers
//! naming node, route and version on plain, streamed and Ollama answers; bad route input.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::deploy_fleet::{ask, count_by, load, Answer, DeployFleet};
use common::phased_load::PhasedLoad;
use common::{client, test_config};
use serde_json::json;

const SVC: &str = "svc";

/// A fleet serving `svc`: group `svc` (v1) on nodes v1-a and v1-b, group `svc-canary` on node
/// canary-c, and node outsider-d serving `svc` with no task of either. Returns the fleet and the
/// route ids of v1 and canary; the canary's route serves `svc` at weight `canary_weight`, v1's
/// at `v1_weight`.
async fn canary_fleet(
    v1_weight: u32,
    canary_weight: u32,
) -> (DeployFleet, String, String, String, String) {
    let mut fleet = DeployFleet::start(test_config()).await;
    for n in ["v1-a", "v1-b", "canary-c", "outsider-d"] {
        fleet.add_node(n, SVC).await;
    }
    let v1 = fleet
        .create_group(json!({"name": SVC, "replicas": 2, "estimated_gpu_memory_mb": 1000}))
        .await;
    let canary = fleet
        .create_group(json!({"name": "svc-canary", "estimated_gpu_memory_mb": 1000}))
        .await;
    fleet.run_group_on(&v1, &["v1-a", "v1-b"]).await;
    fleet.run_group_on(&canary, &["canary-c"]).await;
    let (v1_group, canary_group) = (v1.task_group.id.clone(), canary.task_group.id.clone());
    let (v1_route, canary_route) = (v1.model_route.id.clone(), canary.model_route.id.clone());
    fleet
        .put_route(&v1_route, &v1_group, SVC, 0, v1_weight, "v1")
        .await;
    fleet
        .put_route(
            &canary_route,
            &canary_group,
            SVC,
            0,
            canary_weight,
            "canary",
        )
        .await;
    fleet.wait_running(&v1_group, 2).await;
    fleet.wait_running(&canary_group, 1).await;
    fleet
        .wait_weights(SVC, &[("v1", v1_weight), ("canary", canary_weight)])
        .await;
    (fleet, v1_group, canary_group, v1_route, canary_route)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_80_20_split_holds_within_3_percent_over_10000_requests() {
    let (fleet, _, _, v1_route, canary_route) = canary_fleet(80, 20).await;
    let answers = load(&fleet.public(), SVC, 10_000, 48).await;
    let failed: Vec<&Answer> = answers.iter().filter(|a| a.status != 200).collect();
    assert!(
        failed.is_empty(),
        "{} failed, e.g. {:?}",
        failed.len(),
        failed.first()
    );
    let by_version = count_by(&answers, |a| a.version.clone());
    let canary = by_version.get("canary").copied().unwrap_or(0) as f64 / 10_000.0;
    let v1 = by_version.get("v1").copied().unwrap_or(0) as f64 / 10_000.0;
    assert!(
        (canary - 0.20).abs() <= 0.03,
        "canary share {canary}: {by_version:?}"
    );
    assert!((v1 - 0.80).abs() <= 0.03, "v1 share {v1}: {by_version:?}");
    assert_eq!(
        by_version.len(),
        2,
        "every answer names its version: {by_version:?}"
    );
    // Each version's answers came from its group's nodes only, with its route id; the node
    // serving the model outside both groups took nothing.
    for a in &answers {
        let node = a.node.as_deref().unwrap();
        match a.version.as_deref() {
            Some("v1") => {
                assert!(node == "v1-a" || node == "v1-b", "{a:?}");
                assert_eq!(a.route.as_deref(), Some(v1_route.as_str()));
            }
            _ => {
                assert_eq!(node, "canary-c", "{a:?}");
                assert_eq!(a.route.as_deref(), Some(canary_route.as_str()));
            }
        }
    }
    let by_node = count_by(&answers, |a| a.node.clone());
    assert!(!by_node.contains_key("outsider-d"), "{by_node:?}");
    assert!(by_node["v1-a"] > 0 && by_node["v1-b"] > 0, "{by_node:?}");
    fleet.gw.shutdown().await;
}

/// Phases of the live canary flow, as each request saw it when it started.
const V1_ONLY: u8 = 0;
const CHANGING: u8 = 1;
const SPLIT: u8 = 2;
const BACK: u8 = 3;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_canary_flow_changes_live_under_load_without_a_failed_request() {
    // Start: v1 at 100, the canary deployed beside it at weight 0 (fallback only).
    let (fleet, v1_group, canary_group, v1_route, canary_route) = canary_fleet(100, 0).await;
    // 16 clients, at most 2,000 requests each.
    let load = PhasedLoad::start(&fleet.public(), SVC, 16, 2_000, V1_ONLY);
    // Up to 60 s per phase: a slow machine answers fewer per second.
    let wait_count = |p: u8, n: usize| load.wait_count(p, n, Duration::from_secs(60));
    wait_count(V1_ONLY, 300).await;
    // 80:20, through the admin API while requests run.
    load.set_phase(CHANGING);
    fleet
        .put_route(&v1_route, &v1_group, SVC, 0, 80, "v1")
        .await;
    fleet
        .put_route(&canary_route, &canary_group, SVC, 0, 20, "canary")
        .await;
    fleet.wait_weights(SVC, &[("v1", 80), ("canary", 20)]).await;
    load.set_phase(SPLIT);
    wait_count(SPLIT, 1_500).await;
    // 100:0: the canary back to fallback only.
    load.set_phase(CHANGING);
    fleet
        .put_route(&v1_route, &v1_group, SVC, 0, 100, "v1")
        .await;
    fleet
        .put_route(&canary_route, &canary_group, SVC, 0, 0, "canary")
        .await;
    fleet.wait_weights(SVC, &[("v1", 100), ("canary", 0)]).await;
    load.set_phase(BACK);
    wait_count(BACK, 300).await;
    let seen = load.stop().await;
    let failed: Vec<_> = seen.iter().filter(|(_, a)| a.status != 200).collect();
    assert!(
        failed.is_empty(),
        "{} of {} failed: {:?}",
        failed.len(),
        seen.len(),
        failed.first()
    );
    let versions = |p: u8| {
        let answers: Vec<Answer> = seen
            .iter()
            .filter(|(q, _)| *q == p)
            .map(|(_, a)| a.clone())
            .collect();
        (answers.len(), count_by(&answers, |a| a.version.clone()))
    };
    let (_, before) = versions(V1_ONLY);
    assert_eq!(before.keys().collect::<Vec<_>>(), vec!["v1"], "{before:?}");
    let (n, split) = versions(SPLIT);
    let canary = split.get("canary").copied().unwrap_or(0) as f64 / n as f64;
    // ≥ 1,500 draws at 20 %: a standard deviation near 1 %; 5 % is far outside chance.
    assert!(
        (canary - 0.20).abs() <= 0.05,
        "canary share {canary} of {n}: {split:?}"
    );
    let (_, after) = versions(BACK);
    assert_eq!(after.keys().collect::<Vec<_>>(), vec!["v1"], "{after:?}");
    fleet.gw.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn traffic_falls_back_by_priority_and_weight_zero_only_takes_it_as_fallback() {
    let mut fleet = DeployFleet::start(test_config()).await;
    for n in ["main-a", "spare-b", "backup-c"] {
        fleet.add_node(n, SVC).await;
    }
    // main (priority 0, weight 100), spare (priority 0, weight 0), backup (priority 1).
    let mut routes = Vec::new();
    for (name, node, priority, weight) in [
        ("svc", "main-a", 0, 100),
        ("svc-spare", "spare-b", 0, 0),
        ("svc-backup", "backup-c", 1, 100),
    ] {
        let g = fleet
            .create_group(json!({"name": name, "estimated_gpu_memory_mb": 1000}))
            .await;
        fleet.run_group_on(&g, &[node]).await;
        fleet
            .put_route(
                &g.model_route.id,
                &g.task_group.id,
                SVC,
                priority,
                weight,
                name,
            )
            .await;
        fleet.wait_running(&g.task_group.id, 1).await;
        routes.push(g.model_route.id.clone());
    }
    fleet
        .wait_weights(SVC, &[("svc", 100), ("svc-spare", 0), ("svc-backup", 100)])
        .await;
    let versions = |answers: &[Answer]| {
        assert!(answers.iter().all(|a| a.status == 200), "{answers:?}");
        let mut v: Vec<String> = count_by(answers, |a| a.version.clone())
            .into_keys()
            .collect();
        v.sort();
        v
    };
    let base = fleet.public();
    assert_eq!(versions(&load(&base, SVC, 200, 16).await), ["svc"]);
    // The best priority's weighted route is down: its weight-0 route of the same priority
    // takes over before the next priority does.
    fleet.stop_node("main-a").await;
    assert_eq!(versions(&load(&base, SVC, 200, 16).await), ["svc-spare"]);
    // Priority 0 is down altogether: priority 1.
    fleet.stop_node("spare-b").await;
    let answers = load(&base, SVC, 200, 16).await;
    assert_eq!(versions(&answers), ["svc-backup"]);
    assert!(answers
        .iter()
        .all(|a| a.node.as_deref() == Some("backup-c")
            && a.route.as_deref() == Some(routes[2].as_str())));
    fleet.gw.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_proxied_answer_names_its_node_streamed_plain_and_through_ollama() {
    let mut fleet = DeployFleet::start(test_config()).await;
    fleet.add_node("plain-1", "plain").await;
    fleet.add_node("dep-1", SVC).await;
    let g = fleet
        .create_group(
            json!({"name": SVC, "estimated_gpu_memory_mb": 1000, "route": {"version": "v7"}}),
        )
        .await;
    fleet.run_group_on(&g, &["dep-1"]).await;
    fleet.wait_running(&g.task_group.id, 1).await;
    let http = client();
    let base = fleet.public();

    // A model without routes: the node, no route.
    let a = ask(&http, &base, "plain", None).await;
    assert_eq!(
        (a.status, a.node.as_deref(), a.route.as_deref()),
        (200, Some("plain-1"), None)
    );
    // A stream: the node in the response head, the body streamed after it.
    let resp = http
        .post(format!("{base}/v1/chat/completions"))
        .json(&common::chat_body("plain", true))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.headers()["x-gonka-node"], "plain-1");
    assert!(resp.headers().get("x-gonka-route").is_none());
    let body = resp.text().await.unwrap();
    assert!(body.contains("data: [DONE]"), "{body}");
    // A deployment: node, route and version, on /v1 and on Ollama's API, streamed or not.
    let a = ask(&http, &base, SVC, None).await;
    assert_eq!(
        (a.node.as_deref(), a.route.as_deref(), a.version.as_deref()),
        (Some("dep-1"), Some(g.model_route.id.as_str()), Some("v7"))
    );
    for stream in [false, true] {
        let resp = http
            .post(format!("{base}/api/chat"))
            .json(&json!({"model": SVC, "stream": stream,
                "messages": [{"role": "user", "content": "hi"}]}))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200);
        let h = resp.headers();
        assert_eq!(h["x-gonka-node"], "dep-1", "stream {stream}");
        assert_eq!(h["x-gonka-route"], g.model_route.id.as_str());
        assert_eq!(h["x-gonka-route-version"], "v7");
        let _ = resp.bytes().await.unwrap();
    }
    fleet.gw.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_route_input_is_a_400_naming_the_field_and_changes_nothing() {
    let fleet = DeployFleet::start(test_config()).await;
    let g = fleet
        .create_group(json!({"name": SVC, "estimated_gpu_memory_mb": 1000}))
        .await;
    let admin = format!("http://{}", fleet.gw.admin_addr.unwrap());
    let http = client();
    let route_url = format!("{admin}/api/v1/model-routes/{}", g.model_route.id);
    let gid = g.task_group.id.clone();
    let cases = [
        (
            json!({"model_name": SVC, "task_group_id": gid, "algorithm": "fastest"}),
            "algorithm",
        ),
        (
            json!({"model_name": " ", "task_group_id": gid}),
            "model_name",
        ),
        (
            json!({"model_name": SVC, "task_group_id": gid, "version": ""}),
            "version",
        ),
        (
            json!({"model_name": SVC, "task_group_id": gid, "status": "paused"}),
            "status",
        ),
        (
            json!({"model_name": SVC, "task_group_id": gid, "weight": -1}),
            "weight",
        ),
        (
            json!({"model_name": SVC, "task_group_id": gid, "priority": "high"}),
            "priority",
        ),
        (
            json!({"model_name": SVC, "task_group_id": gid, "color": "red"}),
            "color",
        ),
        (json!({"task_group_id": gid}), "model_name"),
    ];
    for (body, field) in cases {
        for (method, url) in [
            ("PUT", route_url.clone()),
            ("POST", format!("{admin}/api/v1/model-routes")),
        ] {
            let req = if method == "PUT" {
                http.put(&url)
            } else {
                http.post(&url)
            };
            let resp = req.json(&body).send().await.unwrap();
            let status = resp.status().as_u16();
            let text = resp.text().await.unwrap();
            assert_eq!(status, 400, "{method} {body}: {text}");
            assert!(
                text.contains(field),
                "{method} {body} names {field}: {text}"
            );
        }
    }
    // Not JSON at all.
    let resp = http
        .put(&route_url)
        .header("content-type", "application/json")
        .body("{weight: 5")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    // A route that does not exist cannot be replaced (nor is it created).
    let resp = http
        .put(format!("{admin}/api/v1/model-routes/mr-0000000000000000"))
        .json(&json!({"model_name": SVC, "task_group_id": gid}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 404);
    // Nothing changed: the group's one route, as created.
    let routes = fleet.admin.model_routes().await.unwrap();
    assert_eq!(routes, vec![g.model_route.clone()]);
    fleet.gw.shutdown().await;
}
