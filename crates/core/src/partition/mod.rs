//! Partition planning: split one audience query into disjoint sub-queries of
//! roughly equal size, using nothing but the count endpoint, so the listing
//! (a sequential cursor walk) can run in parallel.
//!
//! For a number, date or string attribute `x` the planner finds boundaries
//! `b1 < ... < bk` by bisection on `count(filters AND x < v)` and builds the
//! disjoint cover with the contract's strict operators:
//!
//! ```text
//! x < b1 | x = b1 | b1 < x < b2 | x = b2 | ... | x = bk | x > bk
//! ```
//!
//! (`b1 < x < b2` is the two filters `x > b1` and `x < b2`). Every partition
//! keeps the caller's filters. Before a plan is returned every partition is
//! counted and the counts must add up to the unpartitioned count; a member
//! that lacks the attribute matches no condition on it, so such members make
//! planning fail with a `ValidationError` (code `partition_cover_incomplete`)
//! instead of being silently lost.
//!
//! The search runs in rounds: every unfinished boundary proposes one probe,
//! the distinct probes of a round are counted concurrently, and every probe
//! tightens every boundary's bracket. A bracket that still holds many
//! boundaries is bisected (one probe serves them all); once it holds a few,
//! numbers and dates interpolate (the probe goes where the target rank lies
//! if the values between the bracket's ends were spread evenly), with a
//! bisection every third round so uneven data still converge. Numbers start
//! with an exponential search for a bracket (0, ±1, ±10, ...) and probe
//! short decimals; dates probe days; strings bisect on code points, one
//! character position after the other (printable code points only: probes
//! never hold control characters). A boundary stops when a
//! probe's count is within 5% of a partition's size of its target, when its
//! bracket cannot be split any more, or after [`MAX_ROUNDS`] rounds, so a
//! plan costs at most `MAX_ROUNDS * (partitions - 1)` probes plus
//! `2 * partitions + 2` counts (in practice a few dozen requests).
//! Correctness never depends on where the boundaries land; only balance does.

use std::future::Future;

use chrono::NaiveDate;
use futures_util::stream::{self, StreamExt, TryStreamExt};

use crate::api::Client;
use crate::error::{Error, Result};
use crate::filter::{self, AttrType, Filter, Operator, Value, MAX_COMPLEXITY, MAX_FILTERS};

/// Most partitions one plan may ask for.
pub const MAX_PARTITIONS: usize = 1024;
/// Bisection rounds at most (each round is one batch of concurrent counts).
pub const MAX_ROUNDS: usize = 96;
/// Counts in flight at once.
pub const CONCURRENCY: usize = 16;
/// Longest string probe, in characters.
pub(crate) const MAX_PROBE_CHARS: usize = 64;

mod domains;
mod search;

use domains::{Dates, Numbers, Strings};
use search::search;

/// Error code of a plan whose partitions do not add up to the query.
pub const COVER_INCOMPLETE: &str = "partition_cover_incomplete";

/// One sub-query of a plan.
#[derive(Debug, Clone, PartialEq)]
pub struct Partition {
    /// Position in the plan (0-based, in value order).
    pub index: usize,
    /// The caller's filters followed by this partition's own conditions.
    pub filters: Vec<Filter>,
    /// The members this partition counted when it was planned.
    pub expected_count: u64,
}

/// A verified partition plan. Plain data: no client, no credentials.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    pub audience_id: String,
    /// The attribute the plan splits on.
    pub by: String,
    pub attribute_type: AttrType,
    /// The unpartitioned count (equal to the sum of `expected_count`).
    pub total: u64,
    /// `b1 < ... < bk` (empty for a single partition).
    pub boundaries: Vec<Value>,
    pub partitions: Vec<Partition>,
    /// Count requests the planning made.
    pub count_requests: u64,
}

fn value_json(v: &Value) -> serde_json::Value {
    match v {
        Value::Str(s) => s.clone().into(),
        Value::Int(i) => (*i).into(),
        Value::Float(x) => serde_json::Number::from_f64(*x)
            .map(serde_json::Value::Number)
            .unwrap_or(serde_json::Value::Null),
        Value::Bool(b) => (*b).into(),
        Value::Date(d) => d.format("%Y-%m-%d").to_string().into(),
    }
}

