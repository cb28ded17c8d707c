//! An in-memory [`TraceStore`]: for tests, embedding and a gateway without a database.

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Mutex, MutexGuard};

use async_trait::async_trait;

use super::{
    PerformanceRow, Retention, Trace, TraceQuery, TraceStatus, TraceStore, TrendSample, UsageRow,
};
use crate::Result;

/// Traces a [`MemoryTraceStore::new`] keeps at most.
pub const DEFAULT_MEMORY_TRACE_ROWS: usize = 10_000;

/// A [`TraceStore`] in memory, holding at most `capacity` traces: appending beyond it drops the
/// oldest appended ones, so memory stays bounded between prunes. Nothing is persisted.
#[derive(Debug)]
pub struct MemoryTraceStore {
    traces: Mutex<VecDeque<Trace>>,
    capacity: usize,
}

impl Default for MemoryTraceStore {
    fn default() -> Self {
        Self::new()
    }
}

impl MemoryTraceStore {
    /// A store keeping at most [`DEFAULT_MEMORY_TRACE_ROWS`] traces.
    pub fn new() -> Self {
        Self::with_capacity(DEFAULT_MEMORY_TRACE_ROWS)
    }

    /// A store keeping at most `capacity` traces (at least 1).
    pub fn with_capacity(capacity: usize) -> Self {
        Self {
            traces: Mutex::new(VecDeque::new()),
            capacity: capacity.max(1),
        }
    }

    fn lock(&self) -> MutexGuard<'_, VecDeque<Trace>> {
        // Every change is a plain push or pop: a poisoned lock holds consistent data.
        self.traces.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[async_trait]
impl TraceStore for MemoryTraceStore {
    async fn append(&self, traces: Vec<Trace>) -> Result<()> {
        let mut all = self.lock();
        for t in traces {
            if all.len() >= self.capacity {
                all.pop_front();
            }
            all.push_back(t);
        }
        Ok(())
    }

    async fn query(&self, query: &TraceQuery) -> Result<Vec<Trace>> {
        let all = self.lock();
        // Appended order, reversed, then a stable sort by time: ties stay newest-appended first.
        let mut out: Vec<Trace> = all
            .iter()
            .rev()
            .filter(|t| matches(t, query))
            .cloned()
            .collect();
        drop(all);
        out.sort_by_key(|t| std::cmp::Reverse(t.timestamp_ms));
        out.truncate(query.limit);
        Ok(out)
    }

    async fn performance(&self, since_ms: i64) -> Result<Vec<PerformanceRow>> {
        let all = self.lock();
        Ok(performance_of(
            all.iter().filter(|t| t.timestamp_ms >= since_ms),
        ))
    }

    async fn usage(&self, since_ms: i64) -> Result<Vec<UsageRow>> {
        let all = self.lock();
        Ok(usage_of(all.iter().filter(|t| t.timestamp_ms >= since_ms)))
    }

    async fn trend_samples(&self, since_ms: i64, max_rows: usize) -> Result<Vec<TrendSample>> {
        let query = TraceQuery {
            limit: max_rows,
            since_ms: Some(since_ms),
            ..TraceQuery::default()
        };
        Ok(self
            .query(&query)
            .await?
            .iter()
            .map(|t| TrendSample {
                timestamp_ms: t.timestamp_ms,
                status: t.status,
                ttft_ms: t.ttft_ms,
                latency_ms: t.latency_ms,
                completion_tokens: t.completion_tokens,
            })
            .collect())
    }

    async fn prune(&self, retention: Retention, now_ms: i64) -> Result<u64> {
        let mut all = self.lock();
        let before = all.len();
        let cutoff = now_ms.saturating_sub(retention.max_age_ms);
        all.retain(|t| t.timestamp_ms >= cutoff);
        let keep = usize::try_from(retention.max_rows).unwrap_or(usize::MAX);
        while all.len() > keep {
            all.pop_front();
        }
        Ok((before - all.len()) as u64)
    }

