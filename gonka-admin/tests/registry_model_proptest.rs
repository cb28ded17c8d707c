//! Model-based property test of the registries: random sequences of upsert / batch /
//! set_enabled / update_status / delete / get / list run against [`MemoryRegistry`] (the model)
//! and against `SqliteRegistry` and (when `GONKA_TEST_POSTGRES_URL` is set) `PostgresRegistry`;
//! every operation must give the same outcome on every backend.
//!
//! The comparison ignores `status_timestamp`, and compares `node_num` only by relative order
//! (the id order of `list`, which is ascending `node_num`). Ids, hosts and ports are drawn from
//! small pools so that replacements, endpoint conflicts and misses happen often. Few cases and
//! short sequences keep it fast.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod postgres_support;

use std::sync::Arc;

use gonka_admin::{PostgresRegistry, SqliteRegistry};
use gonka_core::{
    Error, MemoryRegistry, NodeConfig, NodeRecord, NodeRegistry, NodeStatus, PocStatus,
    StatusUpdate,
};
use postgres_support::TestDb;
use proptest::prelude::*;
use time::OffsetDateTime;

const MODEL: &str = "Qwen/Qwen2.5-7B-Instruct";

/// One registry call, with ids/hosts/ports as indexes into small pools.
#[derive(Debug, Clone)]
enum Op {
    Upsert(Spec),
    Batch(Vec<Spec>),
    SetEnabled {
        id: u8,
        enabled: bool,
        epoch: u64,
    },
    UpdateStatus {
        id: u8,
        current: Option<NodeStatus>,
        poc: Option<PocStatus>,
        reason: Option<String>,
    },
    Delete(u8),
    Get(u8),
    List,
}

/// A node configuration drawn from the pools.
#[derive(Debug, Clone)]
struct Spec {
    id: u8,
    host: u8,
    inference_port: u16,
    poc_port: u16,
    max_concurrent: u32,
}

impl Spec {
    fn config(&self) -> NodeConfig {
        NodeConfig::new(format!("n{}", self.id), MODEL)
            .at(
                format!("10.0.0.{}", self.host),
                self.inference_port,
                self.poc_port,
            )
            .max_concurrent(self.max_concurrent)
    }
}

fn spec() -> impl Strategy<Value = Spec> {
    (0u8..5, 0u8..3, 5050u16..5052, 8080u16..8082, 1u32..4).prop_map(
        |(id, host, inference_port, poc_port, max_concurrent)| Spec {
            id,
            host,
            inference_port,
            poc_port,
            max_concurrent,
        },
    )
}

fn status() -> impl Strategy<Value = NodeStatus> {
    prop_oneof![
        Just(NodeStatus::Unknown),
        Just(NodeStatus::Inference),
        Just(NodeStatus::Poc),
        Just(NodeStatus::Stopped),
        Just(NodeStatus::Failed),
    ]
}

fn poc_status() -> impl Strategy<Value = PocStatus> {
    prop_oneof![
        Just(PocStatus::Idle),
        Just(PocStatus::Generating),
        Just(PocStatus::Validating),
    ]
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => spec().prop_map(Op::Upsert),
        2 => prop::collection::vec(spec(), 0..5).prop_map(Op::Batch),
        1 => (0u8..5, any::<bool>(), 0u64..4)
            .prop_map(|(id, enabled, epoch)| Op::SetEnabled { id, enabled, epoch }),
        1 => (0u8..5, prop::option::of(status()), prop::option::of(poc_status()),
              prop::option::of(prop_oneof![Just(String::new()), "[a-z ]{1,12}"]))
            .prop_map(|(id, current, poc, reason)| Op::UpdateStatus { id, current, poc, reason }),
        1 => (0u8..5).prop_map(Op::Delete),
        1 => (0u8..5).prop_map(Op::Get),
        1 => Just(Op::List),
    ]
}

/// A record with what may legitimately differ between backends erased: the timestamp, and the
/// absolute `node_num` (compared by order through `list`).
fn comparable(record: &NodeRecord) -> NodeRecord {
    let mut r = record.clone();
    r.state.status_timestamp = OffsetDateTime::UNIX_EPOCH;
    r.node.node_num = 0;
    r
}

/// The comparable outcome of one call.
#[derive(Debug, PartialEq)]
enum Outcome {
    Record(NodeRecord),
    Records(Vec<Result<NodeRecord, String>>),
    List(Vec<NodeRecord>),
    Failed(String),
}

fn kind(e: &Error) -> String {
    match e {
        Error::NotFound { id } => format!("not found {id}"),
        // When several endpoints conflict, which one is named is unspecified (it differs even
        // between two MemoryRegistry runs), so only the kind is compared.
        Error::Conflict(_) => "conflict".to_string(),
        other => panic!("unexpected error from a healthy registry: {other}"),
    }
}

fn one(r: gonka_core::Result<NodeRecord>) -> Outcome {
    match r {
        Ok(record) => Outcome::Record(comparable(&record)),
        Err(e) => Outcome::Failed(kind(&e)),
    }
}

