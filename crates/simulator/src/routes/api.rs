//! The contract's API under `/api/`: which endpoint a path names, the fault
//! switches every API call passes, the bearer token and its scopes, then the
//! endpoint itself.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use axum::body::Body;
use hyper::body::Incoming;
use hyper::{header, Method, Request, Response};

use super::faults::{self, Dropped};
use super::{members, truncate, webhooks};
use crate::query::decode_query;
use crate::reply::ApiError;
use crate::state::Shared;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Endpoint {
    Attributes,
    Count,
    Members,
    Webhooks,
    Other,
}

impl Endpoint {
    fn name(self) -> &'static str {
        match self {
            Endpoint::Attributes => "attributes",
            Endpoint::Count => "count",
            Endpoint::Members => "members",
            Endpoint::Webhooks => "webhooks",
            Endpoint::Other => "other",
        }
    }

    fn scope(self) -> Option<&'static str> {
        match self {
            Endpoint::Attributes => Some("cdp:read"),
            Endpoint::Count | Endpoint::Members => Some("audiences:read"),
            Endpoint::Webhooks => Some("webhooks:write"),
            Endpoint::Other => None,
        }
    }

    fn method(self) -> Method {
        if self == Endpoint::Webhooks {
            Method::POST
        } else {
            Method::GET
        }
    }
}

/// The endpoint a path names, and the audience id for the audience endpoints.
fn route(path: &str) -> (Endpoint, Option<String>) {
    if path == "/api/v2/cdp/attributes" {
        return (Endpoint::Attributes, None);
    }
    if path == "/api/v2/webhooks" {
        return (Endpoint::Webhooks, None);
    }
    if let Some(rest) = path.strip_prefix("/api/v2/audiences/") {
        if let Some(id) = rest.strip_suffix("/members/count") {
            if !id.is_empty() && !id.contains('/') {
                return (Endpoint::Count, Some(id.to_string()));
            }
        } else if let Some(id) = rest.strip_suffix("/members") {
            if !id.is_empty() && !id.contains('/') {
                return (Endpoint::Members, Some(id.to_string()));
            }
        }
    }
    (Endpoint::Other, None)
}

pub async fn api(shared: &Arc<Shared>, req: Request<Incoming>) -> Result<Response<Body>, Dropped> {
    let cfg = shared.cfg();
    if let Some(d) = cfg.latency {
        tokio::time::sleep(d).await;
    }
    let n = shared.api_calls.fetch_add(1, Ordering::SeqCst) + 1;
    let (endpoint, audience) = route(req.uri().path());
    shared.stats().api_requests += 1;
    if faults::drops(&cfg, n) {
        let mut s = shared.stats();
        s.dropped_connections += 1;
        *s.by_endpoint.entry(endpoint.name().into()).or_default() += 1;
        return Err(Dropped);
    }
    let resp = match faults::answer(&cfg, n) {
        Some(r) => r,
        None => match api_inner(shared, endpoint, audience, req).await {
            Ok(r) => r,
            Err(e) => e.into_response(),
        },
    };
    shared.stats().api(endpoint.name(), resp.status().as_u16());
    Ok(resp)
}

async fn api_inner(
    shared: &Arc<Shared>,
    endpoint: Endpoint,
    audience: Option<String>,
    req: Request<Incoming>,
) -> Result<Response<Body>, ApiError> {
    let bearer = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim);
    let scopes = match bearer {
        None => {
            return Err(ApiError::new(
                401,
                "unauthorized",
                "missing bearer token (Authorization: Bearer <token>)",
            ))
        }
        Some(t) => shared.check_token(t).ok_or_else(|| {
            ApiError::new(
                401,
                "unauthorized",
                "the access token is invalid, expired or revoked",
            )
        })?,
    };
    if endpoint == Endpoint::Other {
        return Err(ApiError::new(
            404,
            "not_found",
            format!("no such endpoint {}", truncate(req.uri().path())),
        ));
    }
    if req.method() != endpoint.method() {
        return Err(ApiError::new(
            405,
            "method_not_allowed",
            format!("{} takes {}", endpoint.name(), endpoint.method()),
        ));
    }
    if let Some(scope) = endpoint.scope() {
        if !scopes.contains(&scope) {
            return Err(ApiError::new(
                403,
                "forbidden",
                format!("the access token lacks the scope {scope}"),
            ));
        }
    }
    let raw_query = req.uri().query().unwrap_or("").to_string();
    match endpoint {
        Endpoint::Attributes => Ok(members::attributes()),
        Endpoint::Webhooks => webhooks::webhooks(shared, req).await,
        Endpoint::Count | Endpoint::Members => {
            let audience = audience.unwrap_or_default();
            if !shared.knows(&audience) {
                return Err(ApiError::new(
                    404,
                    "not_found",
                    format!("audience {} not found", truncate(&audience)),
                ));
            }
            let params = decode_query(&raw_query)?;
            if endpoint == Endpoint::Count {
                members::count(shared, &audience, params)
            } else {
                members::members(shared, &audience, params)
            }
        }
        Endpoint::Other => unreachable!("handled above"),
    }
}