    async fn count(&self) -> Result<u64> {
        Ok(self.lock().len() as u64)
    }
}

fn matches(t: &Trace, q: &TraceQuery) -> bool {
    q.model.as_ref().is_none_or(|m| &t.model == m)
        && q.node_id
            .as_ref()
            .is_none_or(|n| t.node_id.as_ref() == Some(n))
        && q.status.is_none_or(|s| t.status == s)
        && q.since_ms.is_none_or(|s| t.timestamp_ms >= s)
}

/// [`PerformanceRow`]s of `traces` as the [`TraceStore`] contract defines them.
pub(crate) fn performance_of<'a>(traces: impl Iterator<Item = &'a Trace>) -> Vec<PerformanceRow> {
    #[derive(Default)]
    struct Acc {
        count: u64,
        errors: u64,
        latency_sum: f64,
        latency_n: u64,
        rate_sum: f64,
        rate_n: u64,
    }
    let mut groups: BTreeMap<(&str, &str), Acc> = BTreeMap::new();
    for t in traces {
        let Some(node) = t.node_id.as_deref() else {
            continue;
        };
        let acc = groups.entry((node, t.model.as_str())).or_default();
        match t.status {
            TraceStatus::Completed => {
                acc.count += 1;
                if let Some(l) = t.latency_ms {
                    acc.latency_sum += l;
                    acc.latency_n += 1;
                    if let (Some(c), true) = (t.completion_tokens, l > 0.0) {
                        acc.rate_sum += c as f64 * 1000.0 / l;
                        acc.rate_n += 1;
                    }
                }
            }
            TraceStatus::Failed => acc.errors += 1,
            _ => {}
        }
    }
    groups
        .into_iter()
        .filter(|(_, a)| a.count + a.errors > 0)
        .map(|((node, model), a)| PerformanceRow {
            node_id: node.to_owned(),
            model: model.to_owned(),
            count: a.count,
            errors: a.errors,
            mean_latency_ms: (a.latency_n > 0).then(|| a.latency_sum / a.latency_n as f64),
            tokens_per_second: (a.rate_n > 0).then(|| a.rate_sum / a.rate_n as f64),
        })
        .collect()
}

/// [`UsageRow`]s of `traces` as the [`TraceStore`] contract defines them.
pub(crate) fn usage_of<'a>(traces: impl Iterator<Item = &'a Trace>) -> Vec<UsageRow> {
    let mut groups: BTreeMap<(Option<&str>, Option<&str>), UsageRow> = BTreeMap::new();
    for t in traces {
        let key = (t.api_key.as_deref(), t.app_tag.as_deref());
        let row = groups.entry(key).or_insert_with(|| UsageRow {
            api_key: t.api_key.clone(),
            app_tag: t.app_tag.clone(),
            ..UsageRow::default()
        });
        row.requests += 1;
        row.prompt_tokens += t.prompt_tokens.unwrap_or(0);
        row.completion_tokens += t.completion_tokens.unwrap_or(0);
        if t.status.is_error() {
            row.errors += 1;
        }
    }
    let mut rows: Vec<UsageRow> = groups.into_values().collect();
    // Stable: ties keep the map's (key, tag) order, `None` first.
    rows.sort_by_key(|r| std::cmp::Reverse(r.requests));
    rows
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(feature = "testing")]
    #[tokio::test]
    async fn memory_trace_store_conforms() {
        crate::testing::trace_store_suite(MemoryTraceStore::new()).await;
    }

    #[cfg(feature = "testing")]
    #[tokio::test]
    async fn memory_trace_store_throughput_is_printed() {
        let store = MemoryTraceStore::with_capacity(20_000);
        crate::testing::trace_store_throughput(&store, "memory", 20_000, 512).await;
    }

    #[tokio::test]
    async fn appending_beyond_the_capacity_drops_the_oldest() {
        let store = MemoryTraceStore::with_capacity(3);
        let t = |id: &str| Trace {
            request_id: id.into(),
            ..Trace::default()
        };
        store
            .append(vec![t("a"), t("b"), t("c"), t("d")])
            .await
            .unwrap();
        store.append(vec![t("e")]).await.unwrap();
        let all = TraceQuery {
            limit: 10,
            ..TraceQuery::default()
        };
        let ids: Vec<String> = store
            .query(&all)
            .await
            .unwrap()
            .into_iter()
            .map(|t| t.request_id)
            .collect();
        assert_eq!(ids, ["e", "d", "c"]);
    }
}
