use proptest::prelude::*;

use super::spec::{shape, ScheduleWindow};
use super::status::group_path;
use super::*;

/// One API call or agent report acting on a task (or on every task of the group).
#[derive(Debug, Clone, Copy)]
enum Op {
    Place(usize),
    Unplace(usize),
    Started(usize),
    Sleep(usize),
    Wake(usize),
    Woke(usize),
    Stop(usize),
    Crash(usize),
    Retry(usize),
    SleepAll,
    WakeAll,
    StopAll,
}

fn op() -> impl Strategy<Value = Op> {
    let t = 0usize..4;
    prop_oneof![
        t.clone().prop_map(Op::Place),
        t.clone().prop_map(Op::Unplace),
        t.clone().prop_map(Op::Started),
        t.clone().prop_map(Op::Sleep),
        t.clone().prop_map(Op::Wake),
        t.clone().prop_map(Op::Woke),
        t.clone().prop_map(Op::Stop),
        t.clone().prop_map(Op::Crash),
        t.prop_map(Op::Retry),
        Just(Op::SleepAll),
        Just(Op::WakeAll),
        Just(Op::StopAll),
    ]
}

fn target(op: Op) -> (Option<usize>, TaskStatus) {
    use TaskStatus::*;
    match op {
        Op::Place(i) => (Some(i), Scheduled),
        Op::Unplace(i) => (Some(i), Pending),
        Op::Started(i) | Op::Woke(i) => (Some(i), Running),
        Op::Sleep(i) => (Some(i), Sleeping),
        Op::Wake(i) => (Some(i), Waking),
        Op::Stop(i) => (Some(i), Completed),
        Op::Crash(i) => (Some(i), Failed),
        Op::Retry(i) => (Some(i), Pending),
        Op::SleepAll => (None, Sleeping),
        Op::WakeAll => (None, Waking),
        Op::StopAll => (None, Completed),
    }
}

proptest! {
    /// Whatever the order of calls and reports, no task and no group ever makes a move its machine
    /// forbids: refused moves leave the state as it was and name both states.
    #[test]
    fn no_sequence_of_calls_reaches_an_illegal_state(
        n in 1usize..4,
        ops in proptest::collection::vec(op(), 0..60),
    ) {
        let mut tasks = vec![TaskStatus::Pending; n];
        let mut group = GroupStatus::Pending;
        for op in ops {
            let (which, to) = target(op);
            let indices: Vec<usize> = match which {
                Some(i) if i < n => vec![i],
                Some(_) => vec![],
                None => (0..n).collect(),
            };
            for i in indices {
                let from = tasks[i];
                match from.transition(to) {
                    Ok(next) => {
                        prop_assert!(from.can_become(to));
                        tasks[i] = next;
                    }
                    Err(e) => {
                        prop_assert!(!from.can_become(to));
                        prop_assert_eq!(e.from, from.as_str());
                        prop_assert_eq!(e.to, to.as_str());
                        prop_assert!(e.to_string().contains(from.as_str()));
                    }
                }
            }
            let next = advance_group(group, &tasks);
            if next != group {
                let path = group_path(group, next);
                prop_assert!(!path.is_empty(), "{group} → {next} without a path");
                let mut at = group;
                for step in path {
                    prop_assert!(at.can_become(step), "{at} → {step}");
                    at = step;
                }
                prop_assert_eq!(at, next);
            }
            if group == GroupStatus::Completed {
                prop_assert_eq!(next, GroupStatus::Completed);
            }
            group = next;
        }
        // Stopping everything ends every group in completed or failed.
        for t in &mut tasks {
            if t.is_live() {
                *t = t.transition(TaskStatus::Completed).unwrap();
            }
        }
        let end = advance_group(group, &tasks);
        prop_assert!(end.is_terminal() || end == group, "{group} → {end}");
    }
}

#[test]
fn the_happy_path_follows_the_seed_diagram() {
    use TaskStatus::*;
    let mut tasks = vec![Pending, Pending];
    let mut group = GroupStatus::Pending;
    let mut seen = vec![group];
    let mut step = |tasks: &[TaskStatus], group: &mut GroupStatus| {
        let next = advance_group(*group, tasks);
        if next != *group {
            seen.push(next);
        }
        *group = next;
    };
    for to in [Scheduled, Running, Sleeping, Waking, Running, Completed] {
        for t in tasks.iter_mut() {
            *t = t.transition(to).unwrap();
        }
        step(&tasks, &mut group);
    }
    assert_eq!(
        seen,
        [
            GroupStatus::Pending,
            GroupStatus::Scheduling,
            GroupStatus::Running,
            GroupStatus::Sleeping,
            GroupStatus::Running,
            GroupStatus::Completed
        ]
    );
}

