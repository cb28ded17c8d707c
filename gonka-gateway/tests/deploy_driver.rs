//! The task driver of deployments, with the real placer, the real deployments API (typed client)
//! over one store, and real ML node agents (`gonka-mlnode` with the simulator engine) serving
//! the task API (`/api/v1/tasks`): scheduled tasks are launched and run; a failing engine fails
//! its task with the engine's reason, retried a bounded number of times; sleep, wake and stop
//! asked through the admin API reach the agent; idle tasks sleep and a request wakes them;
//! autoscaling adds a replica under live load through a real gateway and drains one after the
//! cooldown; a rolling update replaces tasks one at a time, and one whose new version really
//! fails its health check rolls back under a stream of live requests, none failing; a recreate
//! update.
//!
//! The tests step the placer and the driver themselves (the gateway, where there is one, serves
//! requests and does not drive: `drive_deployments: false`), and time is a `ManualClock`, so
//! idle timeouts and cooldowns pass without waiting. Every test's nodes are on one loopback host
//! and the placer gives task instances the ports from 8100 up, so the tests run one at a time.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
#[path = "deploy_driver_support/env.rs"]
mod env;

use std::sync::Arc;
use std::time::Duration;

use common::sim_agent::sim_config;
use env::{
    all_ok, chat, engine_get, finish_stream, roll, slow_agent, start_stream, Env, Stream, BASE,
};
use gonka_admin::client::{TaskAction, TaskQuery};
use gonka_admin::ClientError;
use gonka_core::deploy::{
    GroupStatus, MemoryDeploymentStore, RollingUpdateState, Task, TaskStatus, UpdateRequest,
    UpdateStrategy,
};
use gonka_core::mlnode_api::TaskState;
use gonka_gateway::mlnode_client::MlNodeClient;
use gonka_gateway::task_driver::{task_launch, Clock, DriverSettings, NodeLoad, TaskDriver};
use serde_json::json;

#[tokio::test]
async fn scheduled_tasks_are_launched_from_the_spec_and_run() {
    let env = Env::start(1).await;
    let group = env
        .create(
            json!({"name": "chat", "model_path": "org/chat-7b", "replicas": 2,
            "estimated_gpu_memory_mb": 20_000, "context_length": 8192, "dtype": "bfloat16",
            "engine_args": ["--enforce-eager"]}),
        )
        .await;
    let reports = env
        .until("both tasks running", || async {
            env.count(&group, TaskStatus::Running).await == 2
        })
        .await;
    let g = env.store.group(&group).await.unwrap();
    assert_eq!(g.status, GroupStatus::Running);
    let node = MlNodeClient::default().at(&env.agents["n0"].mgmt_url());
    let tasks = env.tasks(&group).await;
    for t in &tasks {
        let inst = env.instance(t).await.unwrap();
        assert_eq!(inst.state, TaskState::Running);
        assert_eq!(inst.model, "chat");
        // The simulator agent runs every engine as the simulator.
        assert_eq!(inst.engine, "simulator");
        assert_eq!(inst.gpu_ids.join(","), t.gpu_id.clone().unwrap());
        assert_eq!(inst.port, t.ports[0]);
        // The engine itself serves the group's name with its context length.
        let (code, models) = engine_get(t.ports[0], "/v1/models").await;
        assert_eq!(code, 200, "{models}");
        assert_eq!(models["data"][0]["id"], "chat");
        assert_eq!(models["data"][0]["max_model_len"], 8192);
        // The agent holds exactly the launch built from the spec: the same launch again is the
        // same instance, one with other weights a conflict naming them.
        let launch = task_launch(t, &g).unwrap();
        assert_eq!(launch.model_path, "org/chat-7b");
        assert_eq!(launch.dtype, "bfloat16");
        assert_eq!(launch.args, vec!["--enforce-eager".to_owned()]);
        let same = node.launch_task(&t.id, &launch).await.unwrap();
        assert_eq!(
            (same.state, same.since_ms),
            (TaskState::Running, inst.since_ms)
        );
        let mut other = launch.clone();
        other.model_path = "org/other-7b".into();
        let e = node.launch_task(&t.id, &other).await.unwrap_err();
        assert!(e.to_string().contains("model_path"), "{e}");
    }
    // Nothing is launched twice.
    let launched: Vec<String> = reports.iter().flat_map(|r| r.launched.clone()).collect();
    assert_eq!(launched.len(), 2, "{launched:?}");
    for _ in 0..3 {
        assert!(env.step().await.launched.is_empty());
    }
    assert_eq!(env.instances().await.len(), 2);
    env.stop().await;
}

