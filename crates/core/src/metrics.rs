//! Client metrics: relaxed atomic counters plus a fixed log-bucket latency
//! histogram (also atomics), so recording never takes a lock.
//!
//! Counting is per query, per HTTP request or per page, never per member:
//! members are added to `members_returned` a page at a time.
//!
//! [`Metrics::snapshot`] gives a flat, serde-serializable view (the Python
//! `metrics()` dict, including the tutorial's `total`, `success`, `failed`
//! and `latency_sum` keys); [`Metrics::prometheus`] renders the same figures
//! in the Prometheus text exposition format 0.0.4.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;

use serde::Serialize;

use crate::cache::CacheStats;

/// Sub-buckets per power of two: bucket bounds grow by 2^(1/8) ≈ 9 %, so a
/// reported percentile is within about 5 % of the true value.
const SUB_BITS: u32 = 3;
const SUB: u64 = 1 << SUB_BITS;
/// Buckets for values in microseconds up to `u64::MAX`.
const BUCKETS: usize = (SUB + (64 - SUB_BITS as u64) * SUB) as usize;

/// A lock-free histogram of durations in microseconds with log-spaced buckets
/// (the HDR idea at 3 bits of precision). Values below 8 µs get exact buckets.
pub struct LatencyHistogram {
    buckets: Box<[AtomicU64]>,
    count: AtomicU64,
    min_us: AtomicU64,
    max_us: AtomicU64,
}

impl Default for LatencyHistogram {
    fn default() -> Self {
        Self::new()
    }
}

impl std::fmt::Debug for LatencyHistogram {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LatencyHistogram")
            .field("count", &self.count.load(Relaxed))
            .finish_non_exhaustive()
    }
}

fn bucket_index(v: u64) -> usize {
    if v < SUB {
        return v as usize;
    }
    let e = 63 - v.leading_zeros() as u64; // floor(log2 v) >= SUB_BITS
    let shift = e - SUB_BITS as u64;
    let sub = (v >> shift) & (SUB - 1);
    (SUB + shift * SUB + sub) as usize
}

/// `[low, high)` of a bucket, in microseconds.
fn bucket_bounds(i: usize) -> (u64, u64) {
    let i = i as u64;
    if i < SUB {
        return (i, i + 1);
    }
    let shift = (i - SUB) / SUB;
    let sub = (i - SUB) % SUB;
    let low = (SUB + sub) << shift;
    (low, low.saturating_add(1 << shift))
}

impl LatencyHistogram {
    pub fn new() -> Self {
        LatencyHistogram {
            buckets: (0..BUCKETS).map(|_| AtomicU64::new(0)).collect(),
            count: AtomicU64::new(0),
            min_us: AtomicU64::new(u64::MAX),
            max_us: AtomicU64::new(0),
        }
    }

    pub fn record(&self, d: Duration) {
        let us = u64::try_from(d.as_micros()).unwrap_or(u64::MAX);
        self.buckets[bucket_index(us)].fetch_add(1, Relaxed);
        self.count.fetch_add(1, Relaxed);
        self.min_us.fetch_min(us, Relaxed);
        self.max_us.fetch_max(us, Relaxed);
    }

    pub fn count(&self) -> u64 {
        self.count.load(Relaxed)
    }

    /// Estimated quantiles (each in 0..=1) in milliseconds, `None` when
    /// nothing was recorded. The estimate is the midpoint of the bucket
    /// holding the rank-`ceil(q·n)` observation, clamped to the observed
    /// minimum and maximum.
    pub fn quantiles_ms<const N: usize>(&self, qs: [f64; N]) -> [Option<f64>; N] {
        let counts: Vec<u64> = self.buckets.iter().map(|b| b.load(Relaxed)).collect();
        let n: u64 = counts.iter().sum();
        let mut out = [None; N];
        if n == 0 {
            return out;
        }
        let (min, max) = (self.min_us.load(Relaxed), self.max_us.load(Relaxed));
        for (slot, q) in out.iter_mut().zip(qs) {
            let rank = ((q.clamp(0.0, 1.0) * n as f64).ceil() as u64).clamp(1, n);
            let mut seen = 0u64;
            for (i, c) in counts.iter().enumerate() {
                seen += c;
                if seen >= rank {
                    let (lo, hi) = bucket_bounds(i);
                    let mid = if hi - lo <= 1 {
                        lo as f64
                    } else {
                        (lo as f64 + hi as f64) / 2.0
                    };
                    *slot = Some(mid.clamp(min as f64, max as f64) / 1000.0);
                    break;
                }
            }
        }
        out
    }
}