#[test]
fn illegal_moves_name_both_states() {
    let e = TaskStatus::Pending
        .transition(TaskStatus::Running)
        .unwrap_err();
    assert_eq!(e.to_string(), "illegal task transition: pending → running");
    let e = GroupStatus::Completed
        .transition(GroupStatus::Running)
        .unwrap_err();
    assert_eq!(
        e.to_string(),
        "illegal task group transition: completed → running"
    );
    assert!(TaskStatus::Failed.can_become(TaskStatus::Pending));
    assert!(!TaskStatus::Completed.can_become(TaskStatus::Pending));
    assert!(GroupStatus::Failed.can_become(GroupStatus::Pending));
}

#[test]
fn a_group_fails_only_when_nothing_serves() {
    use TaskStatus::*;
    assert_eq!(
        group_status_of(&[Running, Failed]),
        Some(GroupStatus::Running)
    );
    assert_eq!(
        group_status_of(&[Failed, Completed]),
        Some(GroupStatus::Failed)
    );
    assert_eq!(
        group_status_of(&[Completed, Completed]),
        Some(GroupStatus::Completed)
    );
    assert_eq!(
        group_status_of(&[Sleeping, Waking]),
        Some(GroupStatus::Sleeping)
    );
    assert_eq!(
        group_status_of(&[Pending, Scheduled]),
        Some(GroupStatus::Scheduling)
    );
    assert_eq!(group_status_of(&[]), None);
}

fn spec() -> TaskGroupSpec {
    serde_json::from_value(serde_json::json!({"name": "qwen-chat"})).unwrap()
}

#[test]
fn a_minimal_spec_takes_the_documented_defaults() {
    let s = spec();
    assert!(s.validate().is_empty(), "{:?}", s.validate());
    assert_eq!(s.world_size, 1);
    assert_eq!(s.parallelism, Parallelism::Single);
    assert_eq!((s.replicas, s.min_replicas, s.max_replicas), (1, 1, 0));
    assert_eq!(s.health_check.path, "/health");
    assert_eq!(s.health_check.interval_seconds, 10);
    assert_eq!(s.health_check.timeout_seconds, 3);
    assert_eq!(s.health_check.unhealthy_threshold, 3);
    assert_eq!(s.route.weight, 100);
    assert!(s.create_endpoint);
}

#[test]
fn new_gives_the_same_spec_as_a_body_with_only_the_name() {
    assert_eq!(TaskGroupSpec::new("qwen-chat"), spec());
}

#[test]
fn bad_specs_name_each_field() {
    let bad: TaskGroupSpec = serde_json::from_value(serde_json::json!({
        "name": "",
        "gpu_type": "VoodooFX",
        "world_size": 65,
        "min_replicas": 3,
        "max_replicas": 2,
        "replicas": 3,
        "route": {"weight": 150, "algorithm": "fastest"},
        "scale_policy": {"cooldown_seconds": 5},
        "co_schedule": {"max_models_per_gpu": 9, "overcommit": 2.5},
        "schedule_window": {"start": "25:00", "end": "08:00"},
        "engine": "tensorrt"
    }))
    .unwrap();
    let fields: Vec<String> = bad.validate().into_iter().map(|e| e.field).collect();
    for f in [
        "name",
        "gpu_type",
        "world_size",
        "min_replicas",
        "replicas",
        "route.weight",
        "route.algorithm",
        "scale_policy.cooldown_seconds",
        "co_schedule.max_models_per_gpu",
        "co_schedule.overcommit",
        "schedule_window.start",
        "engine",
    ] {
        assert!(fields.iter().any(|x| x == f), "{f} missing in {fields:?}");
    }
    let unknown =
        serde_json::from_value::<TaskGroupSpec>(serde_json::json!({"name": "x", "gpus": 2}));
    assert!(unknown.unwrap_err().to_string().contains("gpus"));
}

#[test]
fn parallelism_shapes() {
    assert_eq!(
        shape(Parallelism::Single, 2),
        Shape {
            node_count: 1,
            tasks: 1,
            gpus_per_task: 2
        }
    );
    assert_eq!(shape(Parallelism::TensorParallel, 4).gpus_per_task, 4);
    assert_eq!(
        shape(Parallelism::Split, 3),
        Shape {
            node_count: 0,
            tasks: 3,
            gpus_per_task: 1
        }
    );
    assert_eq!(
        shape(Parallelism::DataParallel, 20),
        Shape {
            node_count: 3,
            tasks: 3,
            gpus_per_task: 7
        }
    );
}

#[test]
fn schedule_windows_span_midnight() {
    let night = ScheduleWindow {
        start: "22:00".into(),
        end: "06:00".into(),
    };
    assert!(night.contains(23 * 60));
    assert!(night.contains(5 * 60 + 59));
    assert!(!night.contains(6 * 60));
    assert!(!night.contains(12 * 60));
    let always = ScheduleWindow {
        start: "00:00".into(),
        end: "00:00".into(),
    };
    assert!(always.contains(0) && always.contains(1439));
    let broken = ScheduleWindow {
        start: "7:00".into(),
        end: "08:00".into(),
    };
    assert!(!broken.contains(7 * 60 + 30));
}
