//! The value domains the search walks: numbers (exponential bracket, short
//! decimals), dates (days) and strings (code points, position by position).

use std::cmp::Ordering;

use chrono::{Datelike, NaiveDate};

use crate::filter::Value;

use super::search::{fraction, Domain, Key};
use super::MAX_PROBE_CHARS;

/// An f64 with a total order (only finite values are ever made).
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct Num(f64);

impl Eq for Num {}

impl PartialOrd for Num {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Num {
    fn cmp(&self, other: &Self) -> Ordering {
        self.0.total_cmp(&other.0)
    }
}

pub(super) struct Numbers;

/// Beyond this magnitude the bracket search gives up (values are still
/// covered by the open-ended first and last partitions).
const NUMBER_LIMIT: f64 = 1e300;

impl Domain for Numbers {
    type T = Num;

    fn mid(&self, lo: &Key<Num>, hi: &Key<Num>) -> Option<Num> {
        let x = match (lo, hi) {
            (Key::Bottom, Key::Top) => 0.0,
            // Exponential search outwards for a bracket: 0, -1, -10, -100, ...
            (Key::Bottom, Key::Val(Num(v))) => match v.partial_cmp(&0.0)? {
                Ordering::Greater => 0.0,
                Ordering::Equal => -1.0,
                Ordering::Less if *v > -NUMBER_LIMIT => v * 10.0,
                Ordering::Less => return None,
            },
            (Key::Val(Num(v)), Key::Top) => match v.partial_cmp(&0.0)? {
                Ordering::Less => 0.0,
                Ordering::Equal => 1.0,
                Ordering::Greater if *v < NUMBER_LIMIT => v * 10.0,
                Ordering::Greater => return None,
            },
            (Key::Val(Num(a)), Key::Val(Num(b))) => nice_between(*a, *b)?,
            _ => return None,
        };
        Some(Num(x))
    }

    fn guess(&self, lo: &Key<Num>, clo: u64, hi: &Key<Num>, chi: u64, t: u64) -> Option<Num> {
        let (Key::Val(Num(a)), Key::Val(Num(b))) = (lo, hi) else {
            return None;
        };
        let x = a + fraction(clo, chi, t)? * (b - a);
        nice_near(x, *a, *b).map(Num)
    }

    fn value(&self, t: &Num) -> Value {
        let x = t.0;
        if x.fract() == 0.0 && x.abs() < 9.0e15 {
            Value::Int(x as i64)
        } else {
            Value::Float(x)
        }
    }
}

/// `x` rounded to `decimals` places (negative: to tens, hundreds, ...),
/// through decimal text so the result prints as a short literal.
pub(super) fn round_decimal(x: f64, decimals: i32) -> f64 {
    if decimals >= 0 {
        format!("{:.*}", decimals as usize, x).parse().unwrap_or(x)
    } else {
        let step = 10f64.powi(-decimals);
        (x / step).round() * step
    }
}

/// A short decimal strictly between `a < b`, near the middle: the midpoint
/// rounded to the coarsest power of ten that stays inside. None when the
/// interval is at the precision limit.
pub fn nice_between(a: f64, b: f64) -> Option<f64> {
    if !a.is_finite() || !b.is_finite() || a >= b {
        return None;
    }
    let scale = a.abs().max(b.abs()).max(1.0);
    if b - a <= scale * 1e-9 {
        return None;
    }
    let mid = a + (b - a) / 2.0;
    let top = (b - a).log10().floor() as i32;
    for e in (top - 12..=top).rev() {
        let c = round_decimal(mid, -e);
        if c > a && c < b {
            return Some(c);
        }
    }
    (mid > a && mid < b).then_some(mid)
}

/// A short decimal near `x` (within 1/64 of `b - a`) strictly between
/// `a < b`; None when there is none.
pub fn nice_near(x: f64, a: f64, b: f64) -> Option<f64> {
    if !(a.is_finite() && b.is_finite() && a < x && x < b) {
        return None;
    }
    if b - a <= a.abs().max(b.abs()).max(1.0) * 1e-9 {
        return None;
    }
    let slack = (b - a) / 64.0;
    let top = slack.log10().floor() as i32;
    for e in (top - 12..=top).rev() {
        let c = round_decimal(x, -e);
        if a < c && c < b && (c - x).abs() <= slack {
            return Some(c);
        }
    }
    None
}

pub(super) struct Dates;

pub(super) fn day_min() -> i32 {
    NaiveDate::from_ymd_opt(1, 1, 1)
        .expect("valid")
        .num_days_from_ce()
}

pub(super) fn day_max() -> i32 {
    NaiveDate::from_ymd_opt(9999, 12, 31)
        .expect("valid")
        .num_days_from_ce()
}

impl Domain for Dates {
    /// Days from the common era (0001-01-01 is day 1).
    type T = i32;

