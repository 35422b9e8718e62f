//! Request handling, one concept a file: the token endpoints (`token`), the
//! discovery documents (`discovery`), the `/_sim/` introspection and
//! callback sink (`introspection`), the contract's API endpoints (`api`:
//! routing, bearer and scope checks; `members`: count and the cursor walk;
//! `webhooks`: registrations) and the fault switches that answer instead of
//! an endpoint (`faults`).

mod api;
mod discovery;
mod faults;
mod introspection;
mod members;
mod token;
mod webhooks;

use std::sync::Arc;

use axum::body::Body;
use bytes::Bytes;
use hyper::body::Incoming;
use hyper::{header, HeaderMap, Request, Response};

pub use faults::Dropped;

use super::reply::ApiError;
use super::state::Shared;

/// Largest request body read (token forms, webhooks, callbacks).
const MAX_BODY: usize = 1 << 20;

/// Answers one request (or drops the connection, for the drop fault).
pub async fn handle(
    shared: Arc<Shared>,
    req: Request<Incoming>,
) -> Result<Response<Body>, Dropped> {
    let path = req.uri().path().to_string();
    if path == "/oauth/token" || path == "/auth/token" {
        return Ok(token::token(&shared, req, &path).await);
    }
    if let Some(doc) = path.strip_prefix("/.well-known/") {
        return Ok(discovery::well_known(&shared, doc, req));
    }
    if let Some(rest) = path.strip_prefix("/_sim/") {
        return Ok(introspection::introspection(&shared, rest, req).await);
    }
    if path.starts_with("/api/") {
        return api::api(&shared, req).await;
    }
    Ok(ApiError::new(
        404,
        "not_found",
        format!("no route for {}", truncate(&path)),
    )
    .into_response())
}

/// At most 100 characters of caller-supplied text, for error messages.
fn truncate(s: &str) -> String {
    s.chars().take(100).collect()
}

async fn read_body(req: Request<Incoming>) -> Option<Bytes> {
    axum::body::to_bytes(Body::new(req.into_body()), MAX_BODY)
        .await
        .ok()
}

fn content_type(h: &HeaderMap) -> String {
    h.get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_ascii_lowercase()
}

/// `http(s)://<Host>`: the simulator's own address as the client reached it
/// (the issuer of discovery documents and id_tokens).
fn issuer_of(shared: &Shared, h: &HeaderMap) -> String {
    let host = h
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.is_empty() && !v.contains(['/', ' ']))
        .unwrap_or("127.0.0.1");
    let scheme = if shared.tls { "https" } else { "http" };
    format!("{scheme}://{host}")
}
