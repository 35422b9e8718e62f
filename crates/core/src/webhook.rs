//! Webhooks: the completion callback (payload, HMAC signature, delivery
//! through the one retry policy) and client-side validation of webhook
//! registrations.
//!
//! Delivery never fails a query: [`deliver`] returns a [`DeliveryOutcome`],
//! not a `Result`, and logs a failure on the `log` target
//! `cxone_cdp.webhook`. Log lines and outcome texts carry the callback URL
//! without user info and query string, and never the signing secret.

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use hmac::{Hmac, Mac};
use reqwest::header::{CONTENT_TYPE, USER_AGENT};
use reqwest::Url;
use serde::{Deserialize, Serialize};
use sha2::Sha256;

use crate::config::{redact_url, RetryPolicy};
use crate::error::{Error, ErrorKind, Result};
use crate::transport::retry::{self, Failure, RetryObserver};
use crate::transport::{self, Answer};

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

fn parse_http_url(url: &str) -> Option<Url> {
    let u = Url::parse(url).ok()?;
    (matches!(u.scheme(), "http" | "https") && u.host_str().is_some_and(|h| !h.is_empty()))
        .then_some(u)
}

/// How completion callbacks are delivered: the one retry policy (which
/// failures retry, the backoff, the `Retry-After` cap; see
/// [`crate::transport::retry`]) and a timeout for each attempt.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DeliveryPolicy {
    /// Default: 2 retries (3 attempts), backoff from 0.5 s doubling to at
    /// most 5 s, a receiver's `Retry-After` honoured up to 5 s.
    pub retry: RetryPolicy,
    /// Per-attempt timeout (connect + response). Default 10 s.
    pub timeout: Duration,
}

impl Default for DeliveryPolicy {
    fn default() -> Self {
        DeliveryPolicy {
            retry: RetryPolicy {
                max_retries: 2,
                backoff_base: 0.5,
                backoff_max: 5.0,
                retry_after_cap: 5.0,
            },
            timeout: Duration::from_secs(10),
        }
    }
}

impl DeliveryPolicy {
    /// Attempts in total (at least 1).
    pub fn max_attempts(&self) -> u32 {
        self.retry.max_retries.saturating_add(1)
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

/// Why an attempt failed, for the outcome and the logs: `HTTP 503`,
/// `connection failed: could not connect to 127.0.0.1:9: connection
/// refused`, `timed out: request to 127.0.0.1:8080 timed out`. Transport
/// messages name only `host:port`.
fn failure_text(e: &Error) -> String {
    match (e.status, e.kind) {
        (Some(status), _) => format!("HTTP {status}"),
        (None, ErrorKind::Timeout) => format!("timed out: {}", e.message),
        (None, ErrorKind::Connection) => format!("connection failed: {}", e.message),
        (None, _) => format!("request failed: {}", e.message),
    }
}

/// Logs each retry of one delivery on `cxone_cdp.webhook`.
struct DeliveryLog<'a> {
    query_id: &'a str,
    url: &'a str,
    attempts: &'a AtomicU32,
}

impl RetryObserver for DeliveryLog<'_> {
    fn on_retry(&self, err: &Error, delay: Duration) {
        log::debug!(
            target: WEBHOOK_TARGET,
            "completion callback for query {} to {}: attempt {} failed ({}), retrying in {:?}",
            self.query_id,
            self.url,
            self.attempts.load(Ordering::SeqCst),
            failure_text(err),
            delay
        );
    }
}