    fn mid(&self, lo: &Key<i32>, hi: &Key<i32>) -> Option<i32> {
        let lo = match lo {
            Key::Bottom => day_min() - 1,
            Key::Val(d) => *d,
            Key::Top => return None,
        };
        let hi = match hi {
            Key::Bottom => return None,
            Key::Val(d) => *d,
            Key::Top => day_max() + 1,
        };
        (hi - lo >= 2).then(|| lo + (hi - lo) / 2)
    }

    fn guess(&self, lo: &Key<i32>, clo: u64, hi: &Key<i32>, chi: u64, t: u64) -> Option<i32> {
        let (Key::Val(a), Key::Val(b)) = (lo, hi) else {
            return None;
        };
        if b - a < 2 {
            return None;
        }
        let x = *a + (fraction(clo, chi, t)? * f64::from(b - a)).round() as i32;
        Some(x.clamp(a + 1, b - 1))
    }

    fn value(&self, t: &i32) -> Value {
        Value::Date(NaiveDate::from_num_days_from_ce_opt(*t).expect("day within 0001..=9999"))
    }
}

pub(super) struct Strings;

/// Probe strings use printable code points only (no C0/C1 controls, no
/// surrogates): they are numbered densely, in code point order.
const PRINTABLE: [(u32, u32); 3] = [(0x20, 0x7E), (0xA0, 0xD7FF), (0xE000, 0x10FFFF)];

/// Number of printable code points (one past the largest index).
pub(super) fn printable_len() -> u32 {
    PRINTABLE.iter().map(|(a, b)| b - a + 1).sum()
}

pub(super) fn to_index(c: char) -> Option<u32> {
    let u = c as u32;
    let mut base = 0;
    for (a, b) in PRINTABLE {
        if (a..=b).contains(&u) {
            return Some(base + u - a);
        }
        base += b - a + 1;
    }
    None
}

pub(super) fn from_index(mut i: u32) -> char {
    for (a, b) in PRINTABLE {
        let n = b - a + 1;
        if i < n {
            return char::from_u32(a + i).expect("printable code point");
        }
        i -= n;
    }
    unreachable!("index beyond the printable range")
}

/// A digit strictly between `a` and `b` (`a + 2 <= b`; `a` may be -1 for "no
/// character"): first the edges of the common scripts (end of ASCII, Latin-1,
/// 0x800, CJK, the supplementary planes), then halving.
pub(super) fn pick_digit(a: i64, b: i64) -> i64 {
    for cut in ['\u{A0}', '\u{100}', '\u{800}', '\u{3000}', '\u{10000}'] {
        let c = i64::from(to_index(cut).expect("printable"));
        if a < c && c < b {
            return c;
        }
    }
    a + (b - a) / 2
}

/// A printable string strictly between `lo` and `hi` (None = above every
/// string), as printable indexes; None if there is none (or it would be too long).
pub(super) fn str_mid(lo: &[u32], hi: Option<&[u32]>) -> Option<Vec<u32>> {
    let top = i64::from(printable_len());
    let common = hi.map_or(0, |h| lo.iter().zip(h).take_while(|(a, b)| a == b).count());
    let a = lo.get(common).map_or(-1, |&x| i64::from(x));
    let b = match hi {
        // hi ended first: hi is a prefix of lo, so not above it.
        Some(h) => i64::from(*h.get(common)?),
        None => top,
    };
    if a >= b {
        return None;
    }
    let mut out = lo[..common].to_vec();
    if b - a >= 2 {
        out.push(pick_digit(a, b) as u32);
    } else if a == -1 {
        // lo is the prefix itself and hi = prefix + [0] + rest: prefix + [0]
        // lies strictly between when rest is not empty.
        let h = hi?;
        if h.len() <= common + 1 {
            return None;
        }
        out.push(0);
    } else {
        // hi's digit is a + 1: anything after lo that keeps digit a works.
        out.push(a as u32);
        out.extend(str_mid(&lo[common + 1..], None)?);
    }
    (out.len() <= MAX_PROBE_CHARS).then_some(out)
}

pub(super) fn indexes(s: &str) -> Option<Vec<u32>> {
    s.chars().map(to_index).collect()
}

impl Domain for Strings {
    type T = String;

    fn mid(&self, lo: &Key<String>, hi: &Key<String>) -> Option<String> {
        let lo = match lo {
            Key::Bottom => Vec::new(),
            Key::Val(s) => indexes(s)?,
            Key::Top => return None,
        };
        let hi = match hi {
            Key::Bottom => return None,
            Key::Val(s) => Some(indexes(s)?),
            Key::Top => None,
        };
        let m = str_mid(&lo, hi.as_deref())?;
        Some(m.into_iter().map(from_index).collect())
    }

    fn value(&self, t: &String) -> Value {
        Value::Str(t.clone())
    }
}
