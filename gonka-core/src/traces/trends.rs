//! Time buckets of traces for charts: requests, errors, TTFT and latency percentiles, tokens/s.

use serde::{Deserialize, Serialize};

use super::TraceStatus;

/// The columns of one trace that trends need ([`super::TraceStore::trend_samples`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct TrendSample {
    /// When the request arrived, Unix milliseconds.
    pub timestamp_ms: i64,
    /// How it ended.
    pub status: TraceStatus,
    /// Time to first byte, when known.
    pub ttft_ms: Option<f64>,
    /// Latency, when known.
    pub latency_ms: Option<f64>,
    /// Completion tokens, when reported.
    pub completion_tokens: Option<u64>,
}

/// One time bucket of [`trend_buckets`].
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TrendBucket {
    /// Start of the bucket, Unix milliseconds.
    pub t_ms: i64,
    /// Requests that arrived in the bucket.
    pub requests: u64,
    /// `requests` divided by the bucket's length in seconds.
    pub requests_per_second: f64,
    /// Of them, failed or rejected ones.
    pub errors: u64,
    /// Median TTFT of the bucket's requests that have one.
    pub ttft_p50_ms: Option<f64>,
    /// Median latency of the bucket's completed requests.
    pub latency_p50_ms: Option<f64>,
    /// 95th percentile latency of the bucket's completed requests.
    pub latency_p95_ms: Option<f64>,
    /// 99th percentile latency of the bucket's completed requests.
    pub latency_p99_ms: Option<f64>,
    /// Completion tokens of the bucket's completed requests divided by the bucket's length in
    /// seconds.
    pub tokens_per_second: f64,
}

/// Buckets of `bucket_ms` covering `[start_ms, end_ms)`, oldest first, every bucket present
/// (empty ones with zero counts and `None` percentiles). Bucket `i` starts at `start_ms + i *
/// bucket_ms`; samples outside the range are ignored. Percentiles are nearest-rank.
/// A `bucket_ms` of 0 or an empty range gives no bucket.
pub fn trend_buckets(
    samples: &[TrendSample],
    start_ms: i64,
    end_ms: i64,
    bucket_ms: i64,
) -> Vec<TrendBucket> {
    if bucket_ms <= 0 || end_ms <= start_ms {
        return Vec::new();
    }
    let n = usize::try_from((end_ms - start_ms + bucket_ms - 1) / bucket_ms).unwrap_or(0);
    let seconds = bucket_ms as f64 / 1000.0;
    let mut ttft: Vec<Vec<f64>> = vec![Vec::new(); n];
    let mut latency: Vec<Vec<f64>> = vec![Vec::new(); n];
    let mut out: Vec<TrendBucket> = (0..n)
        .map(|i| TrendBucket {
            t_ms: start_ms + i as i64 * bucket_ms,
            ..TrendBucket::default()
        })
        .collect();
    let mut tokens = vec![0u64; n];
    for s in samples {
        if s.timestamp_ms < start_ms || s.timestamp_ms >= end_ms {
            continue;
        }
        let Ok(i) = usize::try_from((s.timestamp_ms - start_ms) / bucket_ms) else {
            continue;
        };
        let Some(b) = out.get_mut(i) else { continue };
        b.requests += 1;
        if s.status.is_error() {
            b.errors += 1;
        }
        if let Some(t) = s.ttft_ms {
            ttft[i].push(t);
        }
        if s.status == TraceStatus::Completed {
            if let Some(l) = s.latency_ms {
                latency[i].push(l);
            }
            tokens[i] += s.completion_tokens.unwrap_or(0);
        }
    }
    for (i, b) in out.iter_mut().enumerate() {
        b.requests_per_second = b.requests as f64 / seconds;
        b.tokens_per_second = tokens[i] as f64 / seconds;
        b.ttft_p50_ms = percentile(&mut ttft[i], 50);
        b.latency_p50_ms = percentile(&mut latency[i], 50);
        b.latency_p95_ms = percentile(&mut latency[i], 95);
        b.latency_p99_ms = percentile(&mut latency[i], 99);
    }
    out
}

/// Nearest-rank percentile `p` of `values` (sorted in place); `None` when empty.
fn percentile(values: &mut [f64], p: usize) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    values.sort_unstable_by(f64::total_cmp);
    let rank = (p * values.len()).div_ceil(100).max(1);
    values.get(rank - 1).copied()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(t: i64, status: TraceStatus, latency: f64, tokens: u64) -> TrendSample {
        TrendSample {
            timestamp_ms: t,
            status,
            ttft_ms: Some(latency / 2.0),
            latency_ms: Some(latency),
            completion_tokens: Some(tokens),
        }
    }

    #[test]
    fn buckets_cover_the_range_and_count_each_sample_once() {
        let samples = [
            sample(1_000, TraceStatus::Completed, 100.0, 10),
            sample(1_999, TraceStatus::Completed, 300.0, 30),
            sample(2_000, TraceStatus::Failed, 50.0, 0),
            sample(4_500, TraceStatus::Completed, 10.0, 1),
            sample(999, TraceStatus::Completed, 1.0, 1),
            sample(5_000, TraceStatus::Completed, 1.0, 1),
        ];
        let b = trend_buckets(&samples, 1_000, 5_000, 1_000);
        assert_eq!(b.len(), 4);
        assert_eq!(
            b.iter().map(|b| b.t_ms).collect::<Vec<_>>(),
            [1_000, 2_000, 3_000, 4_000]
        );
        assert_eq!(b[0].requests, 2);
        assert_eq!(b[0].latency_p50_ms, Some(100.0));
        assert_eq!(b[0].latency_p99_ms, Some(300.0));
        assert_eq!(b[0].tokens_per_second, 40.0);
        assert_eq!(b[1].errors, 1);
        assert_eq!(
            b[1].latency_p50_ms, None,
            "failed requests have no latency here"
        );
        assert_eq!(b[2].requests, 0);
        assert_eq!(b[2].ttft_p50_ms, None);
        assert_eq!(b[3].requests_per_second, 1.0);
    }

    #[test]
    fn degenerate_ranges_give_no_bucket() {
        assert!(trend_buckets(&[], 10, 10, 1).is_empty());
        assert!(trend_buckets(&[], 0, 10, 0).is_empty());
        assert_eq!(trend_buckets(&[], 0, 10, 3).len(), 4);
    }

    #[test]
    fn nearest_rank_percentiles() {
        let mut v: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(percentile(&mut v, 50), Some(50.0));
        assert_eq!(percentile(&mut v, 95), Some(95.0));
        assert_eq!(percentile(&mut v, 99), Some(99.0));
        assert_eq!(percentile(&mut [7.0], 99), Some(7.0));
    }
}