#[tokio::test]
async fn a_failing_engine_fails_the_task_with_the_nodes_error_and_retries_are_bounded() {
    let env = Env::start(1).await;
    // The simulator's own fault: its start fails, as an engine whose model does not load.
    let group = env
        .create(json!({"name": "bad", "model_path": "org/broken-7b",
            "estimated_gpu_memory_mb": 10_000, "engine_args": ["--sim-fail-start"]}))
        .await;
    let mut retried = 0;
    let mut failures = Vec::new();
    // Until the fourth failure, then a few steps more (nothing more happens); at most 500 steps.
    let mut after = 0;
    for _ in 0..500 {
        let r = env.step().await;
        retried += r.retried.len();
        failures.extend(r.failed);
        if failures.len() >= 4 {
            after += 1;
            if after > 5 {
                break;
            }
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // One first attempt and three retries, each failing with the engine's error.
    assert_eq!(retried, 3, "{failures:?}");
    assert_eq!(failures.len(), 4, "{failures:?}");
    assert!(
        failures[0].1.contains("exited at start loading model bad"),
        "{failures:?}"
    );
    let tasks = env.tasks(&group).await;
    assert_eq!(tasks[0].status, TaskStatus::Failed);
    assert!(tasks[0]
        .error
        .as_deref()
        .unwrap()
        .contains("exited at start"));
    assert_eq!(
        env.store.group(&group).await.unwrap().status,
        GroupStatus::Failed
    );
    // The failed instance does not stay on the agent.
    env.until("the failed instance removed", || async {
        env.agents["n0"].instances().await.is_empty()
    })
    .await;
    env.stop().await;
}

#[tokio::test]
async fn sleep_wake_and_stop_through_the_admin_api_reach_the_node() {
    let env = Env::start(1).await;
    let group = env
        .create(json!({"name": "svc", "estimated_gpu_memory_mb": 10_000, "replicas": 2}))
        .await;
    env.until("running", || async {
        env.count(&group, TaskStatus::Running).await == 2
    })
    .await;
    let tasks = env.tasks(&group).await;
    let (a, b) = (&tasks[0], &tasks[1]);
    let node = &env.agents["n0"];

    env.admin
        .task_action(&a.id, TaskAction::Sleep)
        .await
        .unwrap();
    env.until("asleep on the node", || async {
        node.instance(&a.id).await.unwrap().state == TaskState::Sleeping
    })
    .await;
    assert_eq!(
        env.store.task(&a.id).await.unwrap().status,
        TaskStatus::Sleeping
    );
    // The engine itself sleeps (the simulator's sleep mode).
    env.until("the engine asleep", || async {
        engine_get(a.ports[0], "/is_sleeping").await.1["is_sleeping"] == true
    })
    .await;
    // It stays asleep: the driver does not take its own sleep for a wake-up.
    for _ in 0..3 {
        env.step().await;
    }
    assert_eq!(
        node.instance(&a.id).await.unwrap().state,
        TaskState::Sleeping
    );
    assert_eq!(
        env.store.task(&a.id).await.unwrap().status,
        TaskStatus::Sleeping
    );

    env.admin
        .task_action(&a.id, TaskAction::Wake)
        .await
        .unwrap();
    let reports = env
        .until("awake again", || async {
            env.store.task(&a.id).await.unwrap().status == TaskStatus::Running
        })
        .await;
    assert!(reports.iter().any(|r| r.woken.contains(&a.id)));
    assert_eq!(
        node.instance(&a.id).await.unwrap().state,
        TaskState::Running
    );
    assert_eq!(
        engine_get(a.ports[0], "/is_sleeping").await.1["is_sleeping"],
        false
    );

    env.admin
        .task_action(&b.id, TaskAction::Stop)
        .await
        .unwrap();
    let reports = env
        .until("stopped on the node", || async {
            node.instance(&b.id).await.is_none()
        })
        .await;
    assert!(reports.iter().any(|r| r.deleted.contains(&b.id)));

    // Stop the rest, delete the group before the driver looks: its instances still go.
    env.admin
        .task_action(&a.id, TaskAction::Stop)
        .await
        .unwrap();
    env.admin.delete_task_group(&group).await.unwrap();
    env.until("the deleted group's instances are gone", || async {
        node.instances().await.is_empty()
    })
    .await;
    // Their engines stopped: the ports no longer answer.
    for t in [a, b] {
        let r = common::client()
            .get(format!("http://127.0.0.1:{}/health", t.ports[0]))
            .send()
            .await;
        assert!(r.is_err(), "port {} still answers", t.ports[0]);
    }
    env.stop().await;
}

#[tokio::test]
async fn an_idle_task_sleeps_and_a_request_wakes_it() {
    // Engines answer 40 tokens 50 ms apart: a streamed request stays in flight for 2 s.
    let env = Env::build(
        1,
        slow_agent(40, Duration::from_millis(50)),
        Arc::new(MemoryDeploymentStore::new()),
        false,
    )
    .await;
    let group = env
        .create(json!({"name": "idle", "estimated_gpu_memory_mb": 10_000,
            "idle_timeout_minutes": 1}))
        .await;
    env.until("running", || async {
        env.count(&group, TaskStatus::Running).await == 1
    })
    .await;
    let task = env.tasks(&group).await.remove(0);
    let node = &env.agents["n0"];
    let inference = node.inference_url();
    // Busy: a request in flight on the instance past the idle timeout: no sleep.
    let stream = start_stream(&inference, "idle").await;
    assert_eq!(node.instance(&task.id).await.unwrap().in_flight, 1);
    env.clock.advance(61_000);
    env.step().await;
    assert_eq!(
        env.store.task(&task.id).await.unwrap().status,
        TaskStatus::Running
    );
    // Recently used: the request ended less than the idle timeout ago (it lasted 2 s since the
    // instance started, the clock is 61 s past that start).
    assert!(finish_stream(stream).await);
    let last = node.instance(&task.id).await.unwrap().last_request_ms;
    assert!(last > 0);
    assert!(env.clock.now_ms() < last + 60_000);
    env.step().await;
    assert_eq!(
        env.store.task(&task.id).await.unwrap().status,
        TaskStatus::Running
    );

    // Just past the idle timeout since that request.
    env.clock.advance(last + 60_001 - env.clock.now_ms());
    let reports = env
        .until("idle sleep", || async {
            env.store.task(&task.id).await.unwrap().status == TaskStatus::Sleeping
        })
        .await;
    assert!(reports.iter().any(|r| r.idle_slept.contains(&task.id)));
    assert_eq!(
        node.instance(&task.id).await.unwrap().state,
        TaskState::Sleeping
    );
    assert_eq!(
        env.store.group(&group).await.unwrap().status,
        GroupStatus::Sleeping
    );

    // A request arrives (later than the last one by more than the clock's 1 ms past the
    // timeout): the agent wakes the instance and answers it; the driver follows.
    tokio::time::sleep(Duration::from_millis(50)).await;
    let (code, body) = chat(&common::client(), &inference, "idle", 1).await;
    assert_eq!(code, 200, "{body}");
    env.until("running again", || async {
        env.store.task(&task.id).await.unwrap().status == TaskStatus::Running
    })
    .await;
    assert_eq!(
        env.store.group(&group).await.unwrap().status,
        GroupStatus::Running
    );
    // It just served: it is not put back to sleep.
    for _ in 0..3 {
        assert!(env.step().await.idle_slept.is_empty());
    }
    assert_eq!(
        node.instance(&task.id).await.unwrap().state,
        TaskState::Running
    );
    env.stop().await;
}

/// Autoscaling on live load: requests through a real gateway to a real agent raise the group's
/// `concurrent_requests`; one replica is added (within `max_replicas`), launched on the agent
/// and served; after the load and the cooldown (passed on the manual clock), the highest rank is
/// drained (its in-flight request finishes) and stopped. No request fails.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn autoscaling_adds_a_replica_under_load_and_drains_one_after_the_cooldown() {
    // Engines answer up to 120 tokens 25 ms apart: the load's requests (10 tokens) last about
    // 250 ms, a stream without a limit about 3 s.
    let env = Env::build(
        1,
        slow_agent(120, Duration::from_millis(25)),
        Arc::new(MemoryDeploymentStore::new()),
        true,
    )
    .await;
    let group = env
        .create(json!({"name": "auto", "estimated_gpu_memory_mb": 10_000,
            "auto_scale": true, "min_replicas": 1, "max_replicas": 2,
            "scale_policy": {"metric": "concurrent_requests", "target": 2, "cooldown_seconds": 30}}))
        .await;
    env.until("running", || async {
        env.count(&group, TaskStatus::Running).await == 1
    })
    .await;
    let first = env.tasks(&group).await.remove(0);
    let public = env.public();
    common::eventually("the gateway routes the group", || async {
        chat(&common::client(), &public, "auto", 1).await.0 == 200
    })
    .await;

    // Load: 10 clients, one request after another (at most 400 each).
    let load = Stream::start(&public, "auto", 10, 400, 10);
    let reports = env
        .until("a second replica runs", || async {
            env.count(&group, TaskStatus::Running).await == 2
        })
        .await;
    let scaled: Vec<(String, i32)> = reports.iter().flat_map(|r| r.scaled.clone()).collect();
    assert_eq!(scaled, vec![(group.clone(), 1)]);
    let g = env.store.group(&group).await.unwrap();
    assert_eq!(g.current_replicas, 2);
    assert!(g.last_scaled_at_ms.is_some());
    let second = env
        .tasks(&group)
        .await
        .into_iter()
        .find(|t| t.id != first.id)
        .unwrap();
    assert_eq!(second.rank, first.rank + 1);
    // The new replica runs on the agent and takes a share of the live requests.
    let port = second.ports[0];
    common::eventually_within(
        "the new replica serves a share of the load",
        Duration::from_secs(20),
        || async {
            engine_get(port, "/sim/stats").await.1["requests_total"].as_u64() >= Some(10)
                && load.answered() >= 100
        },
    )
    .await;
    // Still loaded, the cooldown over: at max_replicas, no change.
    env.clock.advance(31_000);
    for _ in 0..3 {
        assert!(env.step().await.scaled.is_empty(), "at max_replicas");
    }
    let loaded = all_ok(&load.finish().await);
    let on_new = engine_get(port, "/sim/stats").await.1["requests_total"]
        .as_u64()
        .unwrap();

    // Two requests in flight through the gateway, one on each replica (the agent gives each to
    // the replica with the fewest in flight).
    let a = start_stream(&public, "auto").await;
    let b = start_stream(&public, "auto").await;
    let on_second = env.instance(&second).await.unwrap().in_flight;
    assert_eq!(
        (env.instance(&first).await.unwrap().in_flight, on_second),
        (1, 1)
    );
    // The load is gone (2 in flight over 2 replicas, under the target), the cooldown passed:
    // the highest rank is drained, serving its request to the end, then stopped.
    env.clock.advance(31_000);
    let r = env.step().await;
    assert_eq!(r.scaled, vec![(group.clone(), -1)]);
    for _ in 0..3 {
        let r = env.step().await;
        assert!(r.draining.contains(&second.id), "{r:?}");
        assert_eq!(
            env.store.task(&second.id).await.unwrap().status,
            TaskStatus::Running
        );
    }
    assert!(finish_stream(a).await && finish_stream(b).await);
    env.until("the drained replica stopped", || async {
        env.store.task(&second.id).await.unwrap().status == TaskStatus::Completed
    })
    .await;
    assert!(env.instance(&second).await.is_none());
    assert_eq!(env.store.group(&group).await.unwrap().current_replicas, 1);
    // At min_replicas: never below.
    env.clock.advance(31_000);
    for _ in 0..3 {
        assert!(env.step().await.scaled.is_empty(), "at min_replicas");
    }
    assert_eq!(env.count(&group, TaskStatus::Running).await, 1);
    // The remaining replica serves through the gateway.
    let after: Vec<(u16, String)> = {
        let http = common::client();
        let mut v = Vec::new();
        for _ in 0..20 {
            v.push(chat(&http, &public, "auto", 1).await);
        }
        v
    };
    all_ok(&after);
    eprintln!(
        "autoscale: {loaded} requests under load ({on_new} on the added replica), replicas \
         1 → 2 → 1, then {} more",
        after.len()
    );
    env.stop().await;
}

#[tokio::test]
async fn a_metric_the_gateway_cannot_see_holds_and_the_node_queue_scales() {
    // The node queue depth is what the gateway's health checks of a node report; here the test
    // sets it in the directory (the agents run, the queue is the directory's).
    let env = Env::start(1).await;
    let blind = env
        .create(
            json!({"name": "cpu-metric", "estimated_gpu_memory_mb": 10_000,
            "auto_scale": true, "max_replicas": 2,
            "scale_policy": {"metric": "cpu", "target": 50, "cooldown_seconds": 30}}),
        )
        .await;
    let queued = env
        .create(
            json!({"name": "queue-metric", "estimated_gpu_memory_mb": 10_000,
            "auto_scale": true, "max_replicas": 2,
            "scale_policy": {"metric": "request_queue", "target": 4, "cooldown_seconds": 30}}),
        )
        .await;
    env.until("running", || async {
        env.count(&blind, TaskStatus::Running).await == 1
            && env.count(&queued, TaskStatus::Running).await == 1
    })
    .await;
    env.directory.loads.lock().unwrap().insert(
        "n0".into(),
        NodeLoad {
            in_flight: 3,
            queue_depth: 9,
        },
    );
    let r = env.step().await;
    assert_eq!(r.unsupported_metric, vec![blind.clone()]);
    assert_eq!(r.scaled, vec![(queued.clone(), 1)]);
    env.stop().await;
}

#[tokio::test]
async fn a_rolling_update_replaces_tasks_one_at_a_time() {
    rolling_update(Env::start(1).await).await;
}

#[tokio::test]
async fn a_rolling_update_on_sqlite_keeps_its_record_across_reads() {
    let dir = tempfile::tempdir().unwrap();
    let store = gonka_admin::SqliteDeploymentStore::open_path(dir.path().join("deploy.db"))
        .await
        .unwrap();
    rolling_update(Env::start_on(1, Arc::new(store)).await).await;
}

async fn rolling_update(env: Env) {
    let group = env
        .create(
            json!({"name": "roll", "model_path": "org/v1", "replicas": 2,
            "estimated_gpu_memory_mb": 10_000}),
        )
        .await;
    env.until("running", || async {
        env.count(&group, TaskStatus::Running).await == 2
    })
    .await;
    let update = UpdateRequest {
        model_path: Some("org/v2".into()),
        version: Some("v2".into()),
        ..UpdateRequest::default()
    };
    let g = env.admin.update_task_group(&group, &update).await.unwrap();
    assert_eq!(g.rolling_update_state, RollingUpdateState::Rolling);
    assert_eq!(g.generation, 2);
    // A second update while this one runs is refused.
    let again = env.admin.update_task_group(&group, &update).await;
    assert!(
        matches!(again, Err(ClientError::Conflict { .. })),
        "{again:?}"
    );

    let (state, seen) = roll(&env, &group, 2).await;
    assert_eq!(state, RollingUpdateState::Completed);
    // One at a time: never more than one task beyond the two replicas.
    assert_eq!(seen.most_live, 3, "{seen:?}");
    let tasks = env.tasks(&group).await;
    let live: Vec<&Task> = tasks.iter().filter(|t| t.status.is_live()).collect();
    assert_eq!(live.len(), 2);
    for t in &live {
        assert_eq!(t.status, TaskStatus::Running);
        assert_eq!(t.model_path, "org/v2");
        assert_eq!(t.generation, 2);
    }
    let old: Vec<&Task> = tasks.iter().filter(|t| t.generation == 1).collect();
    assert_eq!(old.len(), 2);
    for t in old {
        assert_eq!(t.status, TaskStatus::Completed);
        assert!(env.instance(t).await.is_none());
    }
    let routes = env.admin.model_routes().await.unwrap();
    assert_eq!(routes[0].spec.version, "v2");
    let mut running = env.running_instances().await;
    running.sort();
    let mut expected: Vec<String> = live.iter().map(|t| t.id.clone()).collect();
    expected.sort();
    assert_eq!(running, expected);
    env.stop().await;
}

/// A rolling update whose new version really fails its health check (its engine arguments make
/// the simulator's `/health` answer 503 while it serves) rolls back under a stream of live
/// requests through a real gateway: the old tasks serve throughout, every request is answered
/// 200, the group ends on the old version; then a good update completes one task at a time,
/// the stream still flowing, every request answered.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rolling_update_failing_its_health_check_rolls_back() {
    let env = Env::build(
        1,
        sim_config(BASE),
        Arc::new(MemoryDeploymentStore::new()),
        true,
    )
    .await;
    let group = env
        .create(
            json!({"name": "canary", "model_path": "org/v1", "replicas": 2,
            "estimated_gpu_memory_mb": 10_000, "route": {"version": "v1"}}),
        )
        .await;
    env.until("running", || async {
        env.count(&group, TaskStatus::Running).await == 2
    })
    .await;
    let public = env.public();
    common::eventually("the gateway routes the group", || async {
        chat(&common::client(), &public, "canary", 1).await.0 == 200
    })
    .await;
    let before: Vec<String> = env.tasks(&group).await.into_iter().map(|t| t.id).collect();

    // A bounded stream of live requests (4 clients, at most 2,000 requests each) throughout.
    let stream = Stream::start(&public, "canary", 4, 2_000, 1);
    common::eventually("the stream flows", || async { stream.answered() >= 50 }).await;
    let update = UpdateRequest {
        model_path: Some("org/v2".into()),
        engine_args: Some(vec!["--sim-unhealthy".into()]),
        version: Some("v2".into()),
        ..UpdateRequest::default()
    };
    env.admin.update_task_group(&group, &update).await.unwrap();
    let (state, seen) = roll(&env, &group, 2).await;
    assert_eq!(state, RollingUpdateState::Rollback);
    // The new version did start and run on the agent: it failed its health check, not its start.
    assert_eq!(seen.new_running.len(), 1, "{seen:?}");
    let during = stream.answered();
    common::eventually("the stream flows after the rollback", || async {
        stream.answered() >= during + 50
    })
    .await;

    let g = env.store.group(&group).await.unwrap();
    assert_eq!(g.generation, 1);
    assert_eq!(g.spec.model_path.as_deref(), Some("org/v1"));
    assert!(g.spec.engine_args.is_empty());
    let error = g.update.unwrap().error.unwrap();
    assert!(error.contains("health check"), "{error}");
    let routes = env.admin.model_routes().await.unwrap();
    assert_eq!(routes[0].spec.version, "v1");
    // The old tasks still run, untouched; the new one stopped and left its node.
    for id in &before {
        assert_eq!(
            env.store.task(id).await.unwrap().status,
            TaskStatus::Running
        );
    }
    let new: Vec<Task> = env
        .tasks(&group)
        .await
        .into_iter()
        .filter(|t| t.generation == 2)
        .collect();
    assert_eq!(new.len(), 1);
    assert_eq!(new[0].status, TaskStatus::Completed);
    assert!(env.instance(&new[0]).await.is_none());
    let mut running = env.running_instances().await;
    running.sort();
    let mut expected = before.clone();
    expected.sort();
    assert_eq!(running, expected);
    // Nothing more happens afterwards.
    for _ in 0..3 {
        let r = env.step().await;
        assert!(r.launched.is_empty() && r.update_steps.is_empty(), "{r:?}");
    }

    // A good version next: a new generation above the rolled-back one's, one task at a time.
    let fixed = UpdateRequest {
        model_path: Some("org/v2-fixed".into()),
        version: Some("v2-fixed".into()),
        ..UpdateRequest::default()
    };
    let g = env.admin.update_task_group(&group, &fixed).await.unwrap();
    assert_eq!(g.generation, 3);
    let (state, seen) = roll(&env, &group, 2).await;
    assert_eq!(state, RollingUpdateState::Completed);
    assert_eq!(seen.most_live, 3, "{seen:?}");
    let live: Vec<Task> = env
        .tasks(&group)
        .await
        .into_iter()
        .filter(|t| t.status.is_live())
        .collect();
    assert_eq!(live.len(), 2);
    assert!(live
        .iter()
        .all(|t| t.model_path == "org/v2-fixed" && t.status == TaskStatus::Running));
    // The stream went on through the good update too; every request was answered.
    let after = stream.answered();
    common::eventually("the stream flows after the update", || async {
        stream.answered() >= after + 50
    })
    .await;
    let answers = stream.finish().await;
    let streamed = all_ok(&answers);
    eprintln!(
        "rollback: {streamed} requests in the stream ({during} when it rolled back), all 200"
    );
    env.stop().await;
}

