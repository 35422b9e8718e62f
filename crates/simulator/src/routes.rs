//! Request handling: the token endpoint, the four API endpoints of the
//! contract, the fault switches and the `/_sim/` introspection endpoints.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use axum::body::Body;
use bytes::Bytes;
use hyper::body::Incoming;
use hyper::{header, HeaderMap, Method, Request, Response};

use super::config::hits;
use super::cursor::{self, CursorError, Fingerprint, Position};
use super::data;
use super::query::{decode_query, parse_filters, plan_page, Filters, Selection};
use super::reply::{json, oauth_error, with_type, ApiError, HTML_502};
use super::state::{Shared, SCOPES};
use super::stats::Callback;

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

const MAX_BODY: usize = 1 << 20;

pub async fn handle(
    shared: Arc<Shared>,
    req: Request<Incoming>,
) -> Result<Response<Body>, Dropped> {
    let path = req.uri().path().to_string();
    if path == "/oauth/token" || path == "/auth/token" {
        return Ok(token(&shared, req, &path).await);
    }
    if let Some(doc) = path.strip_prefix("/.well-known/") {
        return Ok(well_known(&shared, doc, req));
    }
    if let Some(rest) = path.strip_prefix("/_sim/") {
        return Ok(introspection(&shared, rest, req).await);
    }
    if path.starts_with("/api/") {
        return api(&shared, req).await;
    }
    Ok(ApiError::new(
        404,
        "not_found",
        format!("no route for {}", truncate(&path)),
    )
    .into_response())
}

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

// ---------------------------------------------------------------- token

async fn token(shared: &Shared, req: Request<Incoming>, path: &str) -> Response<Body> {
    let cfg = shared.cfg();
    if let Some(d) = cfg.token_delay {
        tokio::time::sleep(d).await;
    }
    {
        let mut s = shared.stats();
        s.token_requests += 1;
        *s.token_by_path.entry(path.to_string()).or_default() += 1;
    }
    let cxone = (path == "/auth/token").then(|| issuer_of(req.headers()));
    let r = token_inner(shared, &cfg, req, cxone).await;
    shared.stats().token(r.status().as_u16());
    r
}

/// `cxone`: the CXone-style endpoint `/auth/token` (with the issuer URL),
/// which also takes the password grant and adds an id_token; `None` for the
/// contract's `/oauth/token`.
async fn token_inner(
    shared: &Shared,
    cfg: &super::SimConfig,
    req: Request<Incoming>,
    cxone: Option<String>,
) -> Response<Body> {
    if req.method() != Method::POST {
        return oauth_error(405, "invalid_request", "the token endpoint takes POST");
    }
    if !content_type(req.headers()).starts_with("application/x-www-form-urlencoded") {
        return oauth_error(
            400,
            "invalid_request",
            "the body must be application/x-www-form-urlencoded",
        );
    }
    let basic = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic "))
        .and_then(|b| {
            use base64::Engine as _;
            base64::engine::general_purpose::STANDARD
                .decode(b.trim())
                .ok()
        })
        .and_then(|b| String::from_utf8(b).ok())
        .and_then(|s| {
            s.split_once(':')
                .map(|(a, b)| (a.to_string(), b.to_string()))
        });
    let Some(body) = read_body(req).await else {
        return oauth_error(400, "invalid_request", "could not read the request body");
    };
    let form: BTreeMap<String, String> = form_urlencoded::parse(&body).into_owned().collect();
    let Some(grant) = form.get("grant_type") else {
        return oauth_error(400, "invalid_request", "grant_type is missing");
    };
    *shared
        .stats()
        .token_by_grant
        .entry(truncate(grant))
        .or_default() += 1;
    if let (Some(issuer), "password") = (&cxone, grant.as_str()) {
        return password_grant(shared, cfg, &form, basic, issuer);
    }
    if grant != "client_credentials" {
        return oauth_error(
            400,
            "unsupported_grant_type",
            if cxone.is_some() {
                "only password and client_credentials are supported"
            } else {
                "only client_credentials is supported"
            },
        );
    }
    let (id, secret) = match (form.get("client_id"), form.get("client_secret"), basic) {
        (Some(i), Some(s), _) => (i.clone(), s.clone()),
        (_, _, Some((i, s))) => (i, s),
        _ => {
            return oauth_error(
                400,
                "invalid_request",
                "client_id and client_secret are required",
            )
        }
    };
    if id != cfg.client_id || secret != cfg.client_secret {
        let mut r = oauth_error(401, "invalid_client", "client authentication failed");
        r.headers_mut()
            .insert(header::WWW_AUTHENTICATE, "Basic".parse().expect("ascii"));
        return r;
    }
    let mut scopes: Vec<&'static str> = Vec::new();
    match form
        .get("scope")
        .map(|s| s.trim())
        .filter(|s| !s.is_empty())
    {
        None => scopes.extend(SCOPES),
        Some(list) => {
            for s in list.split_whitespace() {
                match SCOPES.iter().find(|k| **k == s) {
                    Some(k) => {
                        if !scopes.contains(k) {
                            scopes.push(k)
                        }
                    }
                    None => {
                        return oauth_error(
                            400,
                            "invalid_scope",
                            &format!(
                                "unknown scope {:?} (known: {})",
                                truncate(s),
                                SCOPES.join(" ")
                            ),
                        )
                    }
                }
            }
        }
    }
    let scope = scopes.join(" ");
    let token = shared.issue_token(scopes);
    let mut body = serde_json::json!({
        "access_token": token,
        "token_type": "Bearer",
        "expires_in": cfg.token_lifetime.as_secs(),
        "scope": scope,
    });
    if let Some(issuer) = &cxone {
        body["id_token"] = id_token(cfg, issuer, &id).into();
    }
    token_reply(body)
}