/// All client counters. Share one per client (e.g. in an `Arc`); every
/// method takes `&self`.
#[derive(Debug, Default)]
pub struct Metrics {
    queries_total: AtomicU64,
    queries_succeeded: AtomicU64,
    queries_failed: AtomicU64,
    /// Sum of query latencies in microseconds (exact, unlike the histogram).
    latency_sum_us: AtomicU64,
    latency: LatencyHistogram,
    http_requests: AtomicU64,
    retries: AtomicU64,
    rate_limited: AtomicU64,
    tokens_fetched: AtomicU64,
    cache_hits: AtomicU64,
    cache_misses: AtomicU64,
    members_returned: AtomicU64,
    bytes_received: AtomicU64,
    webhook_deliveries: AtomicU64,
    webhook_failures: AtomicU64,
    audit_failures: AtomicU64,
    auth_replays: AtomicU64,
}

/// A point-in-time copy of [`Metrics`], flat, for `metrics()`.
///
/// Latencies are in milliseconds. `latency_avg_ms` and the percentiles are
/// `None` (Python `None`) until a query finished.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MetricsSnapshot {
    // The tutorial's keys (same values as the queries_* / latency_sum_ms ones).
    pub total: u64,
    pub success: u64,
    pub failed: u64,
    pub latency_sum: f64,
    pub queries_total: u64,
    pub queries_succeeded: u64,
    pub queries_failed: u64,
    pub latency_sum_ms: f64,
    pub latency_avg_ms: Option<f64>,
    pub latency_p50_ms: Option<f64>,
    pub latency_p95_ms: Option<f64>,
    pub latency_p99_ms: Option<f64>,
    pub http_requests: u64,
    pub retries: u64,
    pub rate_limited: u64,
    pub tokens_fetched: u64,
    pub cache_hits: u64,
    pub cache_misses: u64,
    pub members_returned: u64,
    pub bytes_received: u64,
    pub webhook_deliveries: u64,
    pub webhook_failures: u64,
    pub audit_failures: u64,
    /// Requests replayed once after a 401 and a fresh token.
    pub auth_replays: u64,
}

impl Metrics {
    pub fn new() -> Self {
        Self::default()
    }

    /// One finished query (success or failure) and its wall time.
    pub fn record_query(&self, succeeded: bool, latency: Duration) {
        self.queries_total.fetch_add(1, Relaxed);
        if succeeded {
            self.queries_succeeded.fetch_add(1, Relaxed);
        } else {
            self.queries_failed.fetch_add(1, Relaxed);
        }
        let us = u64::try_from(latency.as_micros()).unwrap_or(u64::MAX);
        self.latency_sum_us.fetch_add(us, Relaxed);
        self.latency.record(latency);
    }

    /// An HTTP request sent (API or token endpoint), retries included.
    pub fn add_http_request(&self) {
        self.http_requests.fetch_add(1, Relaxed);
    }
    /// A request repeated after a retryable failure.
    pub fn add_retry(&self) {
        self.retries.fetch_add(1, Relaxed);
    }
    /// A 429 answer seen.
    pub fn add_rate_limited(&self) {
        self.rate_limited.fetch_add(1, Relaxed);
    }
    /// A token obtained from the token endpoint.
    pub fn add_token_fetched(&self) {
        self.tokens_fetched.fetch_add(1, Relaxed);
    }
    pub fn add_cache_hit(&self) {
        self.cache_hits.fetch_add(1, Relaxed);
    }
    pub fn add_cache_miss(&self) {
        self.cache_misses.fetch_add(1, Relaxed);
    }
    /// Members handed to the caller (add a page at a time).
    pub fn add_members(&self, n: u64) {
        self.members_returned.fetch_add(n, Relaxed);
    }
    /// Response body bytes received from the network (not cache hits).
    pub fn add_bytes(&self, n: u64) {
        self.bytes_received.fetch_add(n, Relaxed);
    }
    /// A completion callback delivered.
    pub fn add_webhook_delivery(&self) {
        self.webhook_deliveries.fetch_add(1, Relaxed);
    }
    /// A completion callback given up on after its retries.
    pub fn add_webhook_failure(&self) {
        self.webhook_failures.fetch_add(1, Relaxed);
    }
    /// An audit record that could not be written to the audit file.
    pub fn add_audit_failure(&self) {
        self.audit_failures.fetch_add(1, Relaxed);
    }