impl Plan {
    /// The plan as JSON: filters as `[attribute, operator name, value]`
    /// (dates as `YYYY-MM-DD` text).
    pub fn to_json(&self) -> serde_json::Value {
        let parts: Vec<serde_json::Value> = self
            .partitions
            .iter()
            .map(|p| {
                let filters: Vec<serde_json::Value> = p
                    .filters
                    .iter()
                    .map(|f| serde_json::json!([f.attribute, f.op.name(), value_json(&f.value)]))
                    .collect();
                serde_json::json!({
                    "index": p.index,
                    "filters": filters,
                    "expected_count": p.expected_count,
                })
            })
            .collect();
        serde_json::json!({
            "audience_id": self.audience_id,
            "by": self.by,
            "attribute_type": self.attribute_type.name(),
            "total": self.total,
            "boundaries": self.boundaries.iter().map(value_json).collect::<Vec<_>>(),
            "partitions": parts,
            "count_requests": self.count_requests,
        })
    }
}

impl serde::Serialize for Plan {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        self.to_json().serialize(s)
    }
}

/// Plans `partitions` roughly equal sub-queries of `filters` on audience
/// `audience_id`, split on attribute `by` (number, date or string), and
/// verifies them with counts. Needs the schema (fetched once per client).
pub async fn plan_partitions(
    client: &Client,
    audience_id: &str,
    filters: &[Filter],
    by: &str,
    partitions: usize,
) -> Result<Plan> {
    crate::api::check_audience_id(audience_id)?;
    check_request(filters, by, partitions)?;
    let attrs = client.attributes().await?;
    filter::validate(filters, &attrs.schema)?;
    let ty = *attrs.schema.get(by).ok_or_else(|| {
        let mut known: Vec<&str> = attrs.schema.keys().map(String::as_str).collect();
        known.sort_unstable();
        Error::validation(format!(
            "partition attribute {by:?} not found in CDP schema (known: {})",
            known.join(", ")
        ))
    })?;
    let count = |f: Vec<Filter>| {
        let client = client.clone();
        let aud = audience_id.to_string();
        async move { client.count(&aud, &f).await }
    };
    plan_with(&count, audience_id, filters, by, ty, partitions).await
}

/// Local checks: partition count, and room for the partition conditions
/// next to the caller's filters within the contract's limits.
pub fn check_request(filters: &[Filter], by: &str, partitions: usize) -> Result<()> {
    filter::check_attribute_name(by)?;
    if !(1..=MAX_PARTITIONS).contains(&partitions) {
        return Err(Error::validation(format!(
            "partitions must be between 1 and {MAX_PARTITIONS}, got {partitions}"
        )));
    }
    filter::validate_local(filters)?;
    // A middle partition adds `x > a` and `x < b` (2 filters, complexity 4);
    // with two partitions the conditions are single (`x < b`, `x = b`, `x > b`).
    let (more_filters, more_complexity) = match partitions {
        1 => (0, 0),
        2 => (1, Operator::Gt.weight()),
        _ => (2, Operator::Gt.weight() + Operator::Lt.weight()),
    };
    let (n, c) = (filters.len(), filter::complexity(filters));
    if n + more_filters > MAX_FILTERS || c + more_complexity > MAX_COMPLEXITY {
        return Err(Error::validation(format!(
            "the filters leave no room for the partition conditions: a partition adds \
             {more_filters} filter(s) of complexity {more_complexity}, and the query already has \
             {n} filters of complexity {c} (at most {MAX_FILTERS} filters and complexity \
             {MAX_COMPLEXITY} are allowed)"
        ))
        .with_code("query_too_complex"));
    }
    Ok(())
}

pub(super) fn with(base: &[Filter], extra: impl IntoIterator<Item = Filter>) -> Vec<Filter> {
    let mut v = base.to_vec();
    v.extend(extra);
    v
}

/// Counts several queries, at most [`CONCURRENCY`] at once, in order.
pub(super) async fn count_all<F, Fut>(
    count: &F,
    queries: Vec<Vec<Filter>>,
    spent: &mut u64,
) -> Result<Vec<u64>>
where
    F: Fn(Vec<Filter>) -> Fut,
    Fut: Future<Output = Result<u64>>,
{
    *spent += queries.len() as u64;
    stream::iter(queries.into_iter().map(count))
        .buffered(CONCURRENCY)
        .try_collect()
        .await
}