async fn apply(registry: &dyn NodeRegistry, op: &Op) -> Outcome {
    let id = |i: &u8| format!("n{i}");
    match op {
        Op::Upsert(s) => one(registry.upsert(s.config()).await),
        Op::Batch(specs) => {
            let configs = specs.iter().map(Spec::config).collect();
            match registry.upsert_batch(configs).await {
                Ok(items) => Outcome::Records(
                    items
                        .iter()
                        .map(|r| r.as_ref().map(comparable).map_err(kind))
                        .collect(),
                ),
                Err(e) => Outcome::Failed(kind(&e)),
            }
        }
        Op::SetEnabled {
            id: i,
            enabled,
            epoch,
        } => one(registry.set_enabled(&id(i), *enabled, *epoch).await),
        Op::UpdateStatus {
            id: i,
            current,
            poc,
            reason,
        } => {
            let update = StatusUpdate {
                current_status: *current,
                poc_current_status: *poc,
                failure_reason: reason.clone(),
                ..StatusUpdate::default()
            };
            one(registry.update_status(&id(i), update).await)
        }
        Op::Delete(i) => one(registry.delete(&id(i)).await),
        Op::Get(i) => one(registry.get(&id(i)).await),
        Op::List => Outcome::List(list(registry).await),
    }
}

/// `list` with node_num erased; the order (ascending node_num) is kept and so compared.
async fn list(registry: &dyn NodeRegistry) -> Vec<NodeRecord> {
    let records = registry.list().await.unwrap();
    let nums: Vec<u64> = records.iter().map(|r| r.node.node_num).collect();
    assert!(
        nums.windows(2).all(|w| w[0] < w[1]),
        "list not in ascending node_num: {nums:?}"
    );
    records.iter().map(comparable).collect()
}

/// Runs `ops` on the model and on `backend`, failing at the first call whose outcome differs,
/// and compares the final listings.
async fn check_against_model(name: &str, backend: Arc<dyn NodeRegistry>, ops: &[Op]) {
    let model = MemoryRegistry::new();
    for (step, op) in ops.iter().enumerate() {
        let expected = apply(&model, op).await;
        let got = apply(backend.as_ref(), op).await;
        assert_eq!(
            got, expected,
            "{name} differs from the model at step {step}: {op:?}"
        );
    }
    assert_eq!(
        list(backend.as_ref()).await,
        list(&model).await,
        "{name}: final listing"
    );
}

/// Runs `ops` against every configured backend; returns the names of the backends compared.
fn run_case(ops: Vec<Op>) -> Vec<&'static str> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let mut compared = vec!["MemoryRegistry", "SqliteRegistry"];
        check_against_model("MemoryRegistry", Arc::new(MemoryRegistry::new()), &ops).await;
        let sqlite = SqliteRegistry::in_temp_dir().await.unwrap();
        check_against_model("SqliteRegistry", Arc::new(sqlite), &ops).await;
        if postgres_configured() {
            let db = TestDb::create().await.unwrap();
            let pg = PostgresRegistry::connect(&db.url).await.unwrap();
            check_against_model("PostgresRegistry", Arc::new(pg), &ops).await;
            db.drop_db().await;
            compared.push("PostgresRegistry");
        }
        compared
    })
}

fn postgres_configured() -> bool {
    std::env::var(postgres_support::URL_VAR).is_ok_and(|u| !u.trim().is_empty())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn random_operation_sequences_agree_with_the_memory_model(ops in prop::collection::vec(op(), 1..24)) {
        let compared = run_case(ops);
        prop_assert!(compared.contains(&"SqliteRegistry"));
    }
}

/// A fixed sequence that touches every operation: the SQL backends (and PostgreSQL exactly when
/// `GONKA_TEST_POSTGRES_URL` is set) are compared against the model, and they agree.
#[test]
fn every_configured_backend_is_compared_on_a_fixed_sequence() {
    let a = Spec {
        id: 0,
        host: 0,
        inference_port: 5050,
        poc_port: 8080,
        max_concurrent: 2,
    };
    let clash = Spec { id: 1, ..a.clone() };
    let ops = vec![
        Op::Upsert(a.clone()),
        Op::Batch(vec![
            clash,
            Spec {
                host: 1,
                id: 2,
                ..a.clone()
            },
        ]),
        Op::SetEnabled {
            id: 0,
            enabled: false,
            epoch: 3,
        },
        Op::UpdateStatus {
            id: 2,
            current: Some(NodeStatus::Inference),
            poc: Some(PocStatus::Idle),
            reason: None,
        },
        Op::Get(4),
        Op::Delete(0),
        Op::List,
    ];
    let compared = run_case(ops);
    let mut expected = vec!["MemoryRegistry", "SqliteRegistry"];
    if postgres_configured() {
        expected.push("PostgresRegistry");
    }
    assert_eq!(compared, expected);
}
