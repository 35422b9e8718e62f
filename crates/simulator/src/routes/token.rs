//! The token endpoints: the contract's client-credentials grant at
//! `/oauth/token`, and the CXone-style `/auth/token` that also takes the
//! password grant (an access key) and adds an id_token naming the tenant.

use std::collections::BTreeMap;

use axum::body::Body;
use bytes::Bytes;
use hyper::body::Incoming;
use hyper::{header, Method, Request, Response};

use super::{content_type, issuer_of, read_body, truncate};
use crate::config::SimConfig;
use crate::reply::{json, oauth_error};
use crate::state::{Shared, SCOPES};

pub async fn token(shared: &Shared, req: Request<Incoming>, path: &str) -> Response<Body> {
    let cfg = shared.cfg();
    if let Some(d) = cfg.token_delay {
        tokio::time::sleep(d).await;
    }
    {
        let mut s = shared.stats();
        s.token_requests += 1;
        *s.token_by_path.entry(path.to_string()).or_default() += 1;
    }
    let cxone = (path == "/auth/token").then(|| issuer_of(shared, req.headers()));
    let r = token_inner(shared, &cfg, req, cxone).await;
    shared.stats().token(r.status().as_u16());
    r
}

/// `cxone`: the CXone-style endpoint `/auth/token` (with the issuer URL),
/// which also takes the password grant and adds an id_token; `None` for the
/// contract's `/oauth/token`.
async fn token_inner(
    shared: &Shared,
    cfg: &SimConfig,
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
    cfg: &SimConfig,
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
fn id_token(cfg: &SimConfig, issuer: &str, subject: &str) -> String {
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