    /// A request replayed once after a 401 and a fresh token.
    pub fn add_auth_replay(&self) {
        self.auth_replays.fetch_add(1, Relaxed);
    }

    pub fn snapshot(&self) -> MetricsSnapshot {
        let total = self.queries_total.load(Relaxed);
        let succeeded = self.queries_succeeded.load(Relaxed);
        let failed = self.queries_failed.load(Relaxed);
        let sum_ms = self.latency_sum_us.load(Relaxed) as f64 / 1000.0;
        let [p50, p95, p99] = self.latency.quantiles_ms([0.5, 0.95, 0.99]);
        MetricsSnapshot {
            total,
            success: succeeded,
            failed,
            latency_sum: sum_ms,
            queries_total: total,
            queries_succeeded: succeeded,
            queries_failed: failed,
            latency_sum_ms: sum_ms,
            latency_avg_ms: (total > 0).then(|| sum_ms / total as f64),
            latency_p50_ms: p50,
            latency_p95_ms: p95,
            latency_p99_ms: p99,
            http_requests: self.http_requests.load(Relaxed),
            retries: self.retries.load(Relaxed),
            rate_limited: self.rate_limited.load(Relaxed),
            tokens_fetched: self.tokens_fetched.load(Relaxed),
            cache_hits: self.cache_hits.load(Relaxed),
            cache_misses: self.cache_misses.load(Relaxed),
            members_returned: self.members_returned.load(Relaxed),
            bytes_received: self.bytes_received.load(Relaxed),
            webhook_deliveries: self.webhook_deliveries.load(Relaxed),
            webhook_failures: self.webhook_failures.load(Relaxed),
            audit_failures: self.audit_failures.load(Relaxed),
            auth_replays: self.auth_replays.load(Relaxed),
        }
    }

    /// The Prometheus text exposition (format 0.0.4) of the same figures,
    /// metric names prefixed `cxone_cdp_`. Latency is a summary in seconds.
    pub fn prometheus(&self) -> String {
        self.snapshot().prometheus()
    }

    /// [`Metrics::prometheus`] followed by the response cache's gauges and
    /// counters (entries, bytes, evictions, expirations; hits and misses are
    /// already among the metrics).
    pub fn prometheus_with_cache(&self, cache: &CacheStats) -> String {
        let mut out = self.prometheus();
        push_cache_families(&mut out, cache);
        out
    }
}

fn push_cache_families(out: &mut String, c: &CacheStats) {
    for (name, ty, help, value) in [
        (
            "cache_entries",
            "gauge",
            "Pages held in the response cache.",
            c.entries,
        ),
        (
            "cache_bytes",
            "gauge",
            "Bytes of page bodies held in the response cache.",
            c.bytes,
        ),
        (
            "cache_capacity",
            "gauge",
            "Configured response cache capacity (0 = disabled).",
            c.capacity,
        ),
        (
            "cache_evictions_total",
            "counter",
            "Cache entries evicted because the cache was full.",
            c.evictions,
        ),
        (
            "cache_expirations_total",
            "counter",
            "Cache entries dropped because their TTL passed.",
            c.expirations,
        ),
    ] {
        let _ = writeln!(out, "# HELP cxone_cdp_{name} {help}");
        let _ = writeln!(out, "# TYPE cxone_cdp_{name} {ty}");
        let _ = writeln!(out, "cxone_cdp_{name} {value}");
    }
}

