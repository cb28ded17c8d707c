//! The [`DeploymentStore`] conformance suite.

use std::sync::Arc;

use crate::deploy::ids;
use crate::deploy::model::{
    hash_api_key, AuditEntry, Endpoint, RollingUpdateState, Task, TaskGroup, TaskPlacement,
};
use crate::deploy::routes::ModelRoute;
use crate::deploy::spec::{RouteSpec, TaskGroupSpec};
use crate::deploy::status::{GroupStatus, TaskStatus};
use crate::deploy::store::{DeploymentStore, GroupCreation, TaskFilter, TaskMove};
use crate::Error;

/// The API key of [`creation`]'s endpoint for group number `n`.
pub fn endpoint_key(n: u16) -> String {
    ids::api_key(u128::from(n) << 64 | 0xfeed)
}

/// A group named `name` (number `n`, which makes its ids) with `tasks` pending tasks, a route of
/// weight 100 and an endpoint whose key is [`endpoint_key`]`(n)`.
pub fn creation(name: &str, n: u16, tasks: u32) -> GroupCreation {
    let spec: TaskGroupSpec = serde_json::from_value(serde_json::json!({"name": name}))
        .expect("a minimal spec deserializes");
    let id = ids::task_group_id(1_700_000_000_000_000_000 + u128::from(n), n);
    let endpoint = Endpoint {
        id: ids::endpoint_id(u64::from(n)),
        name: name.into(),
        task_group_id: id.clone(),
        protocol: "http".into(),
        algorithm: "round_robin".into(),
        api_key_sha256: hash_api_key(&endpoint_key(n)),
        api_key_prefix: endpoint_key(n).chars().take(11).collect(),
    };
    GroupCreation {
        tasks: (0..tasks)
            .map(|rank| Task {
                id: ids::task_id(u32::from(n) << 8 | rank, rank, &id),
                group_id: id.clone(),
                rank,
                status: TaskStatus::Pending,
                gpu_required: 1,
                gpu_type: None,
                gpu_id: None,
                node_id: None,
                model_path: name.into(),
                engine: None,
                ports: Vec::new(),
                estimated_gpu_memory_mb: 16_000,
                generation: 1,
                error: None,
                updated_at_ms: 1,
            })
            .collect(),
        route: ModelRoute {
            id: ids::model_route_id(u64::from(n)),
            model_name: name.into(),
            task_group_id: id.clone(),
            engine: None,
            spec: RouteSpec::default(),
            active: true,
        },
        endpoint: Some(endpoint.clone()),
        audit: AuditEntry {
            at_ms: u64::from(n),
            actor: "admin".into(),
            action: "task_group.create".into(),
            target: id.clone(),
            detail: format!("{name}: {tasks} task(s)"),
        },
        group: TaskGroup {
            id,
            status: GroupStatus::Pending,
            node_count: 1,
            current_replicas: tasks,
            endpoint: Some(endpoint.id),
            rolling_update_state: RollingUpdateState::Idle,
            generation: 1,
            created_at_ms: 1,
            updated_at_ms: 1,
            last_scaled_at_ms: None,
            update: None,
            spec,
        },
    }
}

fn placement(node: &str) -> TaskPlacement {
    TaskPlacement {
        node_id: node.into(),
        gpu_ids: vec!["0".into()],
        engine: "vllm".into(),
        port: 8000,
    }
}

fn mv(from: TaskStatus, to: TaskStatus) -> TaskMove {
    TaskMove {
        from,
        to,
        placement: None,
        error: None,
        at_ms: 2,
    }
}

/// Runs every check on `store`, which must be empty.
pub async fn deployment_suite<S: DeploymentStore>(store: S) {
    let store = Arc::new(store);
    create_is_atomic_and_names_are_unique(&*store).await;
    moves_are_compare_and_set(store.clone()).await;
    groups_update_and_delete_by_the_state_machine(&*store).await;
    routes_endpoints_and_audit(&*store).await;
    leases_have_one_holder(store.clone()).await;
    live_leases_by_prefix(&*store).await;
}

/// Live leases are listed by prefix, sorted, without the expired ones.
pub async fn live_leases_by_prefix<S: DeploymentStore + ?Sized>(store: &S) {
    for (name, ttl) in [
        ("replica/b", 1_000),
        ("replica/a", 1_000),
        ("replica/c", 10),
    ] {
        assert!(store
            .acquire_lease(name, name, 50_000, ttl)
            .await
            .expect("announce"));
    }
    assert!(store
        .acquire_lease("replicas-not", "x", 50_000, 1_000)
        .await
        .expect("other"));
    assert_eq!(
        store.live_leases("replica/", 50_500).await.expect("list"),
        vec!["replica/a".to_owned(), "replica/b".to_owned()]
    );
    assert!(store
        .live_leases("replica/", 60_000)
        .await
        .expect("list")
        .is_empty());
    // A prefix with LIKE's wildcards matches literally.
    assert!(store
        .live_leases("replica_", 50_500)
        .await
        .expect("list")
        .is_empty());
    assert!(store
        .live_leases("%", 50_500)
        .await
        .expect("list")
        .is_empty());
}