/// POSTs `payload` as JSON to `url`, signed with `secret` if given (an empty
/// secret counts as none), through the one retry loop
/// ([`crate::transport::retry::run`]) with `policy.retry`: each attempt is
/// classified like an API call (connection errors, timeouts, 429 and 500,
/// 502, 503, 504 are retried; TLS failures and other answers are final).
/// Never panics, never returns an error; the outcome says what happened,
/// and a failure is logged (warn) on target `cxone_cdp.webhook`.
pub async fn deliver(
    http: &reqwest::Client,
    url: &str,
    payload: &CallbackPayload,
    secret: Option<&str>,
    policy: DeliveryPolicy,
) -> DeliveryOutcome {
    let Some(parsed) = parse_http_url(url) else {
        log::warn!(
            target: WEBHOOK_TARGET,
            "completion callback for query {} not sent: callback URL is not an absolute http(s) URL",
            payload.query_id
        );
        return DeliveryOutcome {
            delivered: false,
            attempts: 0,
            status: None,
            last_error: Some("callback URL is not an absolute http(s) URL".to_owned()),
        };
    };
    let shown_url = redact_url(url);
    let body = bytes::Bytes::from(payload.to_body());
    let signature = secret.filter(|s| !s.is_empty()).map(|s| sign(s, &body));
    let attempts = AtomicU32::new(0);
    let observer = DeliveryLog {
        query_id: &payload.query_id,
        url: &shown_url,
        attempts: &attempts,
    };
    let result = retry::run(&policy.retry, &observer, |attempt| {
        attempts.store(attempt.saturating_add(1), Ordering::SeqCst);
        let mut req = http
            .post(parsed.clone())
            .timeout(policy.timeout)
            .header(CONTENT_TYPE, "application/json")
            .header(USER_AGENT, concat!("cxone-cdp/", env!("CARGO_PKG_VERSION")))
            .body(body.clone());
        if let Some(sig) = &signature {
            req = req.header(SIGNATURE_HEADER, sig);
        }
        async move {
            let resp = transport::send_head(req).await?;
            let status = resp.status().as_u16();
            let headers = resp.headers().clone();
            // Drain the (small) body so the connection can be reused; once
            // the status is in, a broken body does not change the outcome.
            let body = transport::read_body(resp).await.unwrap_or_default();
            if (200..300).contains(&status) {
                return Ok(status);
            }
            Err(Failure::from(transport::api_error(&Answer {
                status,
                headers,
                body,
            })))
        }
    })
    .await;
    let attempts = attempts.load(Ordering::SeqCst);
    match result {
        Ok(status) => {
            log::debug!(
                target: WEBHOOK_TARGET,
                "completion callback for query {} delivered to {shown_url} (HTTP {status}, attempt {attempts})",
                payload.query_id,
            );
            DeliveryOutcome {
                delivered: true,
                attempts,
                status: Some(status),
                last_error: None,
            }
        }
        Err(e) => {
            let why = failure_text(&e);
            log::warn!(
                target: WEBHOOK_TARGET,
                "completion callback for query {} to {shown_url} not delivered after {attempts} attempt(s): {why}",
                payload.query_id,
            );
            DeliveryOutcome {
                delivered: false,
                attempts,
                status: e.status,
                last_error: Some(why),
            }
        }
    }
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
    //! Payload, signature, redaction, policy and registration checks; the
    //! delivery itself (against real receivers, and the URLs it refuses to
    //! try) is tested in `tests/webhook_delivery.rs`.
    use super::*;

    #[test]
    fn payload_uses_contract_keys() {
        let latency = Duration::from_micros(1_500);
        let p = CallbackPayload::new("QRY-001", 250, latency, CallbackStatus::Completed);
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
    fn default_policy_is_the_one_retry_policy() {
        let d = DeliveryPolicy::default();
        assert_eq!(d.max_attempts(), 3);
        assert_eq!(d.retry.backoff(0, 0.0), Duration::from_millis(500));
        assert_eq!(d.retry.backoff(1, 0.0), Duration::from_secs(1));
        assert_eq!(d.retry.backoff(10, 0.0), Duration::from_secs(5));
        assert_eq!(d.timeout, Duration::from_secs(10));
        let none = DeliveryPolicy {
            retry: RetryPolicy {
                max_retries: u32::MAX,
                ..d.retry
            },
            ..d
        };
        assert_eq!(none.max_attempts(), u32::MAX);
    }

    #[test]
    fn failure_texts_name_the_status_or_the_transport_failure() {
        let http = Error::new(ErrorKind::Server, "busy").with_status(503);
        assert_eq!(failure_text(&http), "HTTP 503");
        let refused = Error::new(
            ErrorKind::Connection,
            "could not connect to 127.0.0.1:9: connection refused",
        );
        assert_eq!(
            failure_text(&refused),
            "connection failed: could not connect to 127.0.0.1:9: connection refused"
        );
        let slow = Error::new(ErrorKind::Timeout, "request to 127.0.0.1:8 timed out");
        assert!(failure_text(&slow).starts_with("timed out: "));
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
