//! What the server makes of a request's query string: raw decoding with
//! `application/x-www-form-urlencoded` semantics (strict about `%`), the
//! `filter` parameters parsed and type-checked against the schema, the
//! filtered member selection, and the page plan for a cursor position.

use std::sync::Arc;

use crate::grammar::{self, Filter, Schema, MAX_COMPLEXITY, MAX_FILTERS};

use super::clock::{Clock, View};
use super::cursor::Position;
use super::data;
use super::reply::ApiError;

/// Decodes a raw query string into `(name, value)` pairs the way a form
/// decoder does: split at `&`, name and value split at the first `=`, `+` is
/// a space, `%XX` a byte. A `%` not followed by two hex digits, or bytes that
/// are not UTF-8, are a 400 `invalid_request` (so a client that sends `100%`
/// unencoded, or Latin-1 bytes, hears about it).
pub fn decode_query(raw: &str) -> Result<Vec<(String, String)>, ApiError> {
    let mut out = Vec::new();
    for part in raw.split('&') {
        if part.is_empty() {
            continue;
        }
        let (k, v) = part.split_once('=').unwrap_or((part, ""));
        out.push((decode_component(k)?, decode_component(v)?));
    }
    Ok(out)
}

fn hex(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

pub fn decode_component(s: &str) -> Result<String, ApiError> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let pair = (
                    b.get(i + 1).and_then(|&c| hex(c)),
                    b.get(i + 2).and_then(|&c| hex(c)),
                );
                match pair {
                    (Some(h), Some(l)) => out.push(h * 16 + l),
                    _ => {
                        return Err(ApiError::bad_request(
                            "invalid_request",
                            "malformed percent-encoding in the query string ('%' must be followed by two hex digits)",
                        ))
                    }
                }
                i += 2;
            }
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8(out).map_err(|_| {
        ApiError::bad_request(
            "invalid_request",
            "query parameter is not UTF-8 after percent-decoding",
        )
    })
}

/// Parsed, type-checked filters and their normalized forms (sorted, unique),
/// which identify the query for cursors and caches.
#[derive(Debug, Clone)]
pub struct Filters {
    pub filters: Vec<Filter>,
    pub normalized: Vec<String>,
}

/// Parses decoded `filter` parameter values. Too many filters or too much
/// complexity is `query_too_complex`; anything unparseable, an unknown
/// attribute, a value of the wrong type or an operator that does not apply
/// is `invalid_filter`.
pub fn parse_filters(raw: &[String], schema: &Schema) -> Result<Filters, ApiError> {
    if raw.len() > MAX_FILTERS {
        return Err(ApiError::bad_request(
            "query_too_complex",
            format!(
                "{} filters given; at most {MAX_FILTERS} are allowed",
                raw.len()
            ),
        ));
    }
    let mut filters = Vec::with_capacity(raw.len());
    let mut normalized = Vec::with_capacity(raw.len());
    for text in raw {
        let f = grammar::parse(text, schema)
            .map_err(|why| ApiError::bad_request("invalid_filter", why))?;
        normalized.push(format!(
            "{}\u{1f}{}\u{1f}{}",
            f.attribute,
            f.op.symbol(),
            f.value.canonical()
        ));
        filters.push(f);
    }
    let c = grammar::complexity(&filters);
    if c > MAX_COMPLEXITY {
        return Err(ApiError::bad_request(
            "query_too_complex",
            format!("filter complexity {c} exceeds the maximum of {MAX_COMPLEXITY}"),
        ));
    }
    normalized.sort();
    normalized.dedup();
    Ok(Filters {
        filters,
        normalized,
    })
}

/// The members a query selects, in listing order.
#[derive(Debug, Clone)]
pub enum Selection {
    /// Members `0..n` (no filter).
    All(u64),
    /// The matching member indexes.
    Some(Arc<Vec<u32>>),
}