/// The planner over any count function (`filters -> count` of one audience):
/// the client in production, synthetic data in tests. `filters` must already
/// be valid for the schema; `ty` is the type of `by`.
pub async fn plan_with<F, Fut>(
    count: &F,
    audience_id: &str,
    filters: &[Filter],
    by: &str,
    ty: AttrType,
    partitions: usize,
) -> Result<Plan>
where
    F: Fn(Vec<Filter>) -> Fut,
    Fut: Future<Output = Result<u64>>,
{
    check_request(filters, by, partitions)?;
    let mut spent = 0u64;
    // The unpartitioned count, and how many of those members have a value
    // for `by` at all (x = v OR x != v, for any v).
    let anchor = match ty {
        AttrType::Number => Value::Int(0),
        AttrType::Date => Value::Date(NaiveDate::from_ymd_opt(2000, 1, 1).expect("valid date")),
        AttrType::String => Value::Str("a".into()),
        AttrType::Boolean => {
            return Err(Error::validation(format!(
                "cannot partition by boolean attribute {by:?}: choose a number, date or string attribute"
            )))
        }
    };
    let mut first = vec![filters.to_vec()];
    if partitions > 1 {
        first.push(with(
            filters,
            [Filter::new(by, Operator::Eq, anchor.clone())],
        ));
        first.push(with(filters, [Filter::new(by, Operator::Neq, anchor)]));
    }
    let first = count_all(count, first, &mut spent).await?;
    let total = first[0];
    if partitions > 1 {
        let present = first[1] + first[2];
        if present != total {
            return Err(incomplete(audience_id, by, total, present, true));
        }
    }
    let boundaries = if partitions > 1 && total > 0 {
        match ty {
            AttrType::Number => {
                search(&Numbers, count, filters, by, total, partitions, &mut spent).await?
            }
            AttrType::Date => {
                search(&Dates, count, filters, by, total, partitions, &mut spent).await?
            }
            AttrType::String => {
                search(&Strings, count, filters, by, total, partitions, &mut spent).await?
            }
            AttrType::Boolean => unreachable!("refused above"),
        }
    } else {
        Vec::new()
    };
    let covers = cover(by, filters, &boundaries);
    for c in &covers {
        filter::check_limits(c)?;
    }
    let counts = count_all(count, covers.clone(), &mut spent).await?;
    let sum: u64 = counts.iter().sum();
    if sum != total {
        return Err(incomplete(audience_id, by, total, sum, false));
    }
    Ok(Plan {
        audience_id: audience_id.to_string(),
        by: by.to_string(),
        attribute_type: ty,
        total,
        boundaries,
        partitions: covers
            .into_iter()
            .zip(counts)
            .enumerate()
            .map(|(index, (filters, expected_count))| Partition {
                index,
                filters,
                expected_count,
            })
            .collect(),
        count_requests: spent,
    })
}

fn incomplete(audience_id: &str, by: &str, total: u64, covered: u64, early: bool) -> Error {
    let msg = if covered < total {
        format!(
            "cannot partition audience {audience_id} by {by:?}: the query matches {total} members \
             but only {covered} {} a {by} value; the other {} lack the attribute, match no condition \
             on it and would be lost. Partition by an attribute every member has, or read unpartitioned",
            if early { "have" } else { "are covered by the partitions, which select" },
            total - covered
        )
    } else {
        format!(
            "cannot partition audience {audience_id} by {by:?}: the partitions count {covered} members \
             but the query matches {total} (the server's counts are inconsistent); read unpartitioned"
        )
    };
    Error::validation(msg).with_code(COVER_INCOMPLETE)
}

/// The disjoint cover for boundaries `b1 < ... < bk`, each with the caller's
/// filters first.
pub fn cover(by: &str, base: &[Filter], boundaries: &[Value]) -> Vec<Vec<Filter>> {
    let f = |op, v: &Value| Filter::new(by, op, v.clone());
    let Some((first, last)) = boundaries.first().zip(boundaries.last()) else {
        return vec![base.to_vec()];
    };
    let mut out = vec![with(base, [f(Operator::Lt, first)])];
    for (j, b) in boundaries.iter().enumerate() {
        out.push(with(base, [f(Operator::Eq, b)]));
        if let Some(next) = boundaries.get(j + 1) {
            out.push(with(base, [f(Operator::Gt, b), f(Operator::Lt, next)]));
        }
    }
    out.push(with(base, [f(Operator::Gt, last)]));
    out
}

#[cfg(test)]
mod tests {
    use super::domains::*;
    use super::search::*;
    use super::*;
    use crate::error::ErrorKind;
    use chrono::Datelike;
    use std::cmp::Ordering;
    use std::sync::atomic::{AtomicU64, Ordering as AtOrd};

