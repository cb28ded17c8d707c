//! The [`TraceStore`] conformance suite: every backend runs [`trace_store_suite`].

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::traces::{
    PerformanceRow, Retention, Trace, TraceApi, TraceQuery, TraceStatus, TraceStore, UsageRow,
};

/// A completed trace of `model` on `node` at `t_ms`, with every field set (breakdown, tokens,
/// key, tag), latency 200 ms and 50 completion tokens.
pub fn trace(request_id: &str, t_ms: i64, model: &str, node: &str) -> Trace {
    Trace {
        request_id: request_id.to_owned(),
        timestamp_ms: t_ms,
        api: TraceApi::Openai,
        endpoint: "/v1/chat/completions".to_owned(),
        model: model.to_owned(),
        node_id: Some(node.to_owned()),
        stream: true,
        score: Some(61.5),
        scores_breakdown: Some(BTreeMap::from([
            ("thermal".to_owned(), 50.0),
            ("queue_depth".to_owned(), -3.5),
            ("memory_fit".to_owned(), 15.0),
        ])),
        candidates: 3,
        queue_wait_ms: Some(1.25),
        ttft_ms: Some(40.5),
        latency_ms: Some(200.0),
        prompt_tokens: Some(12),
        completion_tokens: Some(50),
        status: TraceStatus::Completed,
        http_status: 200,
        retries: 0,
        api_key: Some("sha256:0123abcd".to_owned()),
        app_tag: Some("notebook".to_owned()),
    }
}

/// Runs the whole [`TraceStore`] contract against `store`, which must start empty.
pub async fn trace_store_suite<S: TraceStore>(store: S) {
    let s: Arc<dyn TraceStore> = Arc::new(store);
    assert_eq!(s.count().await.unwrap(), 0, "the store must start empty");
    traces_read_back_as_written(&s).await;
    query_is_newest_first_and_filtered(&s).await;
    performance_per_node_and_model(&s).await;
    usage_per_key_and_tag(&s).await;
    trend_samples_are_the_newest(&s).await;
    prune_by_age_and_by_rows(&s).await;
    concurrent_appends_all_land(&s).await;
}

async fn clear(s: &Arc<dyn TraceStore>) {
    let everything = Retention {
        max_age_ms: 0,
        max_rows: 0,
    };
    s.prune(everything, i64::MAX).await.unwrap();
    assert_eq!(
        s.count().await.unwrap(),
        0,
        "prune with max_rows 0 must empty the store"
    );
}

fn all(limit: usize) -> TraceQuery {
    TraceQuery {
        limit,
        ..TraceQuery::default()
    }
}

fn close(a: Option<f64>, b: Option<f64>) -> bool {
    match (a, b) {
        (None, None) => true,
        (Some(a), Some(b)) => (a - b).abs() <= 1e-6 * a.abs().max(b.abs()).max(1.0),
        _ => false,
    }
}

/// Every field, `None`s and the Ollama API included, reads back as written.
async fn traces_read_back_as_written(s: &Arc<dyn TraceStore>) {
    clear(s).await;
    let full = trace("r-full", 1_000, "m", "n1");
    let bare = Trace {
        request_id: "r-bare".into(),
        timestamp_ms: 2_000,
        api: TraceApi::Ollama,
        endpoint: "/api/chat".into(),
        model: "unknown/model".into(),
        status: TraceStatus::Rejected,
        http_status: 404,
        ..Trace::default()
    };
    s.append(vec![full.clone(), bare.clone()]).await.unwrap();
    s.append(Vec::new()).await.unwrap();
    assert_eq!(s.count().await.unwrap(), 2);
    let got = s.query(&all(10)).await.unwrap();
    assert_eq!(got.len(), 2, "{got:?}");
    assert_eq!(got[0], bare, "a trace with no node, score or tokens");
    let g = &got[1];
    assert_eq!(g.request_id, full.request_id);
    assert_eq!(g.scores_breakdown, full.scores_breakdown);
    for (name, a, b) in [
        ("score", g.score, full.score),
        ("queue_wait_ms", g.queue_wait_ms, full.queue_wait_ms),
        ("ttft_ms", g.ttft_ms, full.ttft_ms),
        ("latency_ms", g.latency_ms, full.latency_ms),
    ] {
        assert!(close(a, b), "{name}: wrote {b:?}, read {a:?}");
    }
    let same = Trace {
        score: full.score,
        queue_wait_ms: full.queue_wait_ms,
        ttft_ms: full.ttft_ms,
        latency_ms: full.latency_ms,
        ..g.clone()
    };
    assert_eq!(same, full, "every other field reads back as written");
}