impl Selection {
    pub fn len(&self) -> u64 {
        match self {
            Selection::All(n) => *n,
            Selection::Some(v) => v.len() as u64,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The member index at position `k` of the listing.
    pub fn get(&self, k: u64) -> u64 {
        match self {
            Selection::All(_) => k,
            Selection::Some(v) => v[k as usize] as u64,
        }
    }
}

/// Computes the selection of `members` members under `filters` (AND).
pub fn select(members: u64, filters: &[Filter]) -> Selection {
    if filters.is_empty() {
        return Selection::All(members);
    }
    select_in(
        Clock::new(members).now(),
        filters,
        data::DataOpts::default(),
        false,
    )
}

/// [`select`] over one epoch of the membership clock (members present,
/// with their attribute values of that epoch) under data options,
/// optionally among the subset audience's members only.
pub fn select_in(
    view: View<'_>,
    filters: &[Filter],
    opts: data::DataOpts,
    subset: bool,
) -> Selection {
    let v: Vec<u32> = view
        .members()
        .filter(|&i| !subset || data::in_subset(i))
        .filter(|&i| {
            let version = view.version(i);
            filters
                .iter()
                .all(|f| data::matches_at(i, version, f, opts))
        })
        .map(|i| i as u32)
        .collect();
    Selection::Some(Arc::new(v))
}

/// The page-shaping fault switches.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PageFaults {
    pub empty_page_every: Option<u64>,
    pub short_pages: bool,
    pub repeat_cursor_after: Option<u64>,
}

/// One page: the listing positions `start..end` and where the next page starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PagePlan {
    pub start: u64,
    pub end: u64,
    pub next: Option<Position>,
}

fn short_len(limit: u64, seq: u32) -> u64 {
    // Between 1/8 and 7/8 of the limit, varying with the page number.
    let k = 1 + (u64::from(seq).wrapping_mul(0x9E37_79B9) >> 7) % 7;
    (limit * k / 8).max(1)
}