fn token_reply(body: serde_json::Value) -> Response<Body> {
    let mut r = json(200, Bytes::from(body.to_string()));
    r.headers_mut()
        .insert(header::CACHE_CONTROL, "no-store".parse().expect("ascii"));
    r
}

/// The CXone password grant: client credentials as HTTP Basic (or in the
/// body), the access key as `username` / `password`. Every scope is granted.
fn password_grant(
    shared: &Shared,
    cfg: &super::SimConfig,
    form: &BTreeMap<String, String>,
    basic: Option<(String, String)>,
    issuer: &str,
) -> Response<Body> {
    let client = basic.or_else(|| {
        Some((
            form.get("client_id")?.clone(),
            form.get("client_secret")?.clone(),
        ))
    });
    let Some((id, secret)) = client else {
        let mut r = oauth_error(
            401,
            "invalid_client",
            "client authentication (HTTP Basic client_id:client_secret) is required",
        );
        r.headers_mut()
            .insert(header::WWW_AUTHENTICATE, "Basic".parse().expect("ascii"));
        return r;
    };
    if id != cfg.client_id || secret != cfg.client_secret {
        let mut r = oauth_error(401, "invalid_client", "client authentication failed");
        r.headers_mut()
            .insert(header::WWW_AUTHENTICATE, "Basic".parse().expect("ascii"));
        return r;
    }
    let (Some(user), Some(pass)) = (form.get("username"), form.get("password")) else {
        return oauth_error(
            400,
            "invalid_request",
            "username (access key id) and password (access key secret) are required",
        );
    };
    if *user != cfg.access_key_id || *pass != cfg.access_key_secret {
        return oauth_error(400, "invalid_grant", "the access key is not valid");
    }
    let token = shared.issue_token(SCOPES.to_vec());
    token_reply(serde_json::json!({
        "access_token": token,
        "token_type": "Bearer",
        "expires_in": cfg.token_lifetime.as_secs(),
        "scope": SCOPES.join(" "),
        "refresh_token": format!("sim_refresh_{}", uuid::Uuid::new_v4().simple()),
        "refresh_token_expires_in": cfg.token_lifetime.as_secs() * 2,
        "id_token": id_token(cfg, issuer, user),
        "issued_token_type": "urn:ietf:params:oauth:token-type:access_token",
    }))
}

/// Key the simulator signs its id_tokens with (HS256; the client does not
/// verify them, it only reads `tenantId` and `area`).
const ID_TOKEN_KEY: &[u8] = b"cxone-cdp-simulator-id-token-key";

/// An HS256-signed JWT naming the tenant and area (or a malformed one under
/// `broken_discovery = "bad_id_token"`).
fn id_token(cfg: &super::SimConfig, issuer: &str, subject: &str) -> String {
    use base64::Engine as _;
    use hmac::Mac as _;
    if cfg.broken_discovery.as_deref() == Some("bad_id_token") {
        return "not-a-jwt".to_string();
    }
    let b64 = |v: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v);
    let now = chrono::Utc::now().timestamp();
    let header = b64(br#"{"alg":"HS256","typ":"JWT"}"#);
    let payload = serde_json::json!({
        "iss": issuer,
        "sub": subject,
        "aud": cfg.client_id,
        "iat": now,
        "exp": now + cfg.token_lifetime.as_secs() as i64,
        "tenantId": cfg.tenant_id,
        "area": cfg.area,
        "name": subject,
    });
    let payload = b64(payload.to_string().as_bytes());
    let signing_input = format!("{header}.{payload}");
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(ID_TOKEN_KEY).expect("any key length");
    mac.update(signing_input.as_bytes());
    let sig = b64(&mac.finalize().into_bytes());
    format!("{signing_input}.{sig}")
}

