//! The fault switches that answer in place of an endpoint: per API call
//! (numbered on one global counter) a dropped connection, a 429 with
//! Retry-After, a 503 or a proxy's HTML 502, and per members call a
//! truncated 200 body. (Latency and the page-shaping faults live where they
//! act: `api` and `query::plan_page`.)

use axum::body::Body;
use bytes::Bytes;
use hyper::Response;

use crate::config::{hits, SimConfig};
use crate::reply::{json, with_type, ApiError, HTML_502};

/// The error a handler returns to make hyper close the connection without
/// writing a response (the drop fault).
#[derive(Debug)]
pub struct Dropped;

impl std::fmt::Display for Dropped {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("connection dropped by the simulator (fault switch)")
    }
}

impl std::error::Error for Dropped {}

/// Whether API call number `n` (1-based) is dropped.
pub fn drops(cfg: &SimConfig, n: u64) -> bool {
    hits(cfg.drop_every, n)
}

/// The answer a fault switch gives API call number `n` instead of the
/// endpoint, if one hits it (checked in this order: 429, 503, 502).
pub fn answer(cfg: &SimConfig, n: u64) -> Option<Response<Body>> {
    if hits(cfg.rate_limit_every, n) {
        let mut e = ApiError::new(429, "rate_limited", "too many requests; retry later");
        e.retry_after = Some(cfg.retry_after_secs);
        return Some(e.into_response());
    }
    if hits(cfg.unavailable_every, n) {
        return Some(
            ApiError::new(
                503,
                "service_unavailable",
                "the service is temporarily unavailable",
            )
            .into_response(),
        );
    }
    if hits(cfg.html_502_every, n) {
        return Some(with_type(
            502,
            "text/html; charset=utf-8",
            Bytes::from_static(HTML_502.as_bytes()),
        ));
    }
    None
}

/// A members page body as members call number `m` (1-based) gets it: whole,
/// or cut in half (still a 200 with a matching Content-Length) under
/// `truncated_every`.
pub fn members_body(cfg: &SimConfig, m: u64, body: Bytes) -> Response<Body> {
    if hits(cfg.truncated_every, m) {
        return json(200, body.slice(..body.len() / 2));
    }
    json(200, body)
}
