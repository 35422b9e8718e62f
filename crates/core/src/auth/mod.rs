//! The token manager: OAuth 2.0 client credentials (the contract) or the
//! CXone access-key password grant (`AuthMode`), a cached token reused
//! until 30 s before it expires, single-flight refresh (however many tasks
//! need a token at once, one request goes out), and invalidation by
//! generation so a burst of 401s causes one refresh. The mode only changes
//! how the token request is built and its answer read; caching, refresh and
//! the 401 replay are the same for both.
//!
//! With an issuer, the token endpoint is discovered (`crate::auth::discovery`)
//! unless `token_url` is given, and the `id_token` claims of the latest token
//! (tenant id, area) are kept for API discovery.
//!
//! Neither a secret, the access key secret, the token nor the id_token ever
//! reaches an error message, a log line or a `Debug` output.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use reqwest::header::{HeaderValue, ACCEPT, AUTHORIZATION, CONTENT_TYPE};
use serde::Deserialize;

pub mod discovery;
mod session;

pub use session::Session;

use crate::auth::discovery::{decode_id_token, Discovery, IdClaims};
use crate::config::{AuthMode, Config, RetryPolicy};
use crate::error::{Error, ErrorKind, Result};
use crate::metrics::Metrics;
use crate::transport::retry::{self, Failure};
use crate::transport::{api_error, send_once};

/// Refresh this long before the token expires.
pub const REFRESH_BUFFER: Duration = Duration::from_secs(30);

/// A bearer token and the generation it belongs to. `Debug` hides the value.
#[derive(Clone)]
pub struct Token {
    pub value: Arc<str>,
    pub generation: u64,
}

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Token(<redacted>, generation {})", self.generation)
    }
}

struct Cached {
    token: Token,
    refresh_at: Instant,
}

/// Fetches, caches and refreshes the access token.
pub struct TokenManager {
    client: reqwest::Client,
    /// The token endpoint when it is known without discovery.
    url: Option<String>,
    /// Discovery against the issuer, when one is configured.
    discovery: Option<Arc<Discovery>>,
    form: String,
    /// `Basic base64(client_id:client_secret)` (access-key mode), sensitive.
    basic: Option<HeaderValue>,
    mode: &'static str,
    /// Claims of the latest token's id_token (`None`: no id_token seen).
    claims: std::sync::Mutex<Option<Result<IdClaims>>>,
    policy: RetryPolicy,
    metrics: Arc<Metrics>,
    state: tokio::sync::Mutex<Option<Cached>>,
    generation: AtomicU64,
}

