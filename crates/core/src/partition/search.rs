//! The boundary search: rounds of concurrent count probes that tighten
//! every boundary's bracket, bisecting or interpolating per [`Domain`].

use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;

use crate::error::Result;
use crate::filter::{Filter, Operator, Value};

use super::{count_all, with, MAX_ROUNDS};

/// A point of the search space: below every value, a value, above every value.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub(super) enum Key<T> {
    Bottom,
    Val(T),
    Top,
}

/// A searchable value domain.
pub(super) trait Domain {
    type T: Clone + Ord + std::fmt::Debug;
    /// A point strictly between `lo` and `hi` (`lo < hi`), or None if there is
    /// none worth probing.
    fn mid(&self, lo: &Key<Self::T>, hi: &Key<Self::T>) -> Option<Self::T>;
    /// A point strictly between `lo` and `hi` where rank `t` would lie if
    /// the values between them were spread evenly (`clo <= t < chi` are the
    /// counts below `lo` and `hi`), or None to bisect instead.
    fn guess(
        &self,
        _lo: &Key<Self::T>,
        _clo: u64,
        _hi: &Key<Self::T>,
        _chi: u64,
        _t: u64,
    ) -> Option<Self::T> {
        None
    }
    fn value(&self, t: &Self::T) -> Value;
}

/// Where rank `t` falls between counts `clo < chi`, as a fraction in [0, 1).
pub(super) fn fraction(clo: u64, chi: u64, t: u64) -> Option<f64> {
    (clo <= t && t < chi).then(|| (t - clo) as f64 / (chi - clo) as f64)
}

/// For target rank `t`: the last probe with count <= t and the first with count > t.
pub(super) fn bracket<T: Clone + Ord>(
    probes: &BTreeMap<Key<T>, u64>,
    t: u64,
) -> ((Key<T>, u64), (Key<T>, u64)) {
    let lo = probes
        .iter()
        .rfind(|(_, &c)| c <= t)
        .map(|(k, &c)| (k.clone(), c))
        .unwrap_or((Key::Bottom, 0));
    let hi = probes
        .iter()
        .find(|(_, &c)| c > t)
        .map(|(k, &c)| (k.clone(), c))
        .unwrap_or((Key::Top, u64::MAX));
    (lo, hi)
}

/// Finds up to `partitions - 1` boundaries splitting `total` members (all
/// with a value for `by`) into roughly equal parts.
pub(super) async fn search<D, F, Fut>(
    d: &D,
    count: &F,
    base: &[Filter],
    by: &str,
    total: u64,
    partitions: usize,
    spent: &mut u64,
) -> Result<Vec<Value>>
where
    D: Domain,
    F: Fn(Vec<Filter>) -> Fut,
    Fut: Future<Output = Result<u64>>,
{
    let n = partitions as u128;
    let targets: Vec<u64> = (1..n).map(|j| (u128::from(total) * j / n) as u64).collect();
    // Good enough: within 5% of one partition's size.
    let tol = (u128::from(total) / (n * 20)) as u64;
    let mut probes: BTreeMap<Key<D::T>, u64> = BTreeMap::new();
    probes.insert(Key::Bottom, 0);
    probes.insert(Key::Top, total);
    let mut done = vec![false; targets.len()];
    for round in 0..MAX_ROUNDS {
        let mut want: BTreeSet<D::T> = BTreeSet::new();
        for (i, &t) in targets.iter().enumerate() {
            if done[i] {
                continue;
            }
            let ((lo, clo), (hi, chi)) = bracket(&probes, t);
            let close = (matches!(lo, Key::Val(_)) && clo + tol >= t)
                || (matches!(hi, Key::Val(_)) && chi <= t.saturating_add(tol));
            if close || lo >= hi {
                done[i] = true;
                continue;
            }
            // While a bracket holds many targets, bisection (one probe shared
            // by all of them); once it holds a few, interpolation (a probe
            // lands near the target when values are spread evenly), with
            // every third round a bisection (bounding the rounds when they
            // are not).
            let local = u128::from(chi.min(total) - clo) * n <= 4 * u128::from(total);
            let guess = (local && round % 3 != 2)
                .then(|| d.guess(&lo, clo, &hi, chi, t))
                .flatten();
            match guess.or_else(|| d.mid(&lo, &hi)) {
                Some(m) => {
                    want.insert(m);
                }
                None => done[i] = true,
            }
        }
        if want.is_empty() {
            break;
        }
        let keys: Vec<D::T> = want.into_iter().collect();
        let queries = keys
            .iter()
            .map(|k| with(base, [Filter::new(by, Operator::Lt, d.value(k))]))
            .collect();
        let counts = count_all(count, queries, spent).await?;
        for (k, c) in keys.into_iter().zip(counts) {
            probes.insert(Key::Val(k), c);
        }
    }
    let mut chosen: Vec<D::T> = Vec::new();
    for &t in &targets {
        let ((lo, clo), (hi, chi)) = bracket(&probes, t);
        let pick = match (lo, hi) {
            (Key::Val(a), Key::Val(b)) => Some(if t - clo <= chi - t { a } else { b }),
            (Key::Val(a), _) => Some(a),
            (_, Key::Val(b)) => Some(b),
            _ => None,
        };
        chosen.extend(pick);
    }
    chosen.sort();
    chosen.dedup();
    Ok(chosen.iter().map(|t| d.value(t)).collect())
}