/// Plans the page at `pos` of a listing of `total` members. Pages depend only
/// on (query, position, faults), so fetching a cursor twice gives the same page.
pub fn plan_page(total: u64, limit: u64, pos: Position, faults: &PageFaults) -> PagePlan {
    let offset = pos.offset.min(total);
    if let Some(n) = faults.empty_page_every {
        // Every n-th page (n >= 2, never the first) is empty but carries a
        // new cursor: same offset, next sequence number.
        let n = n.max(2);
        if pos.seq > 0 && (u64::from(pos.seq) + 1) % n == 0 && offset < total {
            return PagePlan {
                start: offset,
                end: offset,
                next: Some(Position {
                    offset,
                    seq: pos.seq + 1,
                }),
            };
        }
    }
    let len = if faults.short_pages && limit > 1 {
        short_len(limit, pos.seq)
    } else {
        limit
    };
    let end = (offset + len).min(total);
    let mut next = (end < total).then_some(Position {
        offset: end,
        seq: pos.seq + 1,
    });
    if let (Some(n), Some(_)) = (faults.repeat_cursor_after, next) {
        if pos.seq >= n.max(1) as u32 {
            // Misbehave: hand back the cursor of page 1, already followed.
            let first = plan_page(
                total,
                limit,
                Position { offset: 0, seq: 0 },
                &PageFaults {
                    repeat_cursor_after: None,
                    ..*faults
                },
            );
            next = first.next;
        }
    }
    PagePlan {
        start: offset,
        end,
        next,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::{schema, CITIES};

    fn filters(raw: &[&str]) -> Result<Filters, ApiError> {
        let raw: Vec<String> = raw.iter().map(|s| s.to_string()).collect();
        parse_filters(&raw, &schema())
    }

    #[test]
    fn form_decoding() {
        let q = decode_query("filter=city%3DRock%20%26%20Roll&limit=5").unwrap();
        assert_eq!(q[0], ("filter".into(), "city=Rock & Roll".into()));
        assert_eq!(q[1], ("limit".into(), "5".into()));
        // Unencoded '&' splits, '+' is a space.
        let q = decode_query("filter=city=Rock%20&%20Roll").unwrap();
        assert_eq!(q.len(), 2);
        assert_eq!(q[0].1, "city=Rock ");
        assert_eq!(
            decode_query("filter=city=a+b=c").unwrap()[0].1,
            "city=a b=c"
        );
        assert_eq!(
            decode_query("filter=city%3DS%C3%A3o+Paulo").unwrap()[0].1,
            "city=São Paulo"
        );
        // Strict about '%' and UTF-8.
        assert_eq!(
            decode_query("filter=city=100%").unwrap_err().code,
            "invalid_request"
        );
        assert_eq!(
            decode_query("filter=city=100%zz").unwrap_err().code,
            "invalid_request"
        );
        assert_eq!(
            decode_query("filter=city=S%E3o").unwrap_err().code,
            "invalid_request"
        );
        assert!(decode_query("").unwrap().is_empty());
    }

    #[test]
    fn filter_errors() {
        assert_eq!(filters(&["city"]).unwrap_err().code, "invalid_filter");
        assert_eq!(filters(&["nope=1"]).unwrap_err().code, "invalid_filter");
        assert_eq!(
            filters(&["lifetime_value=abc"]).unwrap_err().code,
            "invalid_filter"
        );
        assert_eq!(filters(&["is_vip=yes"]).unwrap_err().code, "invalid_filter");
        assert_eq!(
            filters(&["is_vip>true"]).unwrap_err().code,
            "invalid_filter"
        );
        assert_eq!(
            filters(&["lifetime_value~1"]).unwrap_err().code,
            "invalid_filter"
        );
        assert_eq!(
            filters(&["last_purchase_date>2024-1-1"]).unwrap_err().code,
            "invalid_filter"
        );
        assert!(filters(&["last_purchase_date>2024-01-01"]).is_ok());
    }

    #[test]
    fn complexity_limits() {
        let twenty: Vec<&str> = vec!["city~a"; 20];
        assert!(filters(&twenty).is_ok());
        let mut more = twenty.clone();
        more.push("city=a");
        assert_eq!(filters(&more).unwrap_err().code, "query_too_complex");
        let fifty: Vec<&str> = vec!["city=a"; 50];
        assert!(filters(&fifty).is_ok());
        let fifty_one: Vec<&str> = vec!["city=a"; 51];
        assert_eq!(filters(&fifty_one).unwrap_err().code, "query_too_complex");
    }

    #[test]
    fn normalization_ignores_order_and_number_spelling() {
        let a = filters(&["lifetime_value>250", "city=Paris"]).unwrap();
        let b = filters(&["city=Paris", "lifetime_value>250.0"]).unwrap();
        assert_eq!(a.normalized, b.normalized);
    }

    fn count(raw: &[&str], n: u64) -> u64 {
        select(n, &filters(raw).unwrap().filters).len()
    }

    fn brute(n: u64, pred: impl Fn(u64) -> bool) -> u64 {
        (0..n).filter(|&i| pred(i)).count() as u64
    }

    #[test]
    fn semantics_on_data() {
        let n = 5_000;
        for c in CITIES {
            let want = brute(n, |i| data::city(i) == c);
            assert!(want > 0);
            assert_eq!(count(&[&format!("city={c}")], n), want, "{c}");
            assert_eq!(count(&[&format!("city!={c}")], n), n - want);
        }
        assert_eq!(count(&["city=Rock "], n), 0);
        assert_eq!(count(&["city=a b=c"], n), 0);
        assert_eq!(
            count(&["city~Paulo"], n),
            brute(n, |i| data::city(i) == "São Paulo")
        );
        // Numbers compare numerically: 250 == 250.0, 12.5 < 100 (as text "12.5" > "100").
        assert_eq!(
            count(&["lifetime_value>100"], n),
            brute(n, |i| data::lifetime_cents(i) > 10_000)
        );
        assert_eq!(
            count(&["lifetime_value<12.5"], n),
            brute(n, |i| data::lifetime_cents(i) < 1_250)
        );
        let some = data::lifetime_cents(3);
        let text = data::cents_text(some);
        assert_eq!(
            count(&[&format!("lifetime_value={text}")], n),
            brute(n, |i| data::lifetime_cents(i) == some)
        );
        assert!(count(&[&format!("lifetime_value={text}")], n) >= 1);
        // Booleans.
        assert_eq!(count(&["is_vip=true"], n), brute(n, data::is_vip));
        assert_eq!(count(&["is_vip!=true"], n), brute(n, |i| !data::is_vip(i)));
        // Dates and strings by code point.
        let d = chrono::NaiveDate::from_ymd_opt(2023, 6, 1).unwrap();
        assert_eq!(
            count(&["last_purchase_date>2023-06-01"], n),
            brute(n, |i| data::last_purchase_date(i) > d)
        );
        assert_eq!(
            count(&["city>Rock"], n),
            brute(n, |i| data::city(i) > "Rock")
        );
        assert_eq!(count(&["city<a"], n), brute(n, |i| data::city(i) < "a"));
        // AND of several.
        assert_eq!(
            count(&["is_vip=true", "city=x#y"], n),
            brute(n, |i| data::is_vip(i) && data::city(i) == "x#y")
        );
    }

    fn walk(total: u64, limit: u64, faults: PageFaults) -> (Vec<u64>, usize, usize) {
        let mut pos = Position { offset: 0, seq: 0 };
        let mut seen = Vec::new();
        let (mut pages, mut empties) = (0, 0);
        loop {
            let p = plan_page(total, limit, pos, &faults);
            pages += 1;
            assert!(p.end - p.start <= limit);
            if p.end == p.start {
                empties += 1;
            }
            seen.extend(p.start..p.end);
            match p.next {
                Some(n) => {
                    assert!(n.seq == pos.seq + 1, "cursors are new and distinct");
                    pos = n
                }
                None => break,
            }
            assert!(pages < 100_000);
        }
        (seen, pages, empties)
    }

    #[test]
    fn pages_cover_every_member_once() {
        for faults in [
            PageFaults::default(),
            PageFaults {
                short_pages: true,
                ..Default::default()
            },
            PageFaults {
                empty_page_every: Some(3),
                ..Default::default()
            },
            PageFaults {
                empty_page_every: Some(1),
                short_pages: true,
                ..Default::default()
            },
        ] {
            for (total, limit) in [(0, 10), (1, 10), (10, 10), (1_001, 100), (999, 1)] {
                let (seen, _, empties) = walk(total, limit, faults);
                assert_eq!(
                    seen,
                    (0..total).collect::<Vec<_>>(),
                    "{faults:?} {total} {limit}"
                );
                if faults.empty_page_every.is_some() && total > 3 * limit {
                    assert!(empties > 0);
                }
            }
        }
        let (_, pages, _) = walk(
            1_000,
            100,
            PageFaults {
                short_pages: true,
                ..Default::default()
            },
        );
        assert!(pages > 10, "short pages mean more pages");
    }

    #[test]
    fn repeated_cursor_fault() {
        let faults = PageFaults {
            repeat_cursor_after: Some(3),
            ..Default::default()
        };
        let first = plan_page(1_000, 100, Position { offset: 0, seq: 0 }, &faults)
            .next
            .unwrap();
        let mut pos = first;
        for _ in 0..3 {
            pos = plan_page(1_000, 100, pos, &faults).next.unwrap();
        }
        assert_eq!(pos, first);
    }

    proptest::proptest! {
        #[test]
        fn any_listing_is_covered_exactly_once(
            total in 0u64..3_000,
            limit in 1u64..300,
            empty in proptest::option::of(1u64..6),
            short in proptest::bool::ANY,
        ) {
            let faults = PageFaults { empty_page_every: empty, short_pages: short, repeat_cursor_after: None };
            let (seen, _, _) = walk(total, limit, faults);
            proptest::prop_assert_eq!(seen, (0..total).collect::<Vec<_>>());
        }
    }
}
