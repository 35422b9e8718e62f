//! A small mock of the API on 127.0.0.1 (axum): a token endpoint and a
//! fallback API handler, both scripted by closures and counted, and a
//! `Client` pointed at it with fast retries; the replies and scripts the
//! tests share.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::IntoResponse;
use cxone_cdp_core::api::Client;
use cxone_cdp_core::config::Config;
use cxone_cdp_core::page::Json;

pub type Reply = (u16, Vec<(&'static str, String)>, String);
type ApiFn = dyn Fn(&str, u64, &str) -> Reply + Send + Sync;
type TokenFn = dyn Fn(u64) -> Reply + Send + Sync;

/// A script for the API handler: the path and query, the call's number
/// (from 1) and the `Authorization` header in, the reply out.
pub trait Script: Fn(&str, u64, &str) -> Reply + Send + Sync + 'static {}
impl<F: Fn(&str, u64, &str) -> Reply + Send + Sync + 'static> Script for F {}

pub struct Mock {
    pub tokens: AtomicU64,
    pub api: AtomicU64,
    pub seen: Mutex<Vec<String>>,
    api_fn: Box<ApiFn>,
    token_fn: Box<TokenFn>,
    token_delay: Duration,
}

pub const ATTRS: &str = r#"{"items":[{"name":"city","type":"string"},{"name":"lifetime_value","type":"number"},{"name":"is_vip","type":"boolean"},{"name":"last_purchase_date","type":"date"}]}"#;

pub fn ok(body: &str) -> Reply {
    reply_with(200, body)
}

/// A reply with `status` and `body`, no extra headers.
pub fn reply_with(status: u16, body: &str) -> Reply {
    (status, vec![], body.to_string())
}

/// An API error body as the contract has it: `{"code", "message"}`.
pub fn api_error(status: u16, code: &str, message: &str) -> Reply {
    reply_with(
        status,
        &format!(r#"{{"code":"{code}","message":"{message}"}}"#),
    )
}

pub fn token_ok(n: u64) -> Reply {
    ok(&format!(
        r#"{{"access_token":"tok{n}","token_type":"Bearer","expires_in":3600,"scope":"x"}}"#
    ))
}

fn reply(r: Reply) -> axum::response::Response {
    let mut h = HeaderMap::new();
    for (k, v) in r.1 {
        h.insert(k, v.parse().unwrap());
    }
    (StatusCode::from_u16(r.0).unwrap(), h, r.2).into_response()
}

async fn token_handler(State(m): State<Arc<Mock>>, body: String) -> axum::response::Response {
    let n = m.tokens.fetch_add(1, Ordering::SeqCst) + 1;
    assert!(body.contains("grant_type=client_credentials"));
    tokio::time::sleep(m.token_delay).await;
    reply((m.token_fn)(n))
}

async fn api_handler(
    State(m): State<Arc<Mock>>,
    uri: Uri,
    headers: HeaderMap,
) -> axum::response::Response {
    let pq = uri
        .path_and_query()
        .map(|p| p.as_str())
        .unwrap_or("")
        .to_string();
    let auth = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    if pq == "/api/v2/cdp/attributes" {
        return reply(ok(ATTRS));
    }
    let n = m.api.fetch_add(1, Ordering::SeqCst) + 1;
    m.seen.lock().unwrap().push(pq.clone());
    reply((m.api_fn)(&pq, n, &auth))
}

/// [`start`] with a token endpoint that always succeeds, at once.
pub async fn serve(
    api_fn: impl Fn(&str, u64, &str) -> Reply + Send + Sync + 'static,
) -> (Client, Arc<Mock>) {
    start(api_fn, token_ok, Duration::ZERO).await
}

pub async fn start(
    api_fn: impl Fn(&str, u64, &str) -> Reply + Send + Sync + 'static,
    token_fn: impl Fn(u64) -> Reply + Send + Sync + 'static,
    token_delay: Duration,
) -> (Client, Arc<Mock>) {
    let mock = Arc::new(Mock {
        tokens: AtomicU64::new(0),
        api: AtomicU64::new(0),
        seen: Mutex::new(Vec::new()),
        api_fn: Box::new(api_fn),
        token_fn: Box::new(token_fn),
        token_delay,
    });
    let app = axum::Router::new()
        .route("/oauth/token", axum::routing::post(token_handler))
        .fallback(api_handler)
        .with_state(mock.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let mut config = Config::new(format!("http://{addr}"), "id", "very-secret-value");
    config.retry.backoff_base = 0.01;
    config.retry.backoff_max = 0.05;
    config.timeout = Duration::from_secs(5);
    (Client::new(config).unwrap(), mock)
}

pub const AUD: &str = "a1b2c3d4-e5f6-7890-abcd-ef1234567890";

pub fn page(ids: &[u32], next: Option<&str>) -> String {
    let items: Vec<String> = ids
        .iter()
        .map(|i| format!(r#"{{"memberId":"m{i}","joinedAt":"2024-01-01T00:00:00Z","attributes":{{"lifetime_value":{i}}}}}"#))
        .collect();
    let next = next.map_or("null".to_string(), |n| format!("\"{n}\""));
    format!(
        r#"{{"items":[{}],"nextPageToken":{next}}}"#,
        items.join(",")
    )
}

/// A members page cut off in the middle of its first member.
pub const TRUNCATED: &str = r#"{"items":[{"memberId":"m1""#;

/// Every call answered with `r`.
pub fn always(r: Reply) -> impl Script {
    move |_: &str, _: u64, _: &str| r.clone()
}

/// Every call answered with a count of `n`.
pub fn count_of(n: u64) -> impl Script {
    always(ok(&format!(r#"{{"count":{n}}}"#)))
}

/// The first `failures` calls answered with `failure`, the later ones as
/// `then` answers them.
pub fn failing_first(failures: u64, failure: Reply, then: impl Script) -> impl Script {
    move |pq: &str, n: u64, auth: &str| {
        if n <= failures {
            failure.clone()
        } else {
            then(pq, n, auth)
        }
    }
}

/// A listing whose cursors go round: the first page hands out `a`, `a`
/// hands out `b` and `b` hands out `a` again.
pub fn cursor_cycle(pq: &str, _: u64, _: &str) -> Reply {
    if pq.contains("cursor=b") {
        ok(&page(&[2], Some("a")))
    } else if pq.contains("cursor=a") {
        ok(&page(&[1], Some("b")))
    } else {
        ok(&page(&[0], Some("a")))
    }
}

pub fn ids(members: &[Json]) -> Vec<String> {
    members
        .iter()
        .map(|m| m.get("memberId").unwrap().as_str().unwrap().to_string())
        .collect()
}
