//! The token manager: OAuth 2.0 client credentials, a cached token reused
//! until 30 s before it expires, single-flight refresh (however many tasks
//! need a token at once, one request goes out), and invalidation by
//! generation so a burst of 401s causes one refresh.
//!
//! Neither the secret nor the token ever reaches an error message, a log
//! line or a `Debug` output.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use reqwest::header::{ACCEPT, CONTENT_TYPE};
use serde::Deserialize;

use crate::config::{Config, RetryPolicy};
use crate::error::{Error, ErrorKind, Result};
use crate::http::{api_error, send_once, Counters};
use crate::retry::{self, Failure};

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
    url: String,
    form: String,
    policy: RetryPolicy,
    counters: Arc<Counters>,
    state: tokio::sync::Mutex<Option<Cached>>,
    generation: AtomicU64,
}

impl fmt::Debug for TokenManager {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenManager")
            .field("url", &self.url)
            .field("generation", &self.generation.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

#[derive(Deserialize)]
struct TokenBody {
    access_token: String,
    #[serde(default)]
    expires_in: Option<f64>,
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
    pub fn new(config: &Config, client: reqwest::Client, counters: Arc<Counters>) -> TokenManager {
        let scope = config.scopes.join(" ");
        let form = form_urlencoded::Serializer::new(String::new())
            .append_pair("grant_type", "client_credentials")
            .append_pair("client_id", &config.client_id)
            .append_pair("client_secret", &config.client_secret)
            .append_pair("scope", &scope)
            .finish();
        TokenManager {
            client,
            url: config.token_endpoint(),
            form,
            policy: config.retry,
            counters,
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
        let (value, expires_in) = self.fetch().await?;
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

    async fn fetch(&self) -> Result<(String, f64)> {
        retry::run(&self.policy, &*self.counters, |_| async {
            let req = self
                .client
                .post(&self.url)
                .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
                .header(ACCEPT, "application/json")
                .body(self.form.clone());
            let answer = send_once(&self.counters, req).await?;
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
                    Counters::add(&self.counters.tokens_fetched, 1);
                    log::debug!(target: "cxone_cdp", "fetched an access token (expires_in {:?})", body.expires_in);
                    Ok((body.access_token, body.expires_in.unwrap_or(3600.0)))
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
                    let kind = if answer.status == 401 || code == "invalid_client" {
                        ErrorKind::Authentication
                    } else if answer.status == 403 {
                        ErrorKind::PermissionDenied
                    } else {
                        ErrorKind::BadRequest
                    };
                    let message = match (kind, desc) {
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