async fn query_is_newest_first_and_filtered(s: &Arc<dyn TraceStore>) {
    clear(s).await;
    let mut batch = Vec::new();
    for i in 0..30i64 {
        let mut t = trace(
            &format!("r{i}"),
            10_000 + i * 10,
            if i % 2 == 0 { "even" } else { "odd" },
            if i % 3 == 0 { "n0" } else { "n1" },
        );
        if i % 5 == 0 {
            t.status = TraceStatus::Failed;
            t.http_status = 502;
        }
        batch.push(t);
    }
    // Two traces with the same time: the one appended last comes first.
    batch.push(trace("tie-a", 20_000, "even", "n0"));
    s.append(batch).await.unwrap();
    s.append(vec![trace("tie-b", 20_000, "even", "n0")])
        .await
        .unwrap();
    let ids = |v: Vec<Trace>| v.into_iter().map(|t| t.request_id).collect::<Vec<_>>();
    assert_eq!(
        ids(s.query(&all(4)).await.unwrap()),
        ["tie-b", "tie-a", "r29", "r28"],
        "newest first, ties by append order, limited"
    );
    assert!(s.query(&all(0)).await.unwrap().is_empty(), "limit 0");
    let q = TraceQuery {
        limit: 100,
        model: Some("odd".into()),
        node_id: Some("n0".into()),
        ..TraceQuery::default()
    };
    // Odd i with i % 3 == 0: 27, 21, 15, 9, 3.
    assert_eq!(
        ids(s.query(&q).await.unwrap()),
        ["r27", "r21", "r15", "r9", "r3"]
    );
    let q = TraceQuery {
        limit: 100,
        status: Some(TraceStatus::Failed),
        since_ms: Some(10_100),
        ..TraceQuery::default()
    };
    assert_eq!(
        ids(s.query(&q).await.unwrap()),
        ["r25", "r20", "r15", "r10"]
    );
    let q = TraceQuery {
        limit: 100,
        model: Some("nothing".into()),
        ..TraceQuery::default()
    };
    assert!(s.query(&q).await.unwrap().is_empty());
}