/// `http://<Host>`: the simulator's own address as the client reached it.
fn issuer_of(h: &HeaderMap) -> String {
    let host = h
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.is_empty() && !v.contains(['/', ' ']))
        .unwrap_or("127.0.0.1");
    format!("http://{host}")
}

// ---------------------------------------------------------------- discovery

/// Which fault `broken_discovery` puts on document `doc` (`openid`, `cxone`).
fn discovery_fault<'a>(cfg: &'a super::SimConfig, doc: &str) -> Option<&'a str> {
    let b = cfg.broken_discovery.as_deref()?;
    let kind = match b.split_once(':') {
        Some((target, kind)) if target == doc => kind,
        Some(_) => return None,
        None => b,
    };
    (kind != "bad_id_token").then_some(kind)
}

/// `/.well-known/openid-configuration` and `/.well-known/cxone-configuration`.
fn well_known(shared: &Shared, doc: &str, req: Request<Incoming>) -> Response<Body> {
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
    let issuer = issuer_of(req.headers());
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

// ---------------------------------------------------------------- introspection

async fn introspection(shared: &Shared, rest: &str, req: Request<Incoming>) -> Response<Body> {
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

// ---------------------------------------------------------------- API

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

async fn api(shared: &Arc<Shared>, req: Request<Incoming>) -> Result<Response<Body>, Dropped> {
    let cfg = shared.cfg();
    if let Some(d) = cfg.latency {
        tokio::time::sleep(d).await;
    }
    let n = shared.api_calls.fetch_add(1, Ordering::SeqCst) + 1;
    let (endpoint, audience) = route(req.uri().path());
    shared.stats().api_requests += 1;
    if hits(cfg.drop_every, n) {
        let mut s = shared.stats();
        s.dropped_connections += 1;
        *s.by_endpoint.entry(endpoint.name().into()).or_default() += 1;
        return Err(Dropped);
    }
    let resp = if hits(cfg.rate_limit_every, n) {
        let mut e = ApiError::new(429, "rate_limited", "too many requests; retry later");
        e.retry_after = Some(cfg.retry_after_secs);
        e.into_response()
    } else if hits(cfg.unavailable_every, n) {
        ApiError::new(
            503,
            "service_unavailable",
            "the service is temporarily unavailable",
        )
        .into_response()
    } else if hits(cfg.html_502_every, n) {
        with_type(
            502,
            "text/html; charset=utf-8",
            Bytes::from_static(HTML_502.as_bytes()),
        )
    } else {
        match api_inner(shared, endpoint, audience, req).await {
            Ok(r) => r,
            Err(e) => e.into_response(),
        }
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
        Endpoint::Attributes => Ok(attributes()),
        Endpoint::Webhooks => webhooks(shared, req).await,
        Endpoint::Count | Endpoint::Members => {
            let audience = audience.unwrap_or_default();
            let size = shared.audience_size(&audience).ok_or_else(|| {
                ApiError::new(
                    404,
                    "not_found",
                    format!("audience {} not found", truncate(&audience)),
                )
            })?;
            let params = decode_query(&raw_query)?;
            if endpoint == Endpoint::Count {
                count(shared, &audience, size, params)
            } else {
                members(shared, &audience, size, params)
            }
        }
        Endpoint::Other => unreachable!("handled above"),
    }
}

fn attributes() -> Response<Body> {
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

fn count(
    shared: &Shared,
    audience: &str,
    size: u64,
    params: Vec<(String, String)>,
) -> Result<Response<Body>, ApiError> {
    let p = split_params(params, false)?;
    let filters = parse_filters(&p.filters, &shared.schema)?;
    let n = shared.selection(audience, size, &filters).len();
    Ok(json(200, Bytes::from(format!("{{\"count\":{n}}}"))))
}

fn members(
    shared: &Arc<Shared>,
    audience: &str,
    size: u64,
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
    let pos = match &p.cursor {
        None => Position { offset: 0, seq: 0 },
        Some(c) => cursor::decode(c, &fp).map_err(|e| {
            ApiError::bad_request(
                "invalid_cursor",
                match e {
                    CursorError::Malformed => "the cursor is not valid",
                    CursorError::OtherQuery => {
                        "the cursor belongs to a different query (audience, filters and limit must not change)"
                    }
                },
            )
        })?,
    };
    let gen = shared.fault_gen.load(Ordering::SeqCst);
    let key = (fp, pos, gen);
    let (body, next) = match shared.cached_page(&key) {
        Some(hit) => {
            shared.stats().page_cache_hits += 1;
            hit
        }
        None => {
            let sel = shared.selection(audience, size, &filters);
            if pos.offset > sel.len() {
                return Err(ApiError::bad_request(
                    "invalid_cursor",
                    "the cursor is past the end",
                ));
            }
            render_page(shared, &sel, fp, pos, limit, gen)
        }
    };
    if let Some(next) = next {
        // Render the next page while the client reads this one, so that a
        // first walk is served from memory too.
        let next_key = (fp, next, gen);
        if shared.begin_prefetch(&next_key) {
            let shared = shared.clone();
            let sel = shared.selection(audience, size, &filters);
            tokio::spawn(async move {
                render_page(&shared, &sel, fp, next, limit, gen);
                shared.end_prefetch(&next_key);
            });
        }
    }
    let m = shared.members_calls.fetch_add(1, Ordering::SeqCst) + 1;
    if hits(shared.cfg().truncated_every, m) {
        return Ok(json(200, body.slice(..body.len() / 2)));
    }
    Ok(json(200, body))
}

/// Renders the page at `pos` into the page cache; returns it and the position
/// its cursor points to.
fn render_page(
    shared: &Shared,
    sel: &Selection,
    fp: Fingerprint,
    pos: Position,
    limit: u64,
    gen: u64,
) -> (Bytes, Option<Position>) {
    let plan = plan_page(sel.len(), limit, pos, &shared.page_faults());
    let mut out = String::with_capacity(((plan.end - plan.start) as usize) * 230 + 128);
    out.push_str("{\"items\":[");
    for k in plan.start..plan.end {
        if k > plan.start {
            out.push(',');
        }
        data::write_member_in(&mut out, sel.get(k), shared.data);
    }
    out.push_str("],\"nextPageToken\":");
    match plan.next {
        Some(next) => {
            let _ = write!(out, "\"{}\"", cursor::encode(&fp, next));
        }
        None => out.push_str("null"),
    }
    out.push('}');
    let page = (Bytes::from(out), plan.next);
    shared.store_page((fp, pos, gen), page.clone());
    shared.stats().pages_rendered += 1;
    page
}

async fn webhooks(shared: &Shared, req: Request<Incoming>) -> Result<Response<Body>, ApiError> {
    let body = read_body(req)
        .await
        .ok_or_else(|| ApiError::bad_request("invalid_body", "could not read the request body"))?;
    let v: serde_json::Value = serde_json::from_slice(&body)
        .map_err(|e| ApiError::bad_request("invalid_body", format!("body is not JSON: {e}")))?;
    let serde_json::Value::Object(mut obj) = v else {
        return Err(ApiError::bad_request(
            "invalid_body",
            "body must be a JSON object",
        ));
    };
    let bad = |m: &str| Err(ApiError::bad_request("invalid_body", m.to_string()));
    match obj.get("name") {
        Some(serde_json::Value::String(s)) if !s.trim().is_empty() => {}
        _ => return bad("name must be a non-empty string"),
    }
    match obj.get("url") {
        Some(serde_json::Value::String(s))
            if (s.starts_with("http://") && s.len() > 7)
                || (s.starts_with("https://") && s.len() > 8) => {}
        _ => return bad("url must be an http(s):// URL"),
    }
    match obj.get("events") {
        Some(serde_json::Value::Array(a)) if !a.is_empty() && a.iter().all(|e| e.is_string()) => {}
        _ => return bad("events must be a non-empty list of strings"),
    }
    match obj.get("enabled") {
        Some(serde_json::Value::Bool(_)) => {}
        _ => return bad("enabled must be a boolean"),
    }
    obj.insert(
        "id".into(),
        serde_json::Value::String(uuid::Uuid::new_v4().to_string()),
    );
    let stored = serde_json::Value::Object(obj);
    shared
        .webhooks
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .push(stored.clone());
    Ok(json(201, Bytes::from(stored.to_string())))
}
