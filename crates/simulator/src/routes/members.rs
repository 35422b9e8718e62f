//! The audience endpoints' answers: the attributes list, the count, and the
//! members walk (query parameters, cursors, the page cache and the rendering
//! of a page, with the next page rendered ahead).
//!
//! Membership changes (`Simulator::advance`): a count and a first page
//! always read the latest epoch. A cursor carries the epoch its listing
//! started in and its pages are that epoch's, so a listing that straddles an
//! advance is a consistent snapshot: the contract binds a cursor to its
//! query (audience, filters, limit), which has not changed, and says that
//! the same cursor always gives the same page. The next listing sees the
//! change.

use std::fmt::Write as _;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use axum::body::Body;
use bytes::Bytes;
use hyper::Response;

use super::{faults, truncate};
use crate::clock::Clock;
use crate::cursor::{self, CursorError, Fingerprint, Position};
use crate::data;
use crate::query::{parse_filters, plan_page, Filters, Selection};
use crate::reply::{json, ApiError};
use crate::state::Shared;

pub fn attributes() -> Response<Body> {
    let items: Vec<_> = data::ATTRIBUTES
        .iter()
        .map(|(n, t)| serde_json::json!({"name": n, "type": t.name()}))
        .collect();
    json(
        200,
        Bytes::from(serde_json::json!({ "items": items }).to_string()),
    )
}

/// Splits decoded parameters into filters, limit and cursor; anything else
/// (or a repeated limit / cursor) is `invalid_request`.
struct Params {
    filters: Vec<String>,
    limit: Option<String>,
    cursor: Option<String>,
}

fn split_params(params: Vec<(String, String)>, allow_paging: bool) -> Result<Params, ApiError> {
    let mut p = Params {
        filters: Vec::new(),
        limit: None,
        cursor: None,
    };
    for (k, v) in params {
        let slot = match k.as_str() {
            "filter" => {
                p.filters.push(v);
                continue;
            }
            "limit" if allow_paging => &mut p.limit,
            "cursor" if allow_paging => &mut p.cursor,
            _ => {
                return Err(ApiError::bad_request(
                    "invalid_request",
                    format!("unknown query parameter {:?}", truncate(&k)),
                ))
            }
        };
        if slot.is_some() {
            return Err(ApiError::bad_request(
                "invalid_request",
                format!("query parameter {k} given more than once"),
            ));
        }
        *slot = Some(v);
    }
    Ok(p)
}

pub fn count(
    shared: &Shared,
    audience: &str,
    params: Vec<(String, String)>,
) -> Result<Response<Body>, ApiError> {
    let p = split_params(params, false)?;
    let filters = parse_filters(&p.filters, &shared.schema)?;
    let clock = shared.clock();
    let n = shared.selection(audience, clock.now(), &filters).len();
    Ok(json(200, Bytes::from(format!("{{\"count\":{n}}}"))))
}

pub fn members(
    shared: &Arc<Shared>,
    audience: &str,
    params: Vec<(String, String)>,
) -> Result<Response<Body>, ApiError> {
    let p = split_params(params, true)?;
    let limit = match &p.limit {
        None => 100,
        Some(s) => match s.parse::<u64>() {
            Ok(l) if (1..=1000).contains(&l) => l,
            _ => {
                return Err(ApiError::bad_request(
                    "invalid_request",
                    format!(
                        "limit must be an integer from 1 to 1000, got {:?}",
                        truncate(s)
                    ),
                ))
            }
        },
    };
    let filters: Filters = parse_filters(&p.filters, &shared.schema)?;
    let fp = cursor::fingerprint(audience, &filters.normalized, limit as usize);
    let clock = shared.clock();
    let malformed = || ApiError::bad_request("invalid_cursor", "the cursor is not valid");
    let (epoch, pos) = match &p.cursor {
        None => (clock.epoch(), Position { offset: 0, seq: 0 }),
        Some(c) => cursor::decode(c, &fp).map_err(|e| {
            ApiError::bad_request(
                "invalid_cursor",
                match e {
                    CursorError::Malformed => return malformed(),
                    CursorError::OtherQuery => {
                        "the cursor belongs to a different query (audience, filters and limit must not change)"
                    }
                },
            )
        })?,
    };
    let view = clock.at(epoch).ok_or_else(malformed)?;
    let gen = shared.fault_gen.load(Ordering::SeqCst);
    let key = (fp, epoch, pos, gen);
    let (body, next) = match shared.cached_page(&key) {
        Some(hit) => {
            shared.stats().page_cache_hits += 1;
            hit
        }
        None => {
            let sel = shared.selection(audience, view, &filters);
            if pos.offset > sel.len() {
                return Err(ApiError::bad_request(
                    "invalid_cursor",
                    "the cursor is past the end",
                ));
            }
            render_page(shared, &clock, &sel, fp, (epoch, pos), limit, gen)
        }
    };
    if let Some(next) = next {
        // Render the next page while the client reads this one, so that a
        // first walk is served from memory too.
        let next_key = (fp, epoch, next, gen);
        if shared.begin_prefetch(&next_key) {
            let shared = shared.clone();
            let sel = shared.selection(audience, view, &filters);
            let clock = clock.clone();
            tokio::spawn(async move {
                render_page(&shared, &clock, &sel, fp, (epoch, next), limit, gen);
                shared.end_prefetch(&next_key);
            });
        }
    }
    let m = shared.members_calls.fetch_add(1, Ordering::SeqCst) + 1;
    Ok(faults::members_body(&shared.cfg(), m, body))
}

/// Renders the page at `pos` into the page cache; returns it and the position
/// its cursor points to.
fn render_page(
    shared: &Shared,
    clock: &Clock,
    sel: &Selection,
    fp: Fingerprint,
    (epoch, pos): (u32, Position),
    limit: u64,
    gen: u64,
) -> (Bytes, Option<Position>) {
    let view = clock.at(epoch).expect("the epoch was checked");
    let plan = plan_page(sel.len(), limit, pos, &shared.page_faults());
    let mut out = String::with_capacity(((plan.end - plan.start) as usize) * 230 + 128);
    out.push_str("{\"items\":[");
    for k in plan.start..plan.end {
        if k > plan.start {
            out.push(',');
        }
        let i = sel.get(k);
        data::write_member_at(&mut out, i, view.version(i), shared.data);
    }
    out.push_str("],\"nextPageToken\":");
    match plan.next {
        Some(next) => {
            let _ = write!(out, "\"{}\"", cursor::encode(&fp, epoch, next));
        }
        None => out.push_str("null"),
    }
    out.push('}');
    let page = (Bytes::from(out), plan.next);
    shared.store_page((fp, epoch, pos, gen), page.clone());
    shared.stats().pages_rendered += 1;
    page
}
