//! Webhooks: the completion callback (payload, HMAC signature, delivery with
//! bounded retries) and client-side validation of webhook registrations.
//!
//! Delivery never fails a query: [`deliver`] returns a [`DeliveryOutcome`],
//! not a `Result`, and logs a failure on the `log` target
//! `cxone_cdp.webhook`. Log lines and outcome texts carry the callback URL
//! without user info and query string, and never the signing secret.

use std::time::Duration;

use hmac::{Hmac, Mac};
use rand::Rng;
use reqwest::header::{CONTENT_TYPE, USER_AGENT};
use reqwest::Url;
use serde::{Deserialize, Serialize};
use sha2::Sha256;

use crate::error::{Error, Result};

/// The log target of webhook delivery messages.
pub const WEBHOOK_TARGET: &str = "cxone_cdp.webhook";
/// The signature header (value `sha256=<hex>`).
pub const SIGNATURE_HEADER: &str = "X-Signature-256";

/// How the query ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CallbackStatus {
    Completed,
    Failed,
}

/// The completion callback body. Keys on the wire: `queryId`, `timestamp`
/// (RFC 3339), `memberCount`, `latencyMs`, `status` (`completed`/`failed`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CallbackPayload {
    pub query_id: String,
    pub timestamp: String,
    pub member_count: u64,
    pub latency_ms: f64,
    pub status: CallbackStatus,
}

impl CallbackPayload {
    /// A payload stamped now (UTC, millisecond precision).
    pub fn new(
        query_id: impl Into<String>,
        member_count: u64,
        latency: Duration,
        status: CallbackStatus,
    ) -> Self {
        CallbackPayload {
            query_id: query_id.into(),
            timestamp: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            member_count,
            latency_ms: latency.as_secs_f64() * 1000.0,
            status,
        }
    }

    /// The JSON body, exactly the bytes that are sent and signed.
    pub fn to_body(&self) -> Vec<u8> {
        // Strings, integers and a finite float only: cannot fail.
        serde_json::to_vec(self).unwrap_or_default()
    }
}

type HmacSha256 = Hmac<Sha256>;

fn mac(secret: &str) -> HmacSha256 {
    // HMAC takes keys of any length.
    HmacSha256::new_from_slice(secret.as_bytes()).expect("HMAC accepts any key length")
}

/// The `X-Signature-256` value for `body`: `sha256=<hex HMAC-SHA256>`.
pub fn sign(secret: &str, body: &[u8]) -> String {
    let mut m = mac(secret);
    m.update(body);
    format!("sha256={}", hex::encode(m.finalize().into_bytes()))
}

/// Checks a `sha256=<hex>` signature in constant time (for receivers and tests).
pub fn verify(secret: &str, body: &[u8], signature: &str) -> bool {
    let Some(hex_sig) = signature.trim().strip_prefix("sha256=") else {
        return false;
    };
    let Ok(raw) = hex::decode(hex_sig) else {
        return false;
    };
    let mut m = mac(secret);
    m.update(body);
    m.verify_slice(&raw).is_ok()
}

/// The URL as it may appear in logs and messages: scheme, host, port and
/// path only (user info, query and fragment dropped). Unparseable input gives
/// a placeholder, never the input.
pub fn redact_url(url: &str) -> String {
    match Url::parse(url) {
        Ok(mut u) => {
            let _ = u.set_username("");
            let _ = u.set_password(None);
            u.set_query(None);
            u.set_fragment(None);
            u.to_string()
        }
        Err(_) => "<invalid url>".to_owned(),
    }
}

fn parse_http_url(url: &str) -> Option<Url> {
    let u = Url::parse(url).ok()?;
    (matches!(u.scheme(), "http" | "https") && u.host_str().is_some_and(|h| !h.is_empty()))
        .then_some(u)
}

/// Retry policy for callback delivery.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DeliveryPolicy {
    /// Attempts in total (at least 1 is made). Default 3.
    pub max_attempts: u32,
    /// Wait before the second attempt; doubles each time, with jitter
    /// (×0.5..1). Default 0.5 s.
    pub backoff: Duration,
    /// Upper bound of one wait. Default 5 s.
    pub backoff_max: Duration,
    /// Per-attempt timeout (connect + response). Default 10 s.
    pub timeout: Duration,
}

impl Default for DeliveryPolicy {
    fn default() -> Self {
        DeliveryPolicy {
            max_attempts: 3,
            backoff: Duration::from_millis(500),
            backoff_max: Duration::from_secs(5),
            timeout: Duration::from_secs(10),
        }
    }
}