/// Formats a sample value the way Prometheus expects.
fn prom_value(v: f64) -> String {
    if v.is_nan() {
        "NaN".into()
    } else if v == f64::INFINITY {
        "+Inf".into()
    } else if v == f64::NEG_INFINITY {
        "-Inf".into()
    } else {
        format!("{v}")
    }
}

impl MetricsSnapshot {
    /// See [`Metrics::prometheus`].
    pub fn prometheus(&self) -> String {
        let mut out = String::with_capacity(2048);
        let counters: [(&str, &str, u64); 15] = [
            ("queries_total", "Queries finished.", self.queries_total),
            (
                "queries_succeeded_total",
                "Queries that succeeded.",
                self.queries_succeeded,
            ),
            (
                "queries_failed_total",
                "Queries that failed.",
                self.queries_failed,
            ),
            (
                "http_requests_total",
                "HTTP requests sent, retries and token requests included.",
                self.http_requests,
            ),
            (
                "retries_total",
                "Requests repeated after a retryable failure.",
                self.retries,
            ),
            (
                "rate_limited_total",
                "HTTP 429 answers seen.",
                self.rate_limited,
            ),
            (
                "tokens_fetched_total",
                "Access tokens obtained.",
                self.tokens_fetched,
            ),
            (
                "cache_hits_total",
                "Pages served from the response cache.",
                self.cache_hits,
            ),
            (
                "cache_misses_total",
                "Pages not found in the response cache.",
                self.cache_misses,
            ),
            (
                "members_returned_total",
                "Audience members returned to callers.",
                self.members_returned,
            ),
            (
                "received_bytes_total",
                "Response body bytes received from the network.",
                self.bytes_received,
            ),
            (
                "webhook_deliveries_total",
                "Completion callbacks delivered.",
                self.webhook_deliveries,
            ),
            (
                "webhook_failures_total",
                "Completion callbacks that could not be delivered.",
                self.webhook_failures,
            ),
            (
                "audit_failures_total",
                "Audit records that could not be written to the audit file.",
                self.audit_failures,
            ),
            (
                "auth_replays_total",
                "Requests replayed after a 401 and a fresh token.",
                self.auth_replays,
            ),
        ];
        for (name, help, value) in counters {
            let _ = writeln!(out, "# HELP cxone_cdp_{name} {help}");
            let _ = writeln!(out, "# TYPE cxone_cdp_{name} counter");
            let _ = writeln!(out, "cxone_cdp_{name} {value}");
        }

        let name = "cxone_cdp_query_latency_seconds";
        let _ = writeln!(
            out,
            "# HELP {name} Query latency in seconds (quantiles estimated from a log-bucket histogram)."
        );
        let _ = writeln!(out, "# TYPE {name} summary");
        for (q, v) in [
            ("0.5", self.latency_p50_ms),
            ("0.95", self.latency_p95_ms),
            ("0.99", self.latency_p99_ms),
        ] {
            let secs = v.map_or(f64::NAN, |ms| ms / 1000.0);
            let _ = writeln!(out, "{name}{{quantile=\"{q}\"}} {}", prom_value(secs));
        }
        let _ = writeln!(
            out,
            "{name}_sum {}",
            prom_value(self.latency_sum_ms / 1000.0)
        );
        let _ = writeln!(out, "{name}_count {}", self.queries_total);

        let name = "cxone_cdp_query_latency_average_seconds";
        let _ = writeln!(out, "# HELP {name} Mean query latency in seconds.");
        let _ = writeln!(out, "# TYPE {name} gauge");
        let avg = self.latency_avg_ms.map_or(f64::NAN, |ms| ms / 1000.0);
        let _ = writeln!(out, "{name} {}", prom_value(avg));
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::{HashMap, HashSet};
    use std::sync::Arc;

    #[test]
    fn buckets_are_contiguous_and_cover_values() {
        let mut prev_high = 0;
        for i in 0..BUCKETS {
            let (lo, hi) = bucket_bounds(i);
            assert_eq!(
                lo,
                prev_high,
                "bucket {i} starts where {} ends",
                i.saturating_sub(1)
            );
            assert!(hi > lo || hi == u64::MAX);
            prev_high = hi;
        }
        for v in [0, 1, 7, 8, 9, 15, 16, 17, 1000, 123_456, 1 << 40, u64::MAX] {
            let (lo, hi) = bucket_bounds(bucket_index(v));
            assert!(lo <= v && (v < hi || hi == u64::MAX), "{v} in [{lo},{hi})");
        }
    }

    #[test]
    fn quantiles_are_close_to_exact() {
        let h = LatencyHistogram::new();
        // 1..=1000 ms
        for ms in 1..=1000u64 {
            h.record(Duration::from_millis(ms));
        }
        let [p50, p95, p99] = h.quantiles_ms([0.5, 0.95, 0.99]);
        for (got, want) in [(p50, 500.0), (p95, 950.0), (p99, 990.0)] {
            let got = got.unwrap();
            assert!((got - want).abs() / want < 0.06, "got {got}, want ~{want}");
        }
    }

    #[test]
    fn single_observation_is_exact_and_empty_is_none() {
        let h = LatencyHistogram::new();
        assert_eq!(h.quantiles_ms([0.5]), [None]);
        h.record(Duration::from_micros(12_345));
        assert_eq!(h.quantiles_ms([0.5, 0.99]), [Some(12.345), Some(12.345)]);
    }

    #[test]
    fn snapshot_counts_and_tutorial_keys() {
        let m = Metrics::new();
        m.record_query(true, Duration::from_millis(100));
        m.record_query(true, Duration::from_millis(300));
        m.record_query(false, Duration::from_millis(200));
        m.add_http_request();
        m.add_http_request();
        m.add_retry();
        m.add_rate_limited();
        m.add_token_fetched();
        m.add_cache_hit();
        m.add_cache_miss();
        m.add_cache_miss();
        m.add_members(250);
        m.add_members(50);
        m.add_bytes(4096);
        m.add_webhook_delivery();
        m.add_webhook_failure();
        m.add_audit_failure();
        let s = m.snapshot();
        assert_eq!((s.total, s.success, s.failed), (3, 2, 1));
        assert_eq!(
            (s.queries_total, s.queries_succeeded, s.queries_failed),
            (3, 2, 1)
        );
        assert_eq!(s.latency_sum, 600.0);
        assert_eq!(s.latency_sum_ms, 600.0);
        assert_eq!(s.latency_avg_ms, Some(200.0));
        let p50 = s.latency_p50_ms.unwrap();
        assert!((p50 - 200.0).abs() < 12.0, "{p50}");
        assert_eq!(s.latency_p99_ms, Some(300.0), "clamped to the max");
        assert_eq!((s.http_requests, s.retries, s.rate_limited), (2, 1, 1));
        assert_eq!((s.tokens_fetched, s.cache_hits, s.cache_misses), (1, 1, 2));
        assert_eq!((s.members_returned, s.bytes_received), (300, 4096));
        assert_eq!(
            (s.webhook_deliveries, s.webhook_failures, s.audit_failures),
            (1, 1, 1)
        );

        let json = serde_json::to_value(&s).unwrap();
        let obj = json.as_object().unwrap();
        for k in [
            "total",
            "success",
            "failed",
            "latency_sum",
            "latency_p95_ms",
        ] {
            assert!(obj.contains_key(k), "{k}");
        }
        assert!(obj.values().all(|v| v.is_number()), "flat numbers: {json}");
    }

    #[test]
    fn empty_snapshot_has_no_averages() {
        let s = Metrics::new().snapshot();
        assert_eq!(s.total, 0);
        assert_eq!(s.latency_avg_ms, None);
        assert_eq!(s.latency_p50_ms, None);
        let json = serde_json::to_value(&s).unwrap();
        assert!(json["latency_avg_ms"].is_null());
    }

    #[test]
    fn concurrent_counting_is_exact() {
        let m = Arc::new(Metrics::new());
        let hs: Vec<_> = (0..4)
            .map(|_| {
                let m = m.clone();
                std::thread::spawn(move || {
                    for i in 0..1000 {
                        m.record_query(i % 4 != 0, Duration::from_millis(i % 50));
                        m.add_members(10);
                    }
                })
            })
            .collect();
        for h in hs {
            h.join().unwrap();
        }
        let s = m.snapshot();
        assert_eq!((s.total, s.success, s.failed), (4000, 3000, 1000));
        assert_eq!(s.members_returned, 40_000);
        assert_eq!(m.latency.count(), 4000);
    }

    /// A line-by-line checker for the text exposition format 0.0.4.
    /// Returns the samples as (name, labels, value).
    fn parse_prometheus(text: &str) -> Vec<(String, String, f64)> {
        fn valid_name(n: &str) -> bool {
            let mut cs = n.chars();
            matches!(cs.next(), Some(c) if c.is_ascii_alphabetic() || c == '_' || c == ':')
                && cs.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
        }
        fn family_of(sample: &str, types: &HashMap<String, String>) -> Option<String> {
            if types.contains_key(sample) {
                return Some(sample.to_string());
            }
            for suffix in ["_sum", "_count", "_bucket"] {
                if let Some(base) = sample.strip_suffix(suffix) {
                    if matches!(
                        types.get(base).map(String::as_str),
                        Some("summary" | "histogram")
                    ) {
                        return Some(base.to_string());
                    }
                }
            }
            None
        }
        assert!(text.ends_with('\n'), "exposition ends with a newline");
        let mut types: HashMap<String, String> = HashMap::new();
        let mut helps: HashSet<String> = HashSet::new();
        let mut seen_families: Vec<String> = Vec::new();
        let mut samples = Vec::new();
        for (no, line) in text.lines().enumerate() {
            let ctx = format!("line {}: {line:?}", no + 1);
            assert!(!line.is_empty(), "{ctx}: no empty lines");
            if let Some(rest) = line.strip_prefix("# HELP ") {
                let (name, help) = rest.split_once(' ').expect(&ctx);
                assert!(valid_name(name) && !help.is_empty(), "{ctx}");
                assert!(helps.insert(name.into()), "{ctx}: HELP once per family");
            } else if let Some(rest) = line.strip_prefix("# TYPE ") {
                let (name, ty) = rest.split_once(' ').expect(&ctx);
                assert!(valid_name(name), "{ctx}");
                assert!(
                    ["counter", "gauge", "summary", "histogram", "untyped"].contains(&ty),
                    "{ctx}"
                );
                assert!(
                    types.insert(name.into(), ty.into()).is_none(),
                    "{ctx}: TYPE once per family"
                );
            } else {
                assert!(!line.starts_with('#'), "{ctx}: unknown comment form");
                let (head, value) = line.rsplit_once(' ').expect(&ctx);
                let (name, labels) = match head.split_once('{') {
                    Some((n, l)) => {
                        let l = l.strip_suffix('}').expect(&ctx);
                        for pair in l.split(',') {
                            let (k, v) = pair.split_once('=').expect(&ctx);
                            assert!(valid_name(k) && !k.starts_with("__"), "{ctx}");
                            assert!(
                                v.len() >= 2 && v.starts_with('"') && v.ends_with('"'),
                                "{ctx}"
                            );
                        }
                        (n, l)
                    }
                    None => (head, ""),
                };
                assert!(valid_name(name), "{ctx}");
                assert!(name.starts_with("cxone_cdp_"), "{ctx}: prefix");
                let v: f64 = match value {
                    "NaN" => f64::NAN,
                    "+Inf" => f64::INFINITY,
                    "-Inf" => f64::NEG_INFINITY,
                    v => v.parse().unwrap_or_else(|_| panic!("{ctx}: value")),
                };
                let family = family_of(name, &types).unwrap_or_else(|| panic!("{ctx}: TYPE first"));
                let ty = &types[&family];
                if ty == "counter" {
                    assert!(name.ends_with("_total"), "{ctx}: counters end in _total");
                    assert!(v >= 0.0, "{ctx}");
                }
                if ty == "summary" && name == family {
                    assert!(labels.starts_with("quantile=\""), "{ctx}");
                }
                // samples of one family are contiguous
                if seen_families.last() != Some(&family) {
                    assert!(!seen_families.contains(&family), "{ctx}: family split");
                    seen_families.push(family);
                }
                samples.push((name.to_string(), labels.to_string(), v));
            }
        }
        samples
    }

    #[test]
    fn prometheus_text_parses() {
        for m in [Metrics::new(), {
            let m = Metrics::new();
            m.record_query(true, Duration::from_millis(40));
            m.record_query(false, Duration::from_millis(60));
            m.add_members(7);
            m.add_bytes(1234);
            m.add_rate_limited();
            m
        }] {
            let text = m.prometheus();
            let samples = parse_prometheus(&text);
            let get = |n: &str, l: &str| {
                samples
                    .iter()
                    .find(|(sn, sl, _)| sn == n && sl == l)
                    .unwrap_or_else(|| panic!("{n}{{{l}}} in\n{text}"))
                    .2
            };
            let s = m.snapshot();
            assert_eq!(get("cxone_cdp_queries_total", ""), s.total as f64);
            assert_eq!(get("cxone_cdp_queries_failed_total", ""), s.failed as f64);
            assert_eq!(
                get("cxone_cdp_members_returned_total", ""),
                s.members_returned as f64
            );
            assert_eq!(
                get("cxone_cdp_received_bytes_total", ""),
                s.bytes_received as f64
            );
            assert_eq!(
                get("cxone_cdp_rate_limited_total", ""),
                s.rate_limited as f64
            );
            assert_eq!(
                get("cxone_cdp_query_latency_seconds_count", ""),
                s.total as f64
            );
            let sum = get("cxone_cdp_query_latency_seconds_sum", "");
            assert!((sum - s.latency_sum_ms / 1000.0).abs() < 1e-9);
            let p50 = get("cxone_cdp_query_latency_seconds", "quantile=\"0.5\"");
            match s.latency_p50_ms {
                None => assert!(p50.is_nan()),
                Some(ms) => assert!((p50 - ms / 1000.0).abs() < 1e-9),
            }
        }
    }

    #[test]
    fn prometheus_with_cache_parses() {
        let m = Metrics::new();
        m.add_cache_hit();
        let stats = CacheStats {
            hits: 1,
            entries: 3,
            bytes: 900,
            capacity: 50,
            evictions: 2,
            expirations: 1,
            ..CacheStats::default()
        };
        let text = m.prometheus_with_cache(&stats);
        let samples = parse_prometheus(&text);
        let get = |n: &str| samples.iter().find(|s| s.0 == n).map(|s| s.2);
        assert_eq!(get("cxone_cdp_cache_hits_total"), Some(1.0));
        assert_eq!(get("cxone_cdp_cache_entries"), Some(3.0));
        assert_eq!(get("cxone_cdp_cache_bytes"), Some(900.0));
        assert_eq!(get("cxone_cdp_cache_evictions_total"), Some(2.0));
        assert_eq!(get("cxone_cdp_cache_expirations_total"), Some(1.0));
    }

    #[test]
    fn checker_rejects_bad_text() {
        let bad = [
            "cxone_cdp_x_total 1\n",                                     // no TYPE
            "# TYPE cxone_cdp_x counter\ncxone_cdp_x 1\n",               // counter without _total
            "# TYPE cxone_cdp_x_total counter\ncxone_cdp_x_total one\n", // bad value
            "# TYPE cxone_cdp_x_total counter\ncxone_cdp_x_total 1",     // no final newline
            "# TYPE cxone_cdp_g gauge\ncxone_cdp_g{a=b} 1\n",            // unquoted label
            "# TYPE 9bad gauge\n9bad 1\n",                               // bad name
        ];
        for text in bad {
            let r = std::panic::catch_unwind(|| parse_prometheus(text));
            assert!(r.is_err(), "checker accepted {text:?}");
        }
    }
}