impl fmt::Debug for TokenManager {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenManager")
            .field("url", &self.url)
            .field("mode", &self.mode)
            .field("discovery", &self.discovery)
            .field("generation", &self.generation.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

#[derive(Deserialize)]
struct TokenBody {
    access_token: String,
    #[serde(default)]
    expires_in: Option<f64>,
    #[serde(default)]
    id_token: Option<String>,
}

#[derive(Deserialize)]
struct TokenErrorBody {
    error: Option<String>,
    error_description: Option<String>,
}

/// When to refresh a token that lives `expires_in` seconds: 30 s early, or
/// at half its life for tokens shorter than a minute.
pub fn refresh_after(expires_in: f64) -> Duration {
    let life = if expires_in.is_finite() && expires_in > 0.0 {
        expires_in
    } else {
        0.0
    };
    let buffer = REFRESH_BUFFER.as_secs_f64();
    let secs = if life > 2.0 * buffer {
        life - buffer
    } else {
        life / 2.0
    };
    // A hostile `expires_in` (1e300) must neither panic here nor overflow
    // `Instant + Duration`: refresh at least once a year.
    Duration::from_secs_f64(secs.min(365.0 * 86_400.0))
}

impl TokenManager {
    pub fn new(config: &Config, client: reqwest::Client, metrics: Arc<Metrics>) -> TokenManager {
        let (form, basic) = match &config.auth {
            AuthMode::ClientCredentials => {
                let scope = config.scopes.join(" ");
                let form = form_urlencoded::Serializer::new(String::new())
                    .append_pair("grant_type", "client_credentials")
                    .append_pair("client_id", &config.client_id)
                    .append_pair("client_secret", &config.client_secret)
                    .append_pair("scope", &scope)
                    .finish();
                (form, None)
            }
            AuthMode::AccessKey {
                access_key_id,
                access_key_secret,
            } => {
                let form = form_urlencoded::Serializer::new(String::new())
                    .append_pair("grant_type", "password")
                    .append_pair("username", access_key_id)
                    .append_pair("password", access_key_secret)
                    .finish();
                use base64::Engine as _;
                let creds = base64::engine::general_purpose::STANDARD
                    .encode(format!("{}:{}", config.client_id, config.client_secret));
                // Not a valid header value only with control characters in
                // the credentials; the request then fails as unauthorised.
                let basic = HeaderValue::from_str(&format!("Basic {creds}"))
                    .ok()
                    .map(|mut h| {
                        h.set_sensitive(true);
                        h
                    });
                (form, basic)
            }
        };
        let discovery = config.issuer.as_ref().map(|issuer| {
            Arc::new(Discovery::new(
                issuer.clone(),
                client.clone(),
                config.retry,
                metrics.clone(),
            ))
        });
        let url = match (&config.token_url, &discovery) {
            (Some(t), _) => Some(t.clone()),
            (None, Some(_)) => None,
            (None, None) => Some(config.token_endpoint()),
        };
        TokenManager {
            client,
            url,
            discovery,
            form,
            basic,
            mode: config.auth.name(),
            claims: std::sync::Mutex::new(None),
            policy: config.retry,
            metrics,
            state: tokio::sync::Mutex::new(None),
            generation: AtomicU64::new(0),
        }
    }

    /// A valid token: the cached one, or a fresh one (one fetch however many
    /// callers wait).
    pub async fn token(&self) -> Result<Token> {
        let mut state = self.state.lock().await;
        if let Some(c) = state.as_ref() {
            if Instant::now() < c.refresh_at {
                return Ok(c.token.clone());
            }
        }
        let (value, expires_in, claims) = self.fetch().await?;
        *self.claims.lock().unwrap_or_else(|e| e.into_inner()) = claims;
        let generation = self.generation.fetch_add(1, Ordering::SeqCst) + 1;
        let token = Token {
            value: value.into(),
            generation,
        };
        *state = Some(Cached {
            token: token.clone(),
            refresh_at: Instant::now() + refresh_after(expires_in),
        });
        Ok(token)
    }

    /// Drops the cached token if it is still generation `generation` (a 401
    /// answered a request made with it). Later generations are kept, so many
    /// concurrent 401s cause one refresh.
    pub async fn invalidate(&self, generation: u64) {
        let mut state = self.state.lock().await;
        if state
            .as_ref()
            .is_some_and(|c| c.token.generation == generation)
        {
            *state = None;
        }
    }

    /// The token endpoint: `token_url`, discovered from the issuer, or the
    /// contract's `{base_url}/oauth/token`.
    pub async fn token_endpoint(&self) -> Result<String> {
        match (&self.url, &self.discovery) {
            (Some(u), _) => Ok(u.clone()),
            (None, Some(d)) => d.token_endpoint().await,
            (None, None) => Err(Error::validation("no token endpoint configured")),
        }
    }

    /// Discovery against the configured issuer, if any.
    pub fn discovery(&self) -> Option<&Arc<Discovery>> {
        self.discovery.as_ref()
    }

    /// `"client_credentials"` or `"access_key"`.
    pub fn mode(&self) -> &'static str {
        self.mode
    }

    /// The claims of the latest token's `id_token`: `None` when no token was
    /// fetched yet or it came without an id_token; an error when it was malformed.
    pub fn id_claims(&self) -> Option<Result<IdClaims>> {
        self.claims
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// The tenant id from the latest token's `id_token` (fetching a token
    /// first if there is none), for API discovery.
    pub async fn tenant_id(&self) -> Result<String> {
        self.token().await?;
        match self.id_claims() {
            None => Err(Error::new(
                ErrorKind::Discovery,
                "the token response carried no id_token, so the tenant id for API discovery is unknown; give base_url",
            )
            .with_code("missing_id_token")),
            Some(Err(e)) => Err(e),
            Some(Ok(c)) => c.tenant_id.ok_or_else(|| {
                Error::new(
                    ErrorKind::Discovery,
                    "the id_token has no tenantId claim, so the API endpoint cannot be discovered; give base_url",
                )
                .with_code("missing_tenant_id")
            }),
        }
    }

    async fn fetch(&self) -> Result<(String, f64, Option<Result<IdClaims>>)> {
        let url = self.token_endpoint().await?;
        let url = &url;
        retry::run(&self.policy, &*self.metrics, |_| async {
            let mut req = self
                .client
                .post(url)
                .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
                .header(ACCEPT, "application/json")
                .body(self.form.clone());
            if let Some(b) = &self.basic {
                req = req.header(AUTHORIZATION, b.clone());
            }
            let answer = send_once(&self.metrics, req).await?;
            match answer.status {
                200..=299 => {
                    let body: Result<TokenBody> = serde_json::from_slice(&answer.body).map_err(|e| {
                        // Never quote this body: it may hold a token.
                        Error::new(
                            ErrorKind::Server,
                            format!("unreadable token endpoint response ({} bytes): {}", answer.body.len(), e.classify_name()),
                        )
                        .with_status(answer.status)
                        .with_code("invalid_response")
                    });
                    let body = match body {
                        Ok(b) => b,
                        // Retry an unreadable body as a server fault.
                        Err(mut e) => {
                            e.status = None;
                            return Err(Failure::from(e));
                        }
                    };
                    if body.access_token.is_empty() {
                        return Err(Failure::fatal(
                            Error::new(ErrorKind::Authentication, "token endpoint returned an empty access_token")
                                .with_status(answer.status),
                        ));
                    }
                    self.metrics.add_token_fetched();
                    log::debug!(target: "cxone_cdp", "fetched an access token ({}, expires_in {:?})", self.mode, body.expires_in);
                    // Only the claims are kept, never the id_token itself.
                    let claims = body.id_token.as_deref().map(decode_id_token);
                    Ok((body.access_token, body.expires_in.unwrap_or(3600.0), claims))
                }
                400 | 401 | 403 => {
                    let parsed: Option<TokenErrorBody> = serde_json::from_slice(&answer.body).ok();
                    let (code, desc) = match parsed {
                        Some(b) => (b.error, b.error_description),
                        None => (None, None),
                    };
                    let code = code.unwrap_or_else(|| {
                        if answer.status == 401 { "invalid_client" } else { "invalid_request" }.to_string()
                    });
                    let kind = if answer.status == 401
                        || code == "invalid_client"
                        || code == "invalid_grant"
                    {
                        ErrorKind::Authentication
                    } else if answer.status == 403 {
                        ErrorKind::PermissionDenied
                    } else {
                        ErrorKind::BadRequest
                    };
                    let message = match (kind, desc) {
                        (ErrorKind::Authentication, _) if code == "invalid_grant" => {
                            if self.basic.is_some() {
                                "the token endpoint rejected the access key (invalid_grant)".to_string()
                            } else {
                                "the token endpoint rejected the grant (invalid_grant)".to_string()
                            }
                        }
                        (ErrorKind::Authentication, _) => {
                            "the token endpoint rejected the client credentials".to_string()
                        }
                        (_, Some(d)) => format!("token endpoint: {}", crate::error::excerpt(d.as_bytes(), 200)),
                        (_, None) => format!("token endpoint refused the request ({code})"),
                    };
                    Err(Failure::fatal(
                        Error::new(kind, message)
                            .with_status(answer.status)
                            .with_code(code),
                    ))
                }
                _ => {
                    let mut e = api_error(&answer);
                    e.message = format!("token endpoint: {}", e.message);
                    Err(Failure::from(e))
                }
            }
        })
        .await
    }
}

trait ClassifyName {
    fn classify_name(&self) -> &'static str;
}

impl ClassifyName for serde_json::Error {
    fn classify_name(&self) -> &'static str {
        match self.classify() {
            serde_json::error::Category::Io => "I/O error",
            serde_json::error::Category::Syntax => "invalid JSON",
            serde_json::error::Category::Data => "unexpected JSON shape",
            serde_json::error::Category::Eof => "truncated JSON",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refresh_timing() {
        assert_eq!(refresh_after(3600.0), Duration::from_secs(3570));
        assert_eq!(refresh_after(40.0), Duration::from_secs(20));
        assert_eq!(refresh_after(0.0), Duration::ZERO);
        assert_eq!(refresh_after(f64::NAN), Duration::ZERO);
    }

    #[test]
    fn debug_hides_token() {
        let t = Token {
            value: "tok-123-secret".into(),
            generation: 3,
        };
        assert!(!format!("{t:?}").contains("tok-123"));
    }
}