#[tokio::test]
async fn a_recreate_update_stops_all_then_starts_all() {
    let env = Env::start(1).await;
    let group = env
        .create(json!({"name": "re", "model_path": "org/v1", "replicas": 2,
            "estimated_gpu_memory_mb": 10_000}))
        .await;
    env.until("running", || async {
        env.count(&group, TaskStatus::Running).await == 2
    })
    .await;
    let update = UpdateRequest {
        model_path: Some("org/v2".into()),
        strategy: UpdateStrategy::Recreate,
        ..UpdateRequest::default()
    };
    env.admin.update_task_group(&group, &update).await.unwrap();
    let first = env.step().await;
    assert_eq!(first.deleted.len(), 2, "{first:?}");
    assert!(env.agents["n0"].instances().await.is_empty());
    let (state, _) = roll(&env, &group, 0).await;
    assert_eq!(state, RollingUpdateState::Completed);
    let live: Vec<Task> = env
        .tasks(&group)
        .await
        .into_iter()
        .filter(|t| t.status.is_live())
        .collect();
    assert_eq!(live.len(), 2);
    assert!(live
        .iter()
        .all(|t| t.model_path == "org/v2" && t.status == TaskStatus::Running));
    assert_eq!(env.running_instances().await.len(), 2);
    env.stop().await;
}

