//! The transport: the TLS settings and the one pooled reqwest client, sending
//! one request and reading its answer, error mapping for API error bodies
//! (JSON or not) and transport failures, and the one retry policy
//! ([`retry`]). It knows nothing of tokens: `crate::auth` builds on it.
//! Every attempt is counted in the client's one `crate::metrics::Metrics`.

use std::time::Duration;

use bytes::Bytes;
use reqwest::header::{HeaderMap, RETRY_AFTER};
use serde::Deserialize;

use crate::config::Config;
use crate::error::{excerpt, Error, ErrorKind, Result};
use crate::metrics::Metrics;
pub mod retry;

/// How many characters of a body we quote in an error message.
pub const EXCERPT_LEN: usize = 200;

/// A raw answer: status, headers, body.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Bytes,
}

/// The TLS settings every client of this process shares: rustls with the
/// ring provider, TLS 1.2 and 1.3, HTTP/1.1 by ALPN, and the platform's
/// certificate verifier (the system's root store on Linux). Built once: the
/// verifier reads and parses the whole root store, which took 7-18 ms per
/// `Querier` when every client built its own.
pub fn tls_config() -> Result<rustls::ClientConfig> {
    use rustls_platform_verifier::BuilderVerifierExt;
    static TLS: std::sync::OnceLock<std::result::Result<rustls::ClientConfig, String>> =
        std::sync::OnceLock::new();
    TLS.get_or_init(|| {
        let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
        let mut tls = rustls::ClientConfig::builder_with_provider(provider)
            .with_protocol_versions(rustls::ALL_VERSIONS)
            .map_err(|e| e.to_string())?
            .with_platform_verifier()
            .map_err(|e| e.to_string())?
            .with_no_client_auth();
        tls.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(tls)
    })
    .clone()
    .map_err(|e| Error::new(ErrorKind::Other, format!("could not set up TLS: {e}")))
}

/// Builds the pooled reqwest client.
pub fn build_reqwest(config: &Config) -> Result<reqwest::Client> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .tls_backend_preconfigured(tls_config()?)
        .timeout(config.timeout)
        .connect_timeout(config.connect_timeout)
        .pool_idle_timeout(Duration::from_secs(90))
        .pool_max_idle_per_host(64)
        .user_agent(concat!("cxone-cdp/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| {
            Error::new(
                ErrorKind::Other,
                format!("could not build the HTTP client: {e}"),
            )
        })
}

/// A transport failure as a core error (no URL, so no query text, in it).
pub fn transport_error(e: reqwest::Error) -> Error {
    let kind = if e.is_timeout() {
        ErrorKind::Timeout
    } else {
        ErrorKind::Connection
    };
    let e = e.without_url();
    let mut msg = e.to_string();
    let mut src = std::error::Error::source(&e);
    while let Some(s) = src {
        msg.push_str(": ");
        msg.push_str(&s.to_string());
        src = s.source();
    }
    Error::new(kind, msg)
}

/// Sends one request and reads the whole body, counting the attempt.
pub async fn send_once(metrics: &Metrics, req: reqwest::RequestBuilder) -> Result<Answer> {
    metrics.add_http_request();
    let resp = req.send().await.map_err(transport_error)?;
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let body = resp.bytes().await.map_err(transport_error)?;
    metrics.add_bytes(body.len() as u64);
    if status == 429 {
        metrics.add_rate_limited();
    }
    Ok(Answer {
        status,
        headers,
        body,
    })
}

#[derive(Deserialize)]
struct ApiErrorBody {
    code: Option<String>,
    message: Option<String>,
    #[serde(rename = "correlationId")]
    correlation_id: Option<String>,
}

