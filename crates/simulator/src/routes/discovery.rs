//! The discovery documents: `/.well-known/openid-configuration` (naming the
//! CXone token endpoint) and `/.well-known/cxone-configuration?tenantId=...`
//! (naming the API endpoint), with the `broken_discovery` fault.

use axum::body::Body;
use bytes::Bytes;
use hyper::body::Incoming;
use hyper::{Method, Request, Response};

use super::{issuer_of, truncate};
use crate::config::SimConfig;
use crate::reply::{json, with_type, ApiError};
use crate::state::Shared;

/// Which fault `broken_discovery` puts on document `doc` (`openid`, `cxone`).
fn discovery_fault<'a>(cfg: &'a SimConfig, doc: &str) -> Option<&'a str> {
    let b = cfg.broken_discovery.as_deref()?;
    let kind = match b.split_once(':') {
        Some((target, kind)) if target == doc => kind,
        Some(_) => return None,
        None => b,
    };
    (kind != "bad_id_token").then_some(kind)
}

/// `/.well-known/openid-configuration` and `/.well-known/cxone-configuration`.
pub fn well_known(shared: &Shared, doc: &str, req: Request<Incoming>) -> Response<Body> {
    let cfg = shared.cfg();
    let (name, short) = match doc {
        "openid-configuration" => (doc, "openid"),
        "cxone-configuration" => (doc, "cxone"),
        _ => return ApiError::new(404, "not_found", "unknown discovery document").into_response(),
    };
    *shared
        .stats()
        .well_known
        .entry(name.to_string())
        .or_default() += 1;
    if req.method() != Method::GET {
        return ApiError::new(405, "method_not_allowed", "discovery documents take GET")
            .into_response();
    }
    let issuer = issuer_of(shared, req.headers());
    let fault = discovery_fault(&cfg, short);
    match fault {
        Some("404") => {
            return ApiError::new(404, "not_found", format!("no {name} here")).into_response()
        }
        Some("not_json") => {
            return with_type(
                200,
                "text/html; charset=utf-8",
                Bytes::from_static(b"<!DOCTYPE html><html><body><h1>Sign in</h1></body></html>"),
            )
        }
        _ => {}
    }
    let missing = fault == Some("missing_field");
    let body = if short == "openid" {
        let mut v = serde_json::json!({
            "issuer": issuer,
            "authorization_endpoint": format!("{issuer}/auth/authorize"),
            "jwks_uri": format!("{issuer}/.well-known/jwks"),
            "grant_types_supported": ["password", "client_credentials"],
            "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
        });
        if !missing {
            v["token_endpoint"] = format!("{issuer}/auth/token").into();
        }
        v
    } else {
        let query = req.uri().query().unwrap_or("");
        let tenant = form_urlencoded::parse(query.as_bytes())
            .find(|(k, _)| k == "tenantId")
            .map(|(_, v)| v.into_owned());
        match tenant {
            None => {
                return ApiError::bad_request("invalid_request", "tenantId is required")
                    .into_response()
            }
            Some(t) if t != cfg.tenant_id => {
                return ApiError::new(
                    404,
                    "not_found",
                    format!("unknown tenant {:?}", truncate(&t)),
                )
                .into_response()
            }
            Some(_) => {}
        }
        let mut v = serde_json::json!({
            "private": false,
            "tenantId": cfg.tenant_id,
            "area": cfg.area,
            "cluster": "SIM1",
            "domain": "127.0.0.1",
            "ui_endpoint": issuer,
            "auth_endpoint": issuer,
        });
        if !missing {
            v["api_endpoint"] = issuer.clone().into();
        }
        v
    };
    json(200, Bytes::from(body.to_string()))
}