#[tokio::test]
async fn bad_updates_name_the_field_and_change_nothing() {
    let env = Env::start(1).await;
    let group = env
        .create(json!({"name": "val", "estimated_gpu_memory_mb": 10_000}))
        .await;
    let bad = UpdateRequest {
        engine: Some("warp-drive".into()),
        ..UpdateRequest::default()
    };
    match env.admin.update_task_group(&group, &bad).await {
        Err(ClientError::Invalid { errors, .. }) => {
            assert_eq!(errors[0].field, "engine", "{errors:?}");
        }
        other => panic!("expected a 400 naming engine, got {other:?}"),
    }
    let nothing = UpdateRequest::default();
    assert!(matches!(
        env.admin.update_task_group(&group, &nothing).await,
        Err(ClientError::Invalid { .. })
    ));
    let g = env.store.group(&group).await.unwrap();
    assert_eq!(g.generation, 1);
    assert_eq!(g.rolling_update_state, RollingUpdateState::Idle);
    assert!(g.update.is_none());
    let tasks = env.admin.tasks(&TaskQuery::default()).await.unwrap();
    assert_eq!(tasks.len(), 1);
    env.stop().await;
}

#[tokio::test]
async fn one_replica_drives_at_a_time() {
    let env = Env::start(1).await;
    let group = env
        .create(json!({"name": "lease", "estimated_gpu_memory_mb": 10_000}))
        .await;
    let other = TaskDriver::new(
        env.store.clone(),
        env.directory.clone(),
        MlNodeClient::default(),
        "replica-b",
        DriverSettings::default(),
    )
    .with_clock(env.clock.clone());
    env.until("running", || async {
        env.count(&group, TaskStatus::Running).await == 1
    })
    .await;
    let r = other.tick().await.unwrap();
    assert!(r.lease_held_elsewhere);
    assert_eq!(env.agents["n0"].instances().await.len(), 1);
    env.stop().await;
}

#[tokio::test]
async fn a_task_its_node_never_starts_is_placed_again_after_the_start_timeout() {
    let mut env = Env::start(1).await;
    // The node's agent is gone before the task is placed on it.
    env.agents.remove("n0").unwrap().stop().await;
    let group = env
        .create(json!({"name": "lost", "estimated_gpu_memory_mb": 10_000}))
        .await;
    let r = env.step().await;
    assert_eq!(r.unreachable.len(), 1, "{r:?}");
    let task = env.tasks(&group).await.remove(0);
    assert_eq!(task.status, TaskStatus::Scheduled);
    env.step().await;
    assert_eq!(
        env.store.task(&task.id).await.unwrap().status,
        TaskStatus::Scheduled,
        "within the start timeout nothing changes"
    );
    env.clock.advance(11 * 60_000);
    let r = env.step().await;
    assert_eq!(r.requeued, vec![task.id.clone()]);
    let back = env.store.task(&task.id).await.unwrap();
    assert_eq!(back.status, TaskStatus::Pending);
    assert!(back.error.unwrap().contains("did not start"));
    env.stop().await;
}
