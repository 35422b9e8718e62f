//! The simulator's own endpoints under `/_sim/`: the completion callback
//! sink (`POST callbacks`, recorded for `Simulator::callbacks`), JSON views
//! of the counters and the stored webhooks, and the membership clock
//! (`POST advance` with `{"joined": n, "left": n, "changed": n}`, each
//! optional; `GET membership`), so shell users can move an audience on too.

use std::collections::BTreeMap;

use axum::body::Body;
use bytes::Bytes;
use hyper::body::Incoming;
use hyper::{Method, Request, Response};

use super::read_body;
use crate::clock::Advance;
use crate::reply::{json, ApiError};
use crate::state::Shared;
use crate::stats::Callback;

pub async fn introspection(shared: &Shared, rest: &str, req: Request<Incoming>) -> Response<Body> {
    match (req.method().clone(), rest) {
        (Method::POST, "callbacks") => {
            let mut headers: BTreeMap<String, String> = BTreeMap::new();
            for (k, v) in req.headers() {
                let v = String::from_utf8_lossy(v.as_bytes()).into_owned();
                headers
                    .entry(k.as_str().to_ascii_lowercase())
                    .and_modify(|e| {
                        e.push_str(", ");
                        e.push_str(&v)
                    })
                    .or_insert(v);
            }
            let body = read_body(req).await.unwrap_or_default();
            shared
                .callbacks
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push(Callback {
                    headers,
                    body: body.to_vec(),
                });
            shared.stats().callbacks += 1;
            json(200, Bytes::from_static(b"{\"received\":true}"))
        }
        (Method::POST, "advance") => {
            let body = read_body(req).await.unwrap_or_default();
            match advance_of(&body) {
                Ok(a) => match shared.advance(a) {
                    Ok(m) => json(200, Bytes::from(m.to_json().to_string())),
                    Err(e) => ApiError::bad_request("invalid_body", e.to_string()).into_response(),
                },
                Err(e) => e.into_response(),
            }
        }
        (Method::GET, "membership") => {
            let clock = shared.clock();
            let body = serde_json::json!({"epoch": clock.epoch(), "members": clock.now().size()});
            json(200, Bytes::from(body.to_string()))
        }
        (Method::GET, "stats") => {
            let s = shared.stats().clone();
            json(200, Bytes::from(serde_json::to_vec(&s).unwrap_or_default()))
        }
        (Method::GET, "webhooks") => {
            let w = shared
                .webhooks
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .clone();
            json(200, Bytes::from(serde_json::to_vec(&w).unwrap_or_default()))
        }
        _ => ApiError::new(404, "not_found", "unknown simulator endpoint").into_response(),
    }
}

/// The advance a `POST advance` body asks for (an empty body is an empty advance).
fn advance_of(body: &[u8]) -> Result<Advance, ApiError> {
    let bad = |why: &str| ApiError::bad_request("invalid_body", why.to_string());
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(Advance::default());
    }
    let v: serde_json::Value =
        serde_json::from_slice(body).map_err(|_| bad("the body is not JSON"))?;
    let obj = v
        .as_object()
        .ok_or_else(|| bad("the body must be a JSON object"))?;
    let mut a = Advance::default();
    for (k, n) in obj {
        let n = n
            .as_u64()
            .ok_or_else(|| bad(&format!("{k} must be a non-negative integer")))?;
        match k.as_str() {
            "joined" => a.joined = n,
            "left" => a.left = n,
            "changed" => a.changed = n,
            _ => return Err(bad(&format!("unknown field {k:?} (joined, left, changed)"))),
        }
    }
    Ok(a)
}
