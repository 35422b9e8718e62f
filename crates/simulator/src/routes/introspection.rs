//! The simulator's own endpoints under `/_sim/`: the completion callback
//! sink (`POST callbacks`, recorded for `Simulator::callbacks`) and JSON views
//! of the counters and the stored webhooks.

use std::collections::BTreeMap;

use axum::body::Body;
use bytes::Bytes;
use hyper::body::Incoming;
use hyper::{Method, Request, Response};

use super::read_body;
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
