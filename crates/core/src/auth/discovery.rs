//! CXone API discovery (documented CXone behaviour, not the tutorial's
//! contract):
//!
//! 1. `GET {issuer}/.well-known/openid-configuration` gives `token_endpoint`.
//! 2. After the first token, the `id_token` of the token response names the
//!    tenant (claim `tenantId`, also `area`), and
//!    `GET {issuer}/.well-known/cxone-configuration?tenantId=<tenantId>` gives
//!    `api_endpoint` (and `area`).
//!
//! Both answers are cached for the client's life. An explicit `token_url` or
//! `base_url` always wins: the matching document is then never requested.
//!
//! The `id_token` is a JWT whose payload is read **without verifying its
//! signature**: it comes straight from the token endpoint over the same
//! connection as the access token, and only `tenantId` / `area` are read from
//! it, to find the API host. It is never stored whole, logged or quoted in
//! an error.
//!
//! Failures: a document that answers with an HTTP error, is not JSON or lacks
//! its field, and an `id_token` that is missing or malformed when the tenant
//! id is needed, are `ErrorKind::Discovery` errors; an issuer that cannot be
//! reached keeps its transport kind (`Connection`, `Timeout`) after the usual
//! retries (5xx and 429 are retried too).

use std::fmt;
use std::future::Future;
use std::sync::Arc;

use base64::Engine as _;
use reqwest::header::ACCEPT;
use serde_json::Value;

use crate::config::RetryPolicy;
use crate::error::{excerpt, Error, ErrorKind, Result};
use crate::metrics::Metrics;
use crate::transport::retry::{self, Failure};
use crate::transport::{api_error, send_once};

/// The usual CXone issuer. Used only when the caller asks for discovery
/// without naming an issuer (`Querier.discover()`); nothing else in the
/// client names a host.
pub const DEFAULT_ISSUER: &str = "https://cxone.niceincontact.com";

/// Path of the OpenID configuration under the issuer.
pub const OPENID_CONFIGURATION: &str = "/.well-known/openid-configuration";
/// Path of the CXone configuration under the issuer.
pub const CXONE_CONFIGURATION: &str = "/.well-known/cxone-configuration";

/// The claims we read from an `id_token`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct IdClaims {
    pub tenant_id: Option<String>,
    pub area: Option<String>,
}

/// What `{issuer}/.well-known/openid-configuration` told us.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenIdConfiguration {
    pub issuer: Option<String>,
    pub token_endpoint: String,
}

/// What `{issuer}/.well-known/cxone-configuration` told us.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CxoneConfiguration {
    pub api_endpoint: String,
    pub area: Option<String>,
}

fn discovery_error(code: &str, message: impl Into<String>) -> Error {
    Error::new(ErrorKind::Discovery, message).with_code(code)
}

fn bad_id_token(why: &str) -> Error {
    discovery_error(
        "invalid_id_token",
        format!("the id_token from the token endpoint is malformed ({why}), so the tenant id is unknown; give base_url to skip API discovery"),
    )
}

/// Reads the payload of a JWT **without verifying its signature** (see the
/// module docs) and returns its `tenantId` and `area` claims. Errors never
/// quote the token.
pub fn decode_id_token(jwt: &str) -> Result<IdClaims> {
    let mut parts = jwt.trim().split('.');
    let (Some(_header), Some(payload), Some(_sig), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(bad_id_token("not three dot-separated segments"));
    };
    let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload.trim_end_matches('='))
        .map_err(|_| bad_id_token("payload is not base64url"))?;
    let v: Value = serde_json::from_slice(&raw).map_err(|_| bad_id_token("payload is not JSON"))?;
    let Value::Object(obj) = v else {
        return Err(bad_id_token("payload is not a JSON object"));
    };
    let text = |k: &str| match obj.get(k) {
        Some(Value::String(s)) if !s.trim().is_empty() => Some(s.trim().to_string()),
        _ => None,
    };
    Ok(IdClaims {
        tenant_id: text("tenantId"),
        area: text("area"),
    })
}