impl DeliveryPolicy {
    /// The wait after failed attempt `attempt` (1-based), before jitter.
    pub fn backoff_for(&self, attempt: u32) -> Duration {
        let factor = 2u32.saturating_pow(attempt.saturating_sub(1).min(16));
        self.backoff.saturating_mul(factor).min(self.backoff_max)
    }
}

/// What happened to a callback.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryOutcome {
    /// A 2xx answer was received.
    pub delivered: bool,
    /// Attempts made (0 only when the URL was unusable).
    pub attempts: u32,
    /// Status of the last answer, if any.
    pub status: Option<u16>,
    /// Why the last attempt failed (no URL user info, no secret).
    pub last_error: Option<String>,
}

/// The text of a transport error: reqwest's message without the URL, plus
/// its sources (e.g. "tcp connect error: Connection refused").
fn error_text(e: reqwest::Error) -> String {
    let kind = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "connection failed"
    } else {
        "request failed"
    };
    let e = e.without_url();
    let mut text = format!("{kind}: {e}");
    let mut src = std::error::Error::source(&e);
    while let Some(s) = src {
        let s_text = s.to_string();
        if !text.contains(&s_text) {
            text.push_str(": ");
            text.push_str(&s_text);
        }
        src = s.source();
    }
    text
}

/// POSTs `payload` as JSON to `url`, signed with `secret` if given (an empty
/// secret counts as none), retrying connection errors, timeouts, 429 and 5xx
/// up to `policy.max_attempts` in total with exponential backoff and jitter.
/// Other answers (2xx aside) are final. Never panics, never returns an
/// error; the outcome says what happened, and a failure is logged (warn) on
/// target `cxone_cdp.webhook`.
pub async fn deliver(
    http: &reqwest::Client,
    url: &str,
    payload: &CallbackPayload,
    secret: Option<&str>,
    policy: DeliveryPolicy,
) -> DeliveryOutcome {
    let Some(parsed) = parse_http_url(url) else {
        let outcome = DeliveryOutcome {
            delivered: false,
            attempts: 0,
            status: None,
            last_error: Some("callback URL is not an absolute http(s) URL".to_owned()),
        };
        log::warn!(
            target: WEBHOOK_TARGET,
            "completion callback for query {} not sent: callback URL is not an absolute http(s) URL",
            payload.query_id
        );
        return outcome;
    };
    let shown_url = redact_url(url);
    let body = bytes::Bytes::from(payload.to_body());
    let signature = secret.filter(|s| !s.is_empty()).map(|s| sign(s, &body));
    let max_attempts = policy.max_attempts.max(1);
    let mut outcome = DeliveryOutcome {
        delivered: false,
        attempts: 0,
        status: None,
        last_error: None,
    };
    loop {
        outcome.attempts += 1;
        let mut req = http
            .post(parsed.clone())
            .timeout(policy.timeout)
            .header(CONTENT_TYPE, "application/json")
            .header(USER_AGENT, concat!("cxone-cdp/", env!("CARGO_PKG_VERSION")))
            .body(body.clone());
        if let Some(sig) = &signature {
            req = req.header(SIGNATURE_HEADER, sig);
        }
        let retryable = match req.send().await {
            Ok(resp) => {
                let status = resp.status();
                outcome.status = Some(status.as_u16());
                // Drain the (small) body so the connection can be reused.
                let _ = resp.bytes().await;
                if status.is_success() {
                    outcome.delivered = true;
                    outcome.last_error = None;
                    log::debug!(
                        target: WEBHOOK_TARGET,
                        "completion callback for query {} delivered to {shown_url} (HTTP {}, attempt {})",
                        payload.query_id,
                        status.as_u16(),
                        outcome.attempts
                    );
                    return outcome;
                }
                outcome.last_error = Some(format!("HTTP {}", status.as_u16()));
                status.is_server_error() || status.as_u16() == 429 || status.as_u16() == 408
            }
            Err(e) => {
                outcome.status = None;
                outcome.last_error = Some(error_text(e));
                true
            }
        };
        if !retryable || outcome.attempts >= max_attempts {
            break;
        }
        log::debug!(
            target: WEBHOOK_TARGET,
            "completion callback for query {} to {shown_url}: attempt {} failed ({}), retrying",
            payload.query_id,
            outcome.attempts,
            outcome.last_error.as_deref().unwrap_or("")
        );
        let wait = policy.backoff_for(outcome.attempts);
        let jitter: f64 = rand::rng().random_range(0.5..=1.0);
        tokio::time::sleep(wait.mul_f64(jitter)).await;
    }
    log::warn!(
        target: WEBHOOK_TARGET,
        "completion callback for query {} to {shown_url} not delivered after {} attempt(s): {}",
        payload.query_id,
        outcome.attempts,
        outcome.last_error.as_deref().unwrap_or("unknown error")
    );
    outcome
}