/// A lease has one holder until it expires; of many concurrent takers, one wins.
pub async fn leases_have_one_holder<S: DeploymentStore>(store: Arc<S>) {
    assert!(store
        .acquire_lease("placer", "a", 1_000, 500)
        .await
        .expect("take"));
    assert!(!store
        .acquire_lease("placer", "b", 1_200, 500)
        .await
        .expect("held"));
    assert!(store
        .acquire_lease("placer", "a", 1_300, 500)
        .await
        .expect("renew"));
    assert!(!store
        .acquire_lease("placer", "b", 1_700, 500)
        .await
        .expect("renewed"));
    assert!(store
        .acquire_lease("placer", "b", 1_800, 500)
        .await
        .expect("expired"));
    assert!(store
        .acquire_lease("other", "a", 1_800, 500)
        .await
        .expect("another lease"));
    let mut racers = Vec::new();
    for i in 0..8 {
        let store = store.clone();
        racers.push(tokio::spawn(async move {
            store
                .acquire_lease("race", &format!("r{i}"), 10_000, 60_000)
                .await
                .expect("race")
        }));
    }
    let mut won = 0;
    for r in racers {
        won += usize::from(r.await.expect("join"));
    }
    assert_eq!(won, 1, "exactly one holder");
}

/// A group is stored with everything it owns; a creation that conflicts stores nothing.
pub async fn create_is_atomic_and_names_are_unique<S: DeploymentStore + ?Sized>(store: &S) {
    let c = creation("svc-a", 1, 2);
    store.create_group(c.clone()).await.expect("create");
    assert_eq!(store.group(&c.group.id).await.expect("get"), c.group);
    let tasks = store
        .tasks(&TaskFilter {
            group_id: Some(c.group.id.clone()),
            ..TaskFilter::default()
        })
        .await
        .expect("tasks");
    assert_eq!(tasks, c.tasks, "tasks stored with the group, by id");
    let same_name = creation("svc-a", 2, 1);
    match store.create_group(same_name.clone()).await {
        Err(Error::Conflict(e)) => assert_eq!(e.field, "name"),
        other => panic!("a second group named svc-a must conflict, got {other:?}"),
    }
    // A different name whose task id is taken: nothing of it may be stored.
    let mut clash = creation("svc-b", 3, 1);
    clash.tasks[0].id = c.tasks[0].id.clone();
    assert!(matches!(
        store.create_group(clash.clone()).await,
        Err(Error::Conflict(_))
    ));
    assert!(matches!(
        store.group(&clash.group.id).await,
        Err(Error::NotFound { .. })
    ));
    assert!(
        !store
            .routes()
            .await
            .expect("routes")
            .iter()
            .any(|r| r.id == clash.route.id),
        "a failed creation leaves no route"
    );
    assert_eq!(store.groups().await.expect("groups").len(), 1);
    assert!(matches!(
        store.group("tg-0-0000").await,
        Err(Error::NotFound { .. })
    ));
}

/// Of many concurrent placements of one task, exactly one applies; illegal moves are refused.
pub async fn moves_are_compare_and_set<S: DeploymentStore>(store: Arc<S>) {
    let c = creation("svc-cas", 10, 1);
    store.create_group(c.clone()).await.expect("create");
    let id = c.tasks[0].id.clone();
    let mut racers = Vec::new();
    for i in 0..8 {
        let store = store.clone();
        let id = id.clone();
        racers.push(tokio::spawn(async move {
            let m = TaskMove {
                placement: Some(placement(&format!("node-{i}"))),
                ..mv(TaskStatus::Pending, TaskStatus::Scheduled)
            };
            store.move_task(&id, m).await.expect("move")
        }));
    }
    let mut winners = Vec::new();
    for r in racers {
        if let Some(task) = r.await.expect("join") {
            winners.push(task);
        }
    }
    assert_eq!(winners.len(), 1, "exactly one placement wins");
    let stored = store.task(&id).await.expect("task");
    assert_eq!(stored.status, TaskStatus::Scheduled);
    assert_eq!(
        stored.node_id, winners[0].node_id,
        "the winner's placement is stored"
    );
    assert_eq!(stored.gpu_id.as_deref(), Some("0"));
    match store
        .move_task(&id, mv(TaskStatus::Pending, TaskStatus::Running))
        .await
    {
        Err(Error::Conflict(e)) => assert!(e.message.contains("pending → running"), "{e}"),
        other => panic!("pending → running must be refused, got {other:?}"),
    }
    // Fail, then retry: the failure reason is kept until the retry clears it with the placement.
    let failed = TaskMove {
        error: Some("engine exited 1".into()),
        ..mv(TaskStatus::Scheduled, TaskStatus::Failed)
    };
    let t = store
        .move_task(&id, failed)
        .await
        .expect("fail")
        .expect("applied");
    assert_eq!(t.error.as_deref(), Some("engine exited 1"));
    let t = store
        .move_task(&id, mv(TaskStatus::Failed, TaskStatus::Pending))
        .await
        .expect("retry")
        .expect("applied");
    assert_eq!((t.error, t.node_id), (None, None));
    assert!(matches!(
        store
            .move_task(
                "task-0-r0-tg-1-0000",
                mv(TaskStatus::Pending, TaskStatus::Scheduled)
            )
            .await,
        Err(Error::NotFound { .. })
    ));
    match store.remove_task(&id).await {
        Err(Error::Conflict(e)) => assert_eq!(e.field, "status"),
        other => panic!("removing a live task must conflict, got {other:?}"),
    }
}