fn document(what: &str, body: &[u8]) -> Result<serde_json::Map<String, Value>> {
    let invalid = |why: String| {
        discovery_error(
            "invalid_discovery_document",
            format!("the {what} document {why}"),
        )
    };
    let v: Value = serde_json::from_slice(body).map_err(|_| {
        invalid(format!(
            "is not JSON; body starts: {}",
            excerpt(body, crate::transport::EXCERPT_LEN)
        ))
    })?;
    match v {
        Value::Object(o) => Ok(o),
        _ => Err(invalid("is not a JSON object".into())),
    }
}

fn url_field(what: &str, obj: &serde_json::Map<String, Value>, field: &str) -> Result<String> {
    let invalid = |why: &str| {
        discovery_error(
            "invalid_discovery_document",
            format!("the {what} document {why}"),
        )
    };
    match obj.get(field) {
        None | Some(Value::Null) => Err(invalid(&format!("has no {field}"))),
        Some(Value::String(s)) => {
            let s = s.trim();
            let ok = (s.starts_with("http://") || s.starts_with("https://"))
                && s.len() > "http://".len()
                && !s.chars().any(|c| c.is_whitespace() || c.is_control());
            if ok {
                Ok(s.to_string())
            } else {
                Err(invalid(&format!(
                    "has a {field} that is not an http(s) URL: {:?}",
                    excerpt(s.as_bytes(), 80)
                )))
            }
        }
        Some(_) => Err(invalid(&format!("has a {field} that is not a string"))),
    }
}

fn opt_text(obj: &serde_json::Map<String, Value>, field: &str) -> Option<String> {
    match obj.get(field) {
        Some(Value::String(s)) if !s.trim().is_empty() => Some(s.trim().to_string()),
        _ => None,
    }
}

/// Parses an OpenID configuration document (needs `token_endpoint`).
pub fn parse_openid_configuration(body: &[u8]) -> Result<OpenIdConfiguration> {
    let what = "OpenID configuration";
    let obj = document(what, body)?;
    Ok(OpenIdConfiguration {
        token_endpoint: url_field(what, &obj, "token_endpoint")?,
        issuer: opt_text(&obj, "issuer"),
    })
}

/// Parses a CXone configuration document (needs `api_endpoint`).
pub fn parse_cxone_configuration(body: &[u8]) -> Result<CxoneConfiguration> {
    let what = "CXone configuration";
    let obj = document(what, body)?;
    Ok(CxoneConfiguration {
        api_endpoint: url_field(what, &obj, "api_endpoint")?,
        area: opt_text(&obj, "area"),
    })
}

fn root(issuer: &str) -> &str {
    issuer.trim_end_matches('/')
}

/// `{issuer}/.well-known/openid-configuration`.
pub fn openid_configuration_url(issuer: &str) -> String {
    format!("{}{OPENID_CONFIGURATION}", root(issuer))
}

/// `{issuer}/.well-known/cxone-configuration?tenantId=<tenant>` (encoded).
pub fn cxone_configuration_url(issuer: &str, tenant_id: &str) -> String {
    format!(
        "{}{CXONE_CONFIGURATION}?tenantId={}",
        root(issuer),
        crate::filter::encode_component(tenant_id)
    )
}

/// Discovery against one issuer, with both answers cached (single-flight:
/// concurrent callers wait for the one request).
pub struct Discovery {
    issuer: String,
    client: reqwest::Client,
    policy: RetryPolicy,
    metrics: Arc<Metrics>,
    token_endpoint: tokio::sync::OnceCell<String>,
    api: tokio::sync::OnceCell<CxoneConfiguration>,
}

impl fmt::Debug for Discovery {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Discovery")
            .field("issuer", &self.issuer)
            .field("token_endpoint", &self.token_endpoint.get())
            .field("api", &self.api.get())
            .finish()
    }
}

impl Discovery {
    pub fn new(
        issuer: impl Into<String>,
        client: reqwest::Client,
        policy: RetryPolicy,
        metrics: Arc<Metrics>,
    ) -> Discovery {
        Discovery {
            issuer: issuer.into(),
            client,
            policy,
            metrics,
            token_endpoint: tokio::sync::OnceCell::new(),
            api: tokio::sync::OnceCell::new(),
        }
    }

    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// The token endpoint from the OpenID configuration (fetched once).
    pub async fn token_endpoint(&self) -> Result<String> {
        self.token_endpoint
            .get_or_try_init(|| async {
                let url = openid_configuration_url(&self.issuer);
                let body = self.get_document("OpenID configuration", &url).await?;
                let doc = parse_openid_configuration(&body)?;
                log::debug!(target: "cxone_cdp", "discovered the token endpoint {}", doc.token_endpoint);
                Ok(doc.token_endpoint)
            })
            .await
            .cloned()
    }