async fn performance_per_node_and_model(s: &Arc<dyn TraceStore>) {
    clear(s).await;
    let with = |id: &str, t: i64, node: &str, latency: Option<f64>, tokens: Option<u64>| {
        let mut x = trace(id, t, "m", node);
        x.latency_ms = latency;
        x.completion_tokens = tokens;
        x
    };
    let mut failed = trace("f", 5_000, "m", "a");
    failed.status = TraceStatus::Failed;
    let mut cancelled = trace("c", 5_000, "m", "a");
    cancelled.status = TraceStatus::Cancelled;
    let mut unrouted = trace("u", 5_000, "m", "a");
    unrouted.node_id = None;
    unrouted.status = TraceStatus::Rejected;
    s.append(vec![
        with("old", 100, "a", Some(1.0), Some(1)),
        with("a1", 5_000, "a", Some(100.0), Some(10)),
        with("a2", 5_001, "a", Some(300.0), Some(90)),
        with("a3", 5_002, "a", Some(0.0), Some(5)),
        with("a4", 5_003, "a", None, Some(5)),
        with("b1", 5_000, "B", Some(50.0), None),
        failed,
        cancelled,
        unrouted,
    ])
    .await
    .unwrap();
    let rows = s.performance(1_000).await.unwrap();
    let expected = [
        PerformanceRow {
            node_id: "B".into(),
            model: "m".into(),
            count: 1,
            errors: 0,
            mean_latency_ms: Some(50.0),
            tokens_per_second: None,
        },
        PerformanceRow {
            node_id: "a".into(),
            model: "m".into(),
            count: 4,
            errors: 1,
            // (100 + 300 + 0) / 3: a4 has no latency.
            mean_latency_ms: Some(400.0 / 3.0),
            // (10/0.1 + 90/0.3) / 2: a3's latency is 0, a4 has none.
            tokens_per_second: Some(200.0),
        },
    ];
    assert_eq!(rows.len(), 2, "{rows:?}");
    for (got, want) in rows.iter().zip(&expected) {
        assert_eq!(
            (&got.node_id, &got.model, got.count, got.errors),
            (&want.node_id, &want.model, want.count, want.errors),
            "{rows:?}"
        );
        assert!(
            close(got.mean_latency_ms, want.mean_latency_ms),
            "{got:?} vs {want:?}"
        );
        assert!(
            close(got.tokens_per_second, want.tokens_per_second),
            "{got:?} vs {want:?}"
        );
    }
    assert!(s.performance(1_000_000).await.unwrap().is_empty());
}

async fn usage_per_key_and_tag(s: &Arc<dyn TraceStore>) {
    clear(s).await;
    let with = |id: &str, key: Option<&str>, tag: Option<&str>, status: TraceStatus| {
        let mut x = trace(id, 5_000, "m", "n");
        x.api_key = key.map(str::to_owned);
        x.app_tag = tag.map(str::to_owned);
        x.status = status;
        if status == TraceStatus::Rejected {
            x.prompt_tokens = None;
            x.completion_tokens = None;
        }
        x
    };
    let mut old = with("old", Some("k1"), None, TraceStatus::Completed);
    old.timestamp_ms = 10;
    s.append(vec![
        old,
        with("1", Some("k1"), Some("app"), TraceStatus::Completed),
        with("2", Some("k1"), Some("app"), TraceStatus::Failed),
        with("3", Some("k1"), Some("app"), TraceStatus::Cancelled),
        with("4", None, None, TraceStatus::Rejected),
        with("5", Some("k1"), None, TraceStatus::Completed),
        with("6", None, Some("app"), TraceStatus::Completed),
    ])
    .await
    .unwrap();
    let rows = s.usage(1_000).await.unwrap();
    let row =
        |key: Option<&str>, tag: Option<&str>, requests, tokens: (u64, u64), errors| UsageRow {
            api_key: key.map(str::to_owned),
            app_tag: tag.map(str::to_owned),
            requests,
            prompt_tokens: tokens.0,
            completion_tokens: tokens.1,
            errors,
        };
    assert_eq!(
        rows,
        [
            row(Some("k1"), Some("app"), 3, (36, 150), 1),
            row(None, None, 1, (0, 0), 1),
            row(None, Some("app"), 1, (12, 50), 0),
            row(Some("k1"), None, 1, (12, 50), 0),
        ],
        "requests descending, then key and tag with None first"
    );
}

async fn trend_samples_are_the_newest(s: &Arc<dyn TraceStore>) {
    clear(s).await;
    let batch = (0..20i64)
        .map(|i| trace(&format!("t{i}"), 1_000 + i, "m", "n"))
        .collect();
    s.append(batch).await.unwrap();
    let samples = s.trend_samples(1_005, 5).await.unwrap();
    assert_eq!(
        samples.iter().map(|x| x.timestamp_ms).collect::<Vec<_>>(),
        [1_019, 1_018, 1_017, 1_016, 1_015]
    );
    let x = samples[0];
    assert_eq!(x.status, TraceStatus::Completed);
    assert_eq!(x.completion_tokens, Some(50));
    assert!(close(x.latency_ms, Some(200.0)) && close(x.ttft_ms, Some(40.5)));
    assert_eq!(s.trend_samples(1_015, 100).await.unwrap().len(), 5);
}