/// Group records change by compare-and-set on the status; only finished groups are deleted, with
/// everything they own.
pub async fn groups_update_and_delete_by_the_state_machine<S: DeploymentStore + ?Sized>(store: &S) {
    let c = creation("svc-life", 20, 1);
    store.create_group(c.clone()).await.expect("create");
    let mut g = c.group.clone();
    g.status = GroupStatus::Scheduling;
    assert!(store
        .update_group(g.clone(), GroupStatus::Pending)
        .await
        .expect("update"));
    assert!(
        !store
            .update_group(g.clone(), GroupStatus::Pending)
            .await
            .expect("stale"),
        "stale expected status"
    );
    let mut illegal = g.clone();
    illegal.status = GroupStatus::Sleeping;
    assert!(matches!(
        store.update_group(illegal, GroupStatus::Scheduling).await,
        Err(Error::Conflict(_))
    ));
    match store.delete_group(&g.id).await {
        Err(Error::Conflict(e)) => assert!(e.message.contains("scheduling"), "{e}"),
        other => panic!("deleting a scheduling group must conflict, got {other:?}"),
    }
    let t = &c.tasks[0];
    store
        .move_task(&t.id, mv(TaskStatus::Pending, TaskStatus::Completed))
        .await
        .expect("stop");
    store
        .remove_task(&t.id)
        .await
        .expect("remove a stopped task");
    let mut done = g.clone();
    done.status = GroupStatus::Completed;
    assert!(store
        .update_group(done, GroupStatus::Scheduling)
        .await
        .expect("complete"));
    store.delete_group(&g.id).await.expect("delete");
    assert!(matches!(
        store.group(&g.id).await,
        Err(Error::NotFound { .. })
    ));
    assert!(!store
        .routes()
        .await
        .expect("routes")
        .iter()
        .any(|r| r.task_group_id == g.id));
    assert_eq!(
        store
            .endpoint_by_key(&hash_api_key(&endpoint_key(20)))
            .await
            .expect("key"),
        None
    );
}

/// Routes need their group; endpoint keys are found by hash only; the audit log is newest first.
pub async fn routes_endpoints_and_audit<S: DeploymentStore + ?Sized>(store: &S) {
    let c = creation("svc-route", 30, 1);
    store.create_group(c.clone()).await.expect("create");
    let mut canary = c.route.clone();
    canary.id = ids::model_route_id(31);
    canary.spec.weight = 20;
    canary.spec.version = "canary".into();
    store.put_route(canary.clone()).await.expect("put");
    canary.spec.weight = 30;
    store.put_route(canary.clone()).await.expect("replace");
    let routes = store.routes().await.expect("routes");
    assert!(routes.contains(&canary) && routes.contains(&c.route));
    let mut orphan = canary.clone();
    orphan.id = ids::model_route_id(32);
    orphan.task_group_id = "tg-9-0009".into();
    assert!(matches!(
        store.put_route(orphan).await,
        Err(Error::NotFound { .. })
    ));
    store.delete_route(&canary.id).await.expect("delete");
    assert!(matches!(
        store.delete_route(&canary.id).await,
        Err(Error::NotFound { .. })
    ));
    let key = endpoint_key(30);
    let ep = store
        .endpoint_by_key(&hash_api_key(&key))
        .await
        .expect("by key")
        .expect("found");
    assert_eq!(ep.task_group_id, c.group.id);
    assert_eq!(
        store.endpoint_by_key(&key).await.expect("raw key"),
        None,
        "keys are looked up by hash"
    );
    store
        .audit(AuditEntry {
            at_ms: 99,
            actor: "autoscaler".into(),
            action: "task_group.scale".into(),
            target: c.group.id.clone(),
            detail: "1 → 2".into(),
        })
        .await
        .expect("audit");
    let log = store.audit_log(2).await.expect("log");
    assert_eq!(log.len(), 2);
    assert_eq!(log[0].action, "task_group.scale");
    assert_eq!(log[1].action, "task_group.create");
    let node_tasks = store
        .tasks(&TaskFilter {
            node_id: Some("nowhere".into()),
            ..TaskFilter::default()
        })
        .await
        .expect("filter");
    assert!(node_tasks.is_empty());
    let pending = store
        .tasks(&TaskFilter {
            status: Some(TaskStatus::Pending),
            group_id: Some(c.group.id.clone()),
            ..TaskFilter::default()
        })
        .await
        .expect("filter");
    assert_eq!(pending.len(), 1);
}