    /// The CXone configuration, if it was fetched already.
    pub fn api_cached(&self) -> Option<&CxoneConfiguration> {
        self.api.get()
    }

    /// The CXone configuration (fetched once); `tenant_id` is asked for only
    /// when it is not cached yet.
    pub async fn api<F, Fut>(&self, tenant_id: F) -> Result<&CxoneConfiguration>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<String>>,
    {
        self.api
            .get_or_try_init(|| async {
                let tenant = tenant_id().await?;
                let url = cxone_configuration_url(&self.issuer, &tenant);
                let body = self.get_document("CXone configuration", &url).await?;
                let doc = parse_cxone_configuration(&body)?;
                log::debug!(
                    target: "cxone_cdp",
                    "discovered the API endpoint {} (area {})",
                    doc.api_endpoint,
                    doc.area.as_deref().unwrap_or("unknown")
                );
                Ok(doc)
            })
            .await
    }

    /// GETs a discovery document through the one retry policy (5xx, 429 and
    /// transport failures retried); other HTTP errors are discovery errors.
    async fn get_document(&self, what: &str, url: &str) -> Result<bytes::Bytes> {
        let result = retry::run(&self.policy, &*self.metrics, |_| async {
            let req = self.client.get(url).header(ACCEPT, "application/json");
            let answer = send_once(&self.metrics, req).await?;
            if (200..300).contains(&answer.status) {
                return Ok(answer.body);
            }
            let e = api_error(&answer);
            if e.is_retryable() {
                Err(Failure::from(e))
            } else {
                Err(Failure::fatal(e))
            }
        })
        .await;
        result.map_err(|mut e| {
            e.message = format!("{what} at {url}: {}", e.message);
            if e.status.is_some() {
                e.kind = ErrorKind::Discovery;
                e.retry_after = None;
                if e.code.is_none() {
                    e.code = Some("discovery_failed".into());
                }
            }
            e
        })
    }
}

#[cfg(test)]
mod tests {
    //! Parsing and URLs; discovery against the simulator is tested in
    //! `tests/discovery.rs`.
    use super::*;
    use crate::config::{AuthMode, Config};