async fn prune_by_age_and_by_rows(s: &Arc<dyn TraceStore>) {
    clear(s).await;
    let batch = (0..10i64)
        .map(|i| trace(&format!("p{i}"), 1_000 * (i + 1), "m", "n"))
        .collect();
    s.append(batch).await.unwrap();
    // Age: now 10,500 with 5 s kept removes t < 5,500 (p0..p4).
    let removed = s
        .prune(
            Retention {
                max_age_ms: 5_000,
                max_rows: 100,
            },
            10_500,
        )
        .await
        .unwrap();
    assert_eq!(removed, 5, "five traces were older than the age limit");
    // Rows: keep the 3 most recently appended, whatever their time.
    s.append(vec![trace("late-old", 6_000, "m", "n")])
        .await
        .unwrap();
    let removed = s
        .prune(
            Retention {
                max_age_ms: i64::MAX / 2,
                max_rows: 3,
            },
            10_500,
        )
        .await
        .unwrap();
    assert_eq!(removed, 3);
    let mut left: Vec<String> = s
        .query(&all(100))
        .await
        .unwrap()
        .into_iter()
        .map(|t| t.request_id)
        .collect();
    left.sort();
    assert_eq!(left, ["late-old", "p8", "p9"]);
    let nothing = s.prune(Retention::default(), 10_500).await.unwrap();
    assert_eq!(nothing, 0, "a prune with nothing to remove removes nothing");
}

async fn concurrent_appends_all_land(s: &Arc<dyn TraceStore>) {
    clear(s).await;
    let mut tasks = tokio::task::JoinSet::new();
    for w in 0..8i64 {
        let s = Arc::clone(s);
        tasks.spawn(async move {
            for b in 0..5i64 {
                let batch = (0..10i64)
                    .map(|i| trace(&format!("w{w}-{b}-{i}"), 1_000 + i, "m", "n"))
                    .collect();
                s.append(batch).await.unwrap();
            }
        });
    }
    while let Some(done) = tasks.join_next().await {
        done.unwrap();
    }
    assert_eq!(
        s.count().await.unwrap(),
        400,
        "every appended trace is stored"
    );
    clear(s).await;
}

/// Appends `total` traces in batches of `batch` (as the gateway's writer does), then reads the
/// 100 newest and the aggregates once; prints the times (not asserted: they vary by machine)
/// and checks that everything was stored. For the backends' tests to report their figures.
pub async fn trace_store_throughput<S: TraceStore>(
    store: &S,
    name: &str,
    total: usize,
    batch: usize,
) {
    let start = std::time::Instant::now();
    let mut written = 0usize;
    while written < total {
        let n = batch.min(total - written);
        let chunk = (written..written + n)
            .map(|i| {
                trace(
                    &format!("t{i}"),
                    1_000_000 + i as i64,
                    "m",
                    &format!("n{}", i % 16),
                )
            })
            .collect();
        store.append(chunk).await.unwrap();
        written += n;
    }
    let append = start.elapsed();
    let start = std::time::Instant::now();
    let newest = store.query(&all(100)).await.unwrap();
    let query = start.elapsed();
    let start = std::time::Instant::now();
    let rows = store.performance(0).await.unwrap();
    let usage = store.usage(0).await.unwrap();
    let aggregates = start.elapsed();
    assert_eq!(store.count().await.unwrap(), total as u64);
    assert_eq!(newest.len(), 100.min(total));
    assert_eq!(rows.len(), 16.min(total));
    assert_eq!(usage.len(), 1);
    println!(
        "{name}: {total} traces appended in batches of {batch} in {append:?} ({:.0} traces/s); \
         100 newest read in {query:?}; performance + usage over all in {aggregates:?}",
        total as f64 / append.as_secs_f64()
    );
}