/// A webhook registration (`POST /api/v2/webhooks` body), validated on the
/// client before anything is sent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WebhookRegistration {
    pub name: String,
    pub url: String,
    pub events: Vec<String>,
    pub enabled: bool,
}

/// Longest accepted webhook name.
pub const MAX_WEBHOOK_NAME: usize = 256;

impl WebhookRegistration {
    /// A validated registration.
    pub fn new(
        name: impl Into<String>,
        url: impl Into<String>,
        events: Vec<String>,
        enabled: bool,
    ) -> Result<Self> {
        let r = WebhookRegistration {
            name: name.into(),
            url: url.into(),
            events,
            enabled,
        };
        r.validate()?;
        Ok(r)
    }

    /// Non-blank name (at most 256 characters), absolute http(s) URL with a
    /// host, at least one event and no blank event. Messages never repeat
    /// the URL (it may carry credentials).
    pub fn validate(&self) -> Result<()> {
        if self.name.trim().is_empty() {
            return Err(Error::validation("webhook name must not be empty"));
        }
        if self.name.chars().any(char::is_control) {
            return Err(Error::validation(
                "webhook name must not contain control characters",
            ));
        }
        if self.name.chars().count() > MAX_WEBHOOK_NAME {
            return Err(Error::validation(format!(
                "webhook name is longer than {MAX_WEBHOOK_NAME} characters"
            )));
        }
        if parse_http_url(&self.url).is_none() {
            return Err(Error::validation(
                "webhook url must be an absolute http:// or https:// URL with a host",
            ));
        }
        if self.events.is_empty() {
            return Err(Error::validation("webhook events must not be empty"));
        }
        if let Some(i) = self.events.iter().position(|e| e.trim().is_empty()) {
            return Err(Error::validation(format!(
                "webhook event #{i} must be a non-empty string"
            )));
        }
        Ok(())
    }