    fn b64(s: &str) -> String {
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s)
    }

    fn jwt(payload: &str) -> String {
        format!(
            "{}.{}.{}",
            b64(r#"{"alg":"HS256","typ":"JWT"}"#),
            b64(payload),
            b64("sig")
        )
    }

    #[test]
    fn id_token_claims_are_read() {
        let t =
            jwt(r#"{"tenantId":"11111111-2222-3333-4444-555555555555","area":"na1","sub":"x"}"#);
        let c = decode_id_token(&t).unwrap();
        assert_eq!(
            c.tenant_id.as_deref(),
            Some("11111111-2222-3333-4444-555555555555")
        );
        assert_eq!(c.area.as_deref(), Some("na1"));
        // Padding tolerated; missing claims are None, not an error.
        let padded = format!(
            "{}.{}==.x",
            b64("{}"),
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(r#"{"a":1}"#)
        );
        assert_eq!(decode_id_token(&padded).unwrap(), IdClaims::default());
        // URL-safe alphabet (a payload whose base64 has '-' or '_').
        let t = jwt(r#"{"tenantId":"~~~>>>???"}"#);
        assert!(t.contains('-') || t.contains('_'));
        assert_eq!(
            decode_id_token(&t).unwrap().tenant_id.as_deref(),
            Some("~~~>>>???")
        );
    }

    #[test]
    fn malformed_id_tokens_give_clear_errors_without_the_token() {
        let secretish = "eyJzZWNyZXQiOiJ0b3Atc2VjcmV0In0";
        for bad in [
            "not-a-jwt".to_string(),
            format!("a.{secretish}"),
            format!("a.{secretish}!!.c"),
            format!("a.{}.c", b64("not json")),
            format!("a.{}.c", b64("[1,2]")),
            "a.b.c.d".to_string(),
        ] {
            let e = decode_id_token(&bad).unwrap_err();
            assert_eq!(e.kind, ErrorKind::Discovery, "{bad}");
            assert_eq!(e.code.as_deref(), Some("invalid_id_token"));
            assert!(!e.to_string().contains(secretish), "{e}");
            assert!(e.message.contains("id_token"));
        }
    }

    #[test]
    fn openid_configuration_parsing() {
        let d = parse_openid_configuration(
            br#"{"issuer":"https://x","token_endpoint":"https://x/auth/token","jwks_uri":"https://x/jwks"}"#,
        )
        .unwrap();
        assert_eq!(d.token_endpoint, "https://x/auth/token");
        assert_eq!(d.issuer.as_deref(), Some("https://x"));
        for (body, needle) in [
            (&br#"{"issuer":"https://x"}"#[..], "has no token_endpoint"),
            (br#"{"token_endpoint":null}"#, "has no token_endpoint"),
            (br#"{"token_endpoint":5}"#, "not a string"),
            (br#"{"token_endpoint":"ftp://x"}"#, "not an http(s) URL"),
            (br#"[]"#, "not a JSON object"),
            (
                b"<html>login</html>",
                "is not JSON; body starts: <html>login",
            ),
        ] {
            let e = parse_openid_configuration(body).unwrap_err();
            assert_eq!(e.kind, ErrorKind::Discovery);
            assert_eq!(e.code.as_deref(), Some("invalid_discovery_document"));
            assert!(e.message.contains(needle), "{}", e.message);
            assert!(e.message.contains("OpenID configuration"));
        }
    }

    #[test]
    fn cxone_configuration_parsing_and_urls() {
        let d = parse_cxone_configuration(
            br#"{"api_endpoint":"https://api-na1.example.com","area":"na1","ui_endpoint":"https://u"}"#,
        )
        .unwrap();
        assert_eq!(d.api_endpoint, "https://api-na1.example.com");
        assert_eq!(d.area.as_deref(), Some("na1"));
        let e = parse_cxone_configuration(br#"{"area":"na1"}"#).unwrap_err();
        assert!(e
            .message
            .contains("CXone configuration document has no api_endpoint"));
        assert_eq!(
            openid_configuration_url("https://i.example/"),
            "https://i.example/.well-known/openid-configuration"
        );
        assert_eq!(
            cxone_configuration_url("https://i.example", "t 1&x"),
            "https://i.example/.well-known/cxone-configuration?tenantId=t%201%26x"
        );
    }

    #[test]
    fn config_checks_need_no_network() {
        let mut c = Config::new("http://h", "id", "s");
        c.auth = AuthMode::AccessKey {
            access_key_id: "sim-key".into(),
            access_key_secret: "sim-key-secret".into(),
        };
        let e = c.check().unwrap_err();
        assert!(e.message.contains("token_url or issuer"), "{e}");
        c.issuer = Some("http://i".into());
        assert!(c.check().is_ok());
        c.auth = AuthMode::AccessKey {
            access_key_id: String::new(),
            access_key_secret: "x".into(),
        };
        assert!(c.check().is_err());
        assert!(AuthMode::parse(Some("access_key"), Some("a".into()), None).is_err());
        assert!(AuthMode::parse(None, Some("a".into()), None).is_err());
        assert!(AuthMode::parse(Some("bogus"), None, None).is_err());
        assert_eq!(
            AuthMode::parse(Some("Access-Key"), Some("a".into()), Some("b".into())).unwrap(),
            AuthMode::AccessKey {
                access_key_id: "a".into(),
                access_key_secret: "b".into()
            }
        );
        let dbg = format!(
            "{:?}",
            AuthMode::AccessKey {
                access_key_id: "kid".into(),
                access_key_secret: "very-hidden".into()
            }
        );
        assert!(dbg.contains("kid") && !dbg.contains("very-hidden"));
        let e = Config::new("", "id", "s").check().unwrap_err();
        assert_eq!(e.kind, ErrorKind::Validation);
    }
}