    /// Compares a member's value with a filter value of the same type.
    fn cmp(m: &Value, v: &Value) -> Option<Ordering> {
        let num = |x: &Value| match x {
            Value::Int(i) => Some(*i as f64),
            Value::Float(f) => Some(*f),
            _ => None,
        };
        match (m, v) {
            (Value::Str(a), Value::Str(b)) => Some(a.as_str().cmp(b.as_str())),
            (Value::Date(a), Value::Date(b)) => Some(a.cmp(b)),
            _ => num(m)?.partial_cmp(&num(v)?),
        }
    }

    fn matches(m: &Option<Value>, f: &Filter) -> bool {
        let Some(m) = m else { return false };
        let Some(o) = cmp(m, &f.value) else {
            return false;
        };
        match f.op {
            Operator::Eq => o == Ordering::Equal,
            Operator::Neq => o != Ordering::Equal,
            Operator::Gt => o == Ordering::Greater,
            Operator::Lt => o == Ordering::Less,
            Operator::Contains => false,
        }
    }

    /// Synthetic members: one value (or none) of the attribute `x` each;
    /// every filter in these tests is on `x`.
    struct Data {
        values: Vec<Option<Value>>,
        calls: AtomicU64,
    }

    impl Data {
        fn new(values: Vec<Option<Value>>) -> Data {
            Data {
                values,
                calls: AtomicU64::new(0),
            }
        }

        fn count(&self, filters: &[Filter]) -> u64 {
            self.calls.fetch_add(1, AtOrd::SeqCst);
            self.values
                .iter()
                .filter(|m| filters.iter().all(|f| matches(m, f)))
                .count() as u64
        }

        async fn plan(&self, ty: AttrType, base: &[Filter], n: usize) -> Result<Plan> {
            self.calls.store(0, AtOrd::SeqCst);
            let f = |q: Vec<Filter>| async move { Ok(self.count(&q)) };
            plan_with(&f, "aud", base, "x", ty, n).await
        }
    }

    fn rng(seed: u64) -> impl FnMut() -> u64 {
        let mut s = seed;
        move || {
            s = s.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = s;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            z ^ (z >> 31)
        }
    }

    /// Every member lies in exactly one partition, counts are as planned,
    /// and (for spread-out data) no range partition is far from its share.
    fn check_cover(data: &Data, base: &[Filter], plan: &Plan, n: usize, balanced: bool) {
        let mut per = vec![0u64; plan.partitions.len()];
        let mut selected = 0u64;
        for m in &data.values {
            if !base.iter().all(|f| matches(m, f)) {
                continue;
            }
            selected += 1;
            let hits: Vec<usize> = plan
                .partitions
                .iter()
                .filter(|p| p.filters.iter().all(|f| matches(m, f)))
                .map(|p| p.index)
                .collect();
            assert_eq!(hits.len(), 1, "member {m:?} in partitions {hits:?}");
            per[hits[0]] += 1;
        }
        assert_eq!(plan.total, selected);
        for p in &plan.partitions {
            assert_eq!(p.expected_count, per[p.index]);
            assert!(p.filters.starts_with(base));
            filter::check_limits(&p.filters).unwrap();
        }
        assert!(plan.boundaries.len() < n);
        let mut sorted = plan.boundaries.clone();
        sorted.dedup();
        assert_eq!(sorted.len(), plan.boundaries.len());
        for w in plan.boundaries.windows(2) {
            assert_eq!(cmp(&w[0], &w[1]), Some(Ordering::Less), "{w:?}");
        }
        if balanced {
            assert_eq!(plan.boundaries.len(), n - 1);
            let share = selected as f64 / n as f64;
            for p in plan.partitions.iter().filter(|p| p.index % 2 == 0) {
                let c = p.expected_count as f64;
                assert!(
                    (c - share).abs() <= share * 0.2 + 2.0,
                    "partition {} holds {c}, share {share}: {:?}",
                    p.index,
                    plan.boundaries
                );
            }
        }
        // Bounded: three initial counts, the verification, and at most one
        // probe per boundary per round.
        let max = 3 + plan.partitions.len() as u64 + (MAX_ROUNDS * (n - 1)) as u64;
        assert!(plan.count_requests <= max);
        assert_eq!(plan.count_requests, data.calls.load(AtOrd::SeqCst));
    }