    /// The JSON request body.
    pub fn to_body(&self) -> Vec<u8> {
        serde_json::to_vec(self).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::test_log;
    use crate::error::ErrorKind;
    use axum::body::Bytes as AxBytes;
    use axum::extract::State;
    use axum::http::{HeaderMap, StatusCode};
    use axum::routing::post;
    use axum::Router;
    use std::sync::{Arc, Mutex};

    fn client() -> reqwest::Client {
        let _ = rustls::crypto::ring::default_provider().install_default();
        reqwest::Client::builder().build().unwrap()
    }

    fn fast() -> DeliveryPolicy {
        DeliveryPolicy {
            max_attempts: 3,
            backoff: Duration::from_millis(10),
            backoff_max: Duration::from_millis(40),
            timeout: Duration::from_secs(5),
        }
    }

    type Received = Arc<Mutex<Vec<(HeaderMap, Vec<u8>)>>>;

    #[derive(Clone, Default)]
    struct Receiver {
        /// Statuses to answer with, in order; 200 once exhausted.
        script: Arc<Mutex<Vec<u16>>>,
        got: Received,
        delay: Option<Duration>,
    }

    async fn receive(State(r): State<Receiver>, headers: HeaderMap, body: AxBytes) -> StatusCode {
        r.got.lock().unwrap().push((headers, body.to_vec()));
        if let Some(d) = r.delay {
            tokio::time::sleep(d).await;
        }
        let mut script = r.script.lock().unwrap();
        let code = if script.is_empty() {
            200
        } else {
            script.remove(0)
        };
        StatusCode::from_u16(code).unwrap()
    }

    async fn start(r: Receiver) -> String {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let app = Router::new().route("/cb", post(receive)).with_state(r);
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        format!("http://{addr}/cb")
    }

    fn payload() -> CallbackPayload {
        CallbackPayload::new(
            "QRY-001",
            250,
            Duration::from_micros(1_500),
            CallbackStatus::Completed,
        )
    }

    #[test]
    fn payload_uses_contract_keys() {
        let p = payload();
        let v: serde_json::Value = serde_json::from_slice(&p.to_body()).unwrap();
        let mut keys: Vec<_> = v.as_object().unwrap().keys().cloned().collect();
        keys.sort();
        assert_eq!(
            keys,
            ["latencyMs", "memberCount", "queryId", "status", "timestamp"]
        );
        assert_eq!(v["queryId"], "QRY-001");
        assert_eq!(v["memberCount"], 250);
        assert_eq!(v["latencyMs"], 1.5);
        assert_eq!(v["status"], "completed");
        let ts = v["timestamp"].as_str().unwrap();
        assert!(chrono::DateTime::parse_from_rfc3339(ts).is_ok(), "{ts}");
        let failed = CallbackPayload::new("q", 0, Duration::ZERO, CallbackStatus::Failed);
        let v: serde_json::Value = serde_json::from_slice(&failed.to_body()).unwrap();
        assert_eq!(v["status"], "failed");
    }

    #[test]
    fn sign_matches_known_vector() {
        // RFC 4231 test case 2
        let sig = sign("Jefe", b"what do ya want for nothing?");
        assert_eq!(
            sig,
            "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        assert!(verify("Jefe", b"what do ya want for nothing?", &sig));
        assert!(!verify("Jeff", b"what do ya want for nothing?", &sig));
        assert!(!verify("Jefe", b"what do ya want for nothing!", &sig));
        assert!(!verify("Jefe", b"x", "md5=00"));
        assert!(!verify("Jefe", b"x", "sha256=zz"));
    }

    #[test]
    fn redact_url_drops_credentials_and_query() {
        assert_eq!(
            redact_url("https://user:pw@hooks.example.com:8443/cb?token=abc#f"),
            "https://hooks.example.com:8443/cb"
        );
        assert_eq!(redact_url("not a url with secret"), "<invalid url>");
    }

    #[test]
    fn backoff_doubles_and_caps() {
        let p = DeliveryPolicy {
            backoff: Duration::from_millis(100),
            backoff_max: Duration::from_millis(350),
            ..DeliveryPolicy::default()
        };
        assert_eq!(p.backoff_for(1), Duration::from_millis(100));
        assert_eq!(p.backoff_for(2), Duration::from_millis(200));
        assert_eq!(p.backoff_for(3), Duration::from_millis(350));
        assert_eq!(p.backoff_for(u32::MAX), Duration::from_millis(350));
        let d = DeliveryPolicy::default();
        assert_eq!(d.max_attempts, 3);
    }

    #[tokio::test]
    async fn delivers_signed_json() {
        let r = Receiver::default();
        let url = start(r.clone()).await;
        let p = payload();
        let out = deliver(&client(), &url, &p, Some("s3cret"), fast()).await;
        assert_eq!(
            out,
            DeliveryOutcome {
                delivered: true,
                attempts: 1,
                status: Some(200),
                last_error: None
            }
        );
        let got = r.got.lock().unwrap();
        assert_eq!(got.len(), 1);
        let (headers, body) = &got[0];
        assert_eq!(headers["content-type"], "application/json");
        let sig = headers["x-signature-256"].to_str().unwrap();
        assert!(
            verify("s3cret", body, sig),
            "signature verifies over the raw body"
        );
        assert!(!verify("other", body, sig));
        let back: CallbackPayload = serde_json::from_slice(body).unwrap();
        assert_eq!(back, p);
    }

    #[tokio::test]
    async fn no_secret_no_signature() {
        for secret in [None, Some("")] {
            let r = Receiver::default();
            let url = start(r.clone()).await;
            let out = deliver(&client(), &url, &payload(), secret, fast()).await;
            assert!(out.delivered);
            assert!(!r.got.lock().unwrap()[0].0.contains_key("x-signature-256"));
        }
    }

    #[tokio::test]
    async fn server_errors_are_retried() {
        let r = Receiver {
            script: Arc::new(Mutex::new(vec![503, 500])),
            ..Default::default()
        };
        let url = start(r.clone()).await;
        let out = deliver(&client(), &url, &payload(), Some("k"), fast()).await;
        assert!(out.delivered);
        assert_eq!((out.attempts, out.status), (3, Some(200)));
        let got = r.got.lock().unwrap();
        assert_eq!(got.len(), 3);
        // the same bytes (and signature) each time
        assert!(got.windows(2).all(|w| w[0].1 == w[1].1));
    }

    #[tokio::test]
    async fn retries_are_bounded() {
        test_log::start();
        let r = Receiver {
            script: Arc::new(Mutex::new(vec![502; 10])),
            ..Default::default()
        };
        let url = start(r.clone()).await;
        let out = deliver(&client(), &url, &payload(), None, fast()).await;
        assert!(!out.delivered);
        assert_eq!((out.attempts, out.status), (3, Some(502)));
        assert_eq!(out.last_error.as_deref(), Some("HTTP 502"));
        assert_eq!(r.got.lock().unwrap().len(), 3);
        let warns: Vec<_> = test_log::take()
            .into_iter()
            .filter(|c| c.target == WEBHOOK_TARGET && c.level == log::Level::Warn)
            .collect();
        assert_eq!(warns.len(), 1, "{warns:?}");
    }

    #[tokio::test]
    async fn client_errors_are_not_retried() {
        let r = Receiver {
            script: Arc::new(Mutex::new(vec![400, 400])),
            ..Default::default()
        };
        let url = start(r.clone()).await;
        let out = deliver(&client(), &url, &payload(), None, fast()).await;
        assert!(!out.delivered);
        assert_eq!((out.attempts, out.status), (1, Some(400)));
    }

    #[tokio::test]
    async fn slow_receiver_times_out_and_is_retried() {
        let r = Receiver {
            delay: Some(Duration::from_secs(5)),
            ..Default::default()
        };
        let url = start(r.clone()).await;
        let policy = DeliveryPolicy {
            max_attempts: 2,
            timeout: Duration::from_millis(150),
            ..fast()
        };
        let out = deliver(&client(), &url, &payload(), None, policy).await;
        assert!(!out.delivered);
        assert_eq!(out.attempts, 2);
        let err = out.last_error.unwrap();
        assert!(err.starts_with("timed out"), "{err}");
    }

    #[tokio::test]
    async fn dead_url_fails_quickly_without_leaking() {
        // a port that was just free: nothing listens on it
        let port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        test_log::start();
        let url = format!("http://hookuser:hookpass@127.0.0.1:{port}/cb?token=tok123");
        let started = std::time::Instant::now();
        let out = deliver(&client(), &url, &payload(), Some("sig-secret"), fast()).await;
        assert!(!out.delivered);
        assert_eq!((out.attempts, out.status), (3, None));
        let err = out.last_error.clone().unwrap();
        assert!(err.starts_with("connection failed"), "{err}");
        // generous bound: refused connections plus ~70 ms of backoff
        assert!(started.elapsed() < Duration::from_secs(5));
        let logs = test_log::take();
        assert!(logs
            .iter()
            .any(|c| c.level == log::Level::Warn && c.target == WEBHOOK_TARGET));
        for text in logs
            .iter()
            .map(|c| c.message.as_str())
            .chain([err.as_str()])
        {
            for secret in ["hookpass", "hookuser", "tok123", "sig-secret"] {
                assert!(!text.contains(secret), "{secret} leaked in {text:?}");
            }
        }
    }

    #[tokio::test]
    async fn unusable_url_makes_no_attempt() {
        for url in ["", "ftp://127.0.0.1/x", "127.0.0.1:80/cb", "http://"] {
            let out = deliver(&client(), url, &payload(), None, fast()).await;
            assert_eq!((out.delivered, out.attempts), (false, 0), "{url}");
        }
    }

    #[test]
    fn registration_validation() {
        let ok = WebhookRegistration::new(
            "audience-done",
            "https://hooks.example.com/cb",
            vec!["audience.query.completed".into()],
            true,
        )
        .unwrap();
        let v: serde_json::Value = serde_json::from_slice(&ok.to_body()).unwrap();
        assert_eq!(
            v,
            serde_json::json!({"name": "audience-done", "url": "https://hooks.example.com/cb",
                               "events": ["audience.query.completed"], "enabled": true})
        );
        let ev = || vec!["e".to_string()];
        let bad: Vec<(&str, &str, Vec<String>, &str)> = vec![
            ("", "http://h/cb", ev(), "name"),
            ("   ", "http://h/cb", ev(), "name"),
            ("n", "ftp://h/cb", ev(), "url"),
            ("n", "h/cb", ev(), "url"),
            ("n", "https://user:secretpw@/x", ev(), "url"),
            ("n", "http://h/cb", vec![], "events"),
            ("n", "http://h/cb", vec![" ".into()], "event"),
        ];
        for (name, url, events, what) in bad {
            let e = WebhookRegistration::new(name, url, events, true).unwrap_err();
            assert_eq!(e.kind, ErrorKind::Validation);
            assert!(e.message.contains(what), "{}", e.message);
            assert!(!e.message.contains("secretpw"));
        }
        let long = "x".repeat(MAX_WEBHOOK_NAME + 1);
        assert!(WebhookRegistration::new(long, "http://h", ev(), false).is_err());
    }
}