/// The error for a non-2xx API answer: kind by status, code/message/
/// correlationId from a JSON body, or the status and an excerpt of a body
/// that is not JSON; `Retry-After` for 429.
pub fn api_error(answer: &Answer) -> Error {
    let status = answer.status;
    let kind = Error::kind_for_status(status);
    let header_corr = answer
        .headers
        .get("x-correlation-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let mut err = match serde_json::from_slice::<ApiErrorBody>(&answer.body) {
        Ok(b) if b.code.is_some() || b.message.is_some() => {
            let mut e = Error::new(kind, b.message.unwrap_or_else(|| format!("HTTP {status}")))
                .with_status(status)
                .with_correlation_id(b.correlation_id.or(header_corr));
            e.code = b.code;
            e
        }
        _ => Error::new(
            kind,
            if answer.body.is_empty() {
                "empty error body".to_string()
            } else {
                format!(
                    "non-JSON error body: {}",
                    excerpt(&answer.body, EXCERPT_LEN)
                )
            },
        )
        .with_status(status)
        .with_correlation_id(header_corr),
    };
    if status == 429 {
        err.retry_after = answer
            .headers
            .get(RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(retry::parse_retry_after);
    }
    err
}

/// The error for a 2xx body we could not understand: a server fault, retried
/// like a 5xx (never taken as an empty answer).
pub fn unreadable_body(what: &str, body: &[u8], e: impl std::fmt::Display) -> Error {
    Error::new(
        ErrorKind::Server,
        format!(
            "unreadable {what} response ({e}); body starts: {}",
            excerpt(body, EXCERPT_LEN)
        ),
    )
    .with_code("invalid_response")
}

/// A request body: content type and bytes.
#[derive(Debug, Clone)]
pub struct Body {
    pub content_type: &'static str,
    pub bytes: Bytes,
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    #[test]
    fn tls_settings_are_built_once_and_shared() {
        let a = tls_config().unwrap();
        let b = tls_config().unwrap();
        assert_eq!(a.alpn_protocols, vec![b"http/1.1".to_vec()]);
        // Clones share the verifier (one root store per process).
        assert!(std::sync::Arc::ptr_eq(
            &a.crypto_provider().clone(),
            &b.crypto_provider().clone()
        ));
        assert!(build_reqwest(&Config::new("http://127.0.0.1:1", "id", "secret")).is_ok());
    }

    fn answer(status: u16, body: &str, retry_after: Option<&str>) -> Answer {
        let mut headers = HeaderMap::new();
        if let Some(r) = retry_after {
            headers.insert(RETRY_AFTER, HeaderValue::from_str(r).unwrap());
        }
        Answer {
            status,
            headers,
            body: Bytes::from(body.to_string()),
        }
    }

    #[test]
    fn json_error_bodies_map_to_typed_errors() {
        let e = api_error(&answer(
            400,
            r#"{"code":"invalid_filter","message":"bad","correlationId":"c1"}"#,
            None,
        ));
        assert_eq!(e.kind, ErrorKind::BadRequest);
        assert_eq!(e.code.as_deref(), Some("invalid_filter"));
        assert_eq!(e.correlation_id.as_deref(), Some("c1"));
        assert_eq!(e.status, Some(400));
        let e = api_error(&answer(
            403,
            r#"{"code":"forbidden","message":"needs cdp:read"}"#,
            None,
        ));
        assert_eq!(e.kind, ErrorKind::PermissionDenied);
        let e = api_error(&answer(404, r#"{"code":"not_found","message":"x"}"#, None));
        assert_eq!(e.kind, ErrorKind::NotFound);
        let e = api_error(&answer(
            429,
            r#"{"code":"rate_limited","message":"x"}"#,
            Some("7"),
        ));
        assert_eq!((e.kind, e.retry_after), (ErrorKind::RateLimit, Some(7.0)));
    }

    #[test]
    fn non_json_error_body_gives_status_and_excerpt() {
        let html = format!("<html><body>Bad Gateway{}</body></html>", "x".repeat(500));
        let e = api_error(&answer(502, &html, None));
        assert_eq!(e.kind, ErrorKind::Server);
        assert_eq!(e.status, Some(502));
        assert!(e.message.contains("<html><body>Bad Gateway"));
        assert!(e.message.chars().count() < 260);
        assert!(e.is_retryable());
    }
}