    /// Interpolation finds the boundaries of evenly spread values in few
    /// probes (bisection alone needs about log2(20 * partitions) a boundary).
    #[tokio::test]
    async fn even_values_need_few_probes() {
        let mut r = rng(7);
        let n = 32;
        let numbers = Data::new(
            (0..20_000)
                .map(|_| Some(Value::Int((r() % 1_000_000) as i64)))
                .collect(),
        );
        let plan = numbers.plan(AttrType::Number, &[], n).await.unwrap();
        check_cover(&numbers, &[], &plan, n, true);
        let probes = plan.count_requests - 3 - plan.partitions.len() as u64;
        let day0 = NaiveDate::from_ymd_opt(2020, 1, 1).unwrap();
        let dates = Data::new(
            (0..20_000)
                .map(|_| Some(Value::Date(day0 + chrono::Days::new(r() % 1_500))))
                .collect(),
        );
        let plan = dates.plan(AttrType::Date, &[], n).await.unwrap();
        check_cover(&dates, &[], &plan, n, true);
        let date_probes = plan.count_requests - 3 - plan.partitions.len() as u64;
        eprintln!(
            "probes for {} boundaries: numbers {probes}, dates {date_probes}",
            n - 1
        );
        // Bisection alone: 117 and 119 here.
        assert!(probes <= (n as u64 - 1) * 5 / 2, "{probes}");
        assert!(date_probes <= (n as u64 - 1) * 5 / 2, "{date_probes}");
    }

    #[tokio::test]
    async fn numbers_split_evenly_and_cover_exactly() {
        let mut r = rng(1);
        let values: Vec<Option<Value>> = (0..10_000)
            .map(|_| {
                let cents = (r() % 2_000_000) as i64 - 500_000;
                Some(Value::Float(cents as f64 / 100.0))
            })
            .collect();
        let data = Data::new(values);
        for n in [2, 3, 8, 16] {
            let plan = data.plan(AttrType::Number, &[], n).await.unwrap();
            check_cover(&data, &[], &plan, n, true);
            assert_eq!(plan.partitions.len(), 2 * n - 1);
            assert!(
                plan.count_requests < 40 * n as u64,
                "{}",
                plan.count_requests
            );
        }
        // With the caller's own filter on the same attribute.
        let base = [Filter::new("x", Operator::Gt, Value::Int(1000))];
        let plan = data.plan(AttrType::Number, &base, 5).await.unwrap();
        check_cover(&data, &base, &plan, 5, true);
    }

    #[tokio::test]
    async fn heavy_values_land_in_equality_partitions() {
        // 40% zeros, 20% exactly 7.5, the rest spread out (negative too).
        let mut r = rng(2);
        let values: Vec<Option<Value>> = (0..5_000)
            .map(|i| {
                Some(match i % 5 {
                    0 | 1 => Value::Int(0),
                    2 => Value::Float(7.5),
                    _ => Value::Float((r() % 100_000) as f64 / 10.0 - 5_000.0),
                })
            })
            .collect();
        let data = Data::new(values);
        let plan = data.plan(AttrType::Number, &[], 8).await.unwrap();
        check_cover(&data, &[], &plan, 8, false);
        let eq_zero = plan
            .partitions
            .iter()
            .find(|p| p.filters == [Filter::new("x", Operator::Eq, Value::Int(0))])
            .expect("a partition x = 0");
        assert_eq!(eq_zero.expected_count, 2_000);
        let largest = plan.partitions.iter().map(|p| p.expected_count).max();
        assert_eq!(largest, Some(2_000));
    }

    #[tokio::test]
    async fn dates_split_by_day() {
        let mut r = rng(3);
        let base = NaiveDate::from_ymd_opt(2022, 1, 1).unwrap();
        let values: Vec<Option<Value>> = (0..8_000)
            .map(|_| Some(Value::Date(base + chrono::Days::new(r() % 1096))))
            .collect();
        let data = Data::new(values);
        for n in [2, 4, 8] {
            let plan = data.plan(AttrType::Date, &[], n).await.unwrap();
            check_cover(&data, &[], &plan, n, true);
            assert!(plan
                .boundaries
                .iter()
                .all(|b| matches!(b, Value::Date(d) if d.year() >= 2022 && d.year() <= 2024)));
        }
        // All on one day: one boundary, the day itself.
        let data = Data::new(vec![Some(Value::Date(base)); 100]);
        let plan = data.plan(AttrType::Date, &[], 4).await.unwrap();
        check_cover(&data, &[], &plan, 4, false);
        assert!(plan.boundaries.contains(&Value::Date(base)));
    }

    #[tokio::test]
    async fn strings_split_by_code_point() {
        // Values that need encoding, non-ASCII, an empty one, one past the BMP.
        let words: Vec<&str> =
            "São Paulo|Rock & Roll|a+b=c|100%|x#y|New York|London|Zürich|東京|Ålesund||😀 party"
                .split('|')
                .collect();
        let mut r = rng(4);
        // Unique strings (a word and a number), and heavy repeated words.
        let spread: Vec<Option<Value>> = (0..6_000)
            .map(|i| {
                let w = words[(r() % words.len() as u64) as usize];
                Some(Value::Str(format!("{w}{i}")))
            })
            .collect();
        let data = Data::new(spread);
        for n in [2, 8] {
            let plan = data.plan(AttrType::String, &[], n).await.unwrap();
            check_cover(&data, &[], &plan, n, false);
            assert_eq!(plan.boundaries.len(), n - 1);
        }
        let heavy: Vec<Option<Value>> = (0..3_000)
            .map(|_| {
                Some(Value::Str(
                    words[(r() % words.len() as u64) as usize].into(),
                ))
            })
            .collect();
        let data = Data::new(heavy);
        let plan = data.plan(AttrType::String, &[], 6).await.unwrap();
        check_cover(&data, &[], &plan, 6, false);
        // Every boundary is a valid filter value (printable, non-empty).
        for b in &plan.boundaries {
            Filter::new("x", Operator::Lt, b.clone())
                .check_local()
                .unwrap();
        }
    }

    #[tokio::test]
    async fn members_without_the_attribute_are_refused() {
        let mut values: Vec<Option<Value>> = (0..1_000).map(|i| Some(Value::Int(i))).collect();
        values[10] = None;
        values[500] = None;
        let data = Data::new(values);
        let e = data.plan(AttrType::Number, &[], 4).await.unwrap_err();
        assert_eq!(e.kind, ErrorKind::Validation);
        assert_eq!(e.code.as_deref(), Some(COVER_INCOMPLETE));
        assert!(
            e.message.contains("998") && e.message.contains("1000"),
            "{}",
            e.message
        );
        // Refused early: only the three first counts were made.
        assert_eq!(data.calls.load(AtOrd::SeqCst), 3);
        // One partition needs no condition on the attribute: fine.
        let plan = data.plan(AttrType::Number, &[], 1).await.unwrap();
        assert_eq!(plan.partitions.len(), 1);
        assert_eq!(plan.partitions[0].expected_count, 1_000);
    }

    #[tokio::test]
    async fn inconsistent_counts_fail_verification() {
        // A server that ignores `x > a` next to `x < b`: the early check
        // and the probes are fine, the middle partitions overlap.
        let data = Data::new((0..100).map(|i| Some(Value::Int(i))).collect());
        let f = |q: Vec<Filter>| {
            let q: Vec<Filter> = if q.iter().any(|f| f.op == Operator::Lt) {
                q.into_iter().filter(|f| f.op != Operator::Gt).collect()
            } else {
                q
            };
            let c = data.count(&q);
            async move { Ok(c) }
        };
        let e = plan_with(&f, "aud", &[], "x", AttrType::Number, 4)
            .await
            .unwrap_err();
        assert_eq!(e.code.as_deref(), Some(COVER_INCOMPLETE));
        assert!(e.message.contains("inconsistent"), "{}", e.message);
    }

    #[tokio::test]
    async fn room_for_partition_conditions() {
        let data = Data::new((0..100).map(|i| Some(Value::Int(i))).collect());
        let eq = |i: i64| Filter::new("x", Operator::Neq, Value::Int(1000 + i));
        // 48 filters of complexity 96: a middle partition would make 50 / 100: fine.
        let base: Vec<Filter> = (0..48).map(eq).collect();
        let plan = data.plan(AttrType::Number, &base, 4).await.unwrap();
        check_cover(&data, &base, &plan, 4, false);
        // 49 filters: no room for two more; two partitions need one more only.
        let base: Vec<Filter> = (0..49).map(eq).collect();
        let e = data.plan(AttrType::Number, &base, 4).await.unwrap_err();
        assert_eq!(e.kind, ErrorKind::Validation);
        assert!(e.message.contains("no room"), "{}", e.message);
        let plan = data.plan(AttrType::Number, &base, 2).await.unwrap();
        check_cover(&data, &base, &plan, 2, false);
        // 50 filters: no room at all, but one partition is the query itself.
        let base: Vec<Filter> = (0..50).map(eq).collect();
        assert!(data.plan(AttrType::Number, &base, 2).await.is_err());
        let plan = data.plan(AttrType::Number, &base, 1).await.unwrap();
        assert_eq!(plan.partitions[0].expected_count, 100);
        // Complexity: 20 contains are 100 already.
        let heavy: Vec<Filter> = (0..20)
            .map(|_| Filter::new("y", Operator::Contains, Value::Str("a".into())))
            .collect();
        assert!(check_request(&heavy, "x", 2).is_err());
        assert!(check_request(&heavy[..19], "x", 8).is_ok());
        for bad in [0, MAX_PARTITIONS + 1] {
            assert_eq!(
                check_request(&[], "x", bad).unwrap_err().kind,
                ErrorKind::Validation
            );
        }
        assert!(check_request(&[], "a b", 2).is_err());
    }

    #[tokio::test]
    async fn small_and_empty_inputs() {
        let data = Data::new(Vec::new());
        let plan = data.plan(AttrType::Number, &[], 8).await.unwrap();
        assert_eq!((plan.total, plan.partitions.len()), (0, 1));
        let data = Data::new(vec![Some(Value::Int(5)), Some(Value::Int(5))]);
        let plan = data.plan(AttrType::Number, &[], 8).await.unwrap();
        check_cover(&data, &[], &plan, 8, false);
        let data = Data::new(vec![Some(Value::Str("x".into()))]);
        let plan = data.plan(AttrType::String, &[], 3).await.unwrap();
        check_cover(&data, &[], &plan, 3, false);
        let e = data.plan(AttrType::Boolean, &[], 3).await.unwrap_err();
        assert_eq!(e.kind, ErrorKind::Validation);
    }

    #[test]
    fn cover_shape() {
        let b = [Value::Int(10), Value::Int(20)];
        let base = [Filter::new("y", Operator::Eq, Value::Bool(true))];
        let c = cover("x", &base, &b);
        let ops: Vec<Vec<(Operator, Value)>> = c
            .iter()
            .map(|fs| fs[1..].iter().map(|f| (f.op, f.value.clone())).collect())
            .collect();
        use Operator::*;
        assert_eq!(
            ops,
            vec![
                vec![(Lt, Value::Int(10))],
                vec![(Eq, Value::Int(10))],
                vec![(Gt, Value::Int(10)), (Lt, Value::Int(20))],
                vec![(Eq, Value::Int(20))],
                vec![(Gt, Value::Int(20))],
            ]
        );
        assert!(c.iter().all(|fs| fs[0] == base[0]));
        assert_eq!(cover("x", &base, &[]), vec![base.to_vec()]);
    }

    #[test]
    fn nice_numbers() {
        assert_eq!(nice_between(0.0, 10_000.0), Some(5_000.0));
        assert_eq!(nice_between(1_000.0, 10_000.0), Some(6_000.0));
        assert_eq!(nice_between(12.34, 12.35), Some(12.345));
        assert_eq!(nice_between(-3.0, -1.0), Some(-2.0));
        assert_eq!(nice_between(1.0, 1.0), None);
        assert_eq!(nice_between(2.0, 1.0), None);
        assert_eq!(nice_between(1.0, 1.0 + 1e-12), None);
        let mut r = rng(5);
        for _ in 0..2_000 {
            let a = (r() % 1_000_000) as f64 / 7.0 - 50_000.0;
            let b = a + (r() % 1_000) as f64 / 1_000.0 + 1e-6;
            if let Some(m) = nice_between(a, b) {
                assert!(a < m && m < b, "{a} {m} {b}");
                // Renders as a decimal literal that parses back to itself.
                let text = Value::Float(m).render(None).unwrap();
                assert_eq!(filter::parse_decimal(&text), Some(m), "{text}");
            }
        }
    }

    #[test]
    fn nice_guesses() {
        assert_eq!(nice_near(2_500.3, 0.0, 10_000.0), Some(2_500.0));
        assert_eq!(nice_near(12.3456, 12.34, 12.35), Some(12.3456));
        assert_eq!(nice_near(0.0, 0.0, 1.0), None);
        assert_eq!(nice_near(1.0, 0.0, 1.0), None);
        assert_eq!(nice_near(1.0, 1.0, 1.0 + 1e-12), None);
        let mut r = rng(6);
        for _ in 0..2_000 {
            let a = (r() % 1_000_000) as f64 / 7.0 - 50_000.0;
            let b = a + (r() % 1_000) as f64 / 1_000.0 + 1e-6;
            let x = a + (b - a) * ((r() % 1_000) as f64 / 1_000.0);
            if let Some(m) = nice_near(x, a, b) {
                assert!(
                    a < m && m < b && (m - x).abs() <= (b - a) / 64.0,
                    "{a} {x} {m} {b}"
                );
                let text = Value::Float(m).render(None).unwrap();
                assert_eq!(filter::parse_decimal(&text), Some(m), "{text}");
            }
        }
        // Dates: inside the bracket, near the rank's place.
        let (lo, hi) = (Key::Val(1_000), Key::Val(2_000));
        assert_eq!(Dates.guess(&lo, 0, &hi, 100, 25), Some(1_250));
        assert_eq!(Dates.guess(&lo, 0, &hi, 100, 0), Some(1_001));
        assert_eq!(Dates.guess(&lo, 0, &Key::Val(1_001), 100, 50), None);
        assert_eq!(Dates.guess(&Key::Bottom, 0, &hi, 100, 50), None);
    }

    #[test]
    fn string_midpoints_lie_strictly_between() {
        let k = |s: &str| Key::Val(s.to_string());
        let cases: Vec<(Key<String>, Key<String>)> = vec![
            (Key::Bottom, Key::Top),
            (Key::Bottom, k("a")),
            (k("a"), Key::Top),
            (k("a"), k("b")),
            (k("a"), k("a !")),
            (k("ab"), k("b")),
            (k("London"), k("Londoo")),
            (k("z\u{10FFFF}"), Key::Top),
            (k("Sáo"), k("São")),
            (k("x"), k("x !")),
        ];
        for (lo, hi) in cases {
            let m = Strings
                .mid(&lo, &hi)
                .unwrap_or_else(|| panic!("{lo:?} {hi:?}"));
            let mk = Key::Val(m.clone());
            assert!(lo < mk && mk < hi, "{lo:?} < {m:?} < {hi:?}");
            assert!(!m.is_empty() && !m.chars().any(char::is_control));
        }
        // Nothing printable lies between "a" and "a ", or below " ".
        assert_eq!(Strings.mid(&k("a"), &k("a ")), None);
        assert_eq!(Strings.mid(&Key::Bottom, &k(" ")), None);
        assert_eq!(Strings.mid(&k("a"), &k(" ")), None);
        assert_eq!(Strings.mid(&k("a"), &k("a")), None);
        assert_eq!(Strings.mid(&k(" "), &Key::Bottom), None);
        // Bisection from the whole range reaches a given word's neighbourhood.
        let mut lo = Key::Bottom;
        let mut hi = Key::Top;
        let target = k("Rock & Roll");
        for _ in 0..400 {
            let Some(m) = Strings.mid(&lo, &hi) else {
                break;
            };
            if Key::Val(m.clone()) <= target {
                lo = Key::Val(m);
            } else {
                hi = Key::Val(m);
            }
        }
        assert_eq!(lo, target);
    }

    #[test]
    fn printable_index_round_trips() {
        for c in [
            ' ',
            '~',
            '\u{A0}',
            'é',
            '\u{D7FF}',
            '\u{E000}',
            '東',
            '\u{10FFFF}',
        ] {
            assert_eq!(from_index(to_index(c).unwrap()), c);
        }
        assert_eq!(to_index('\0'), None);
        assert_eq!(to_index('\u{7F}'), None);
        assert_eq!(to_index('\u{85}'), None);
        assert_eq!(to_index('\u{10FFFF}'), Some(printable_len() - 1));
    }

    #[test]
    fn plan_json_is_plain_data() {
        let plan = Plan {
            audience_id: "aud".into(),
            by: "x".into(),
            attribute_type: AttrType::Date,
            total: 3,
            boundaries: vec![Value::Date(NaiveDate::from_ymd_opt(2024, 2, 29).unwrap())],
            partitions: vec![Partition {
                index: 0,
                filters: vec![Filter::new(
                    "x",
                    Operator::Lt,
                    Value::Date(NaiveDate::from_ymd_opt(2024, 2, 29).unwrap()),
                )],
                expected_count: 3,
            }],
            count_requests: 9,
        };
        let text = serde_json::to_string(&plan).unwrap();
        assert!(
            text.contains(r#""filters":[["x","lt","2024-02-29"]]"#),
            "{text}"
        );
        assert!(text.contains(r#""boundaries":["2024-02-29"]"#));
    }
}
