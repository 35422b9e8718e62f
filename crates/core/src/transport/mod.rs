//! The transport: the TLS settings and the one pooled reqwest client, sending
//! one request and reading its answer, error mapping (`errors`: API error
//! bodies, JSON or not, and transport failures, TLS ones typed apart) and the
//! one retry policy ([`retry`]), which API calls, token requests, discovery
//! and webhook delivery all go through. It knows nothing of tokens:
//! `crate::auth` builds on it, never the other way round.
//! Every API attempt ([`send_once`]) is counted in the client's one
//! `crate::metrics::Metrics`.

use std::time::Duration;

use bytes::Bytes;
use reqwest::header::HeaderMap;

use crate::config::Config;
use crate::error::{Error, ErrorKind, Result};
use crate::metrics::Metrics;

mod errors;
pub mod retry;

pub use errors::{api_error, peer, transport_error, transport_error_at, unreadable_body};

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

/// Sends one request and returns the response head: the transport layer's
/// one way onto the wire. A failure is typed by [`transport_error_at`],
/// naming the request's `host:port` (never its path or query). Counts
/// nothing: see [`send_once`].
pub async fn send_head(req: reqwest::RequestBuilder) -> Result<reqwest::Response> {
    let (client, request) = req.build_split();
    let request = request.map_err(transport_error)?;
    let at = peer(request.url());
    client
        .execute(request)
        .await
        .map_err(|e| transport_error_at(e, &at))
}

/// Reads the whole body of a response (a failure names the peer).
pub async fn read_body(resp: reqwest::Response) -> Result<Bytes> {
    let at = peer(resp.url());
    resp.bytes().await.map_err(|e| transport_error_at(e, &at))
}

/// Sends one request and reads the whole body, counting the attempt.
pub async fn send_once(metrics: &Metrics, req: reqwest::RequestBuilder) -> Result<Answer> {
    metrics.add_http_request();
    let resp = send_head(req).await?;
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let body = read_body(resp).await?;
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

/// A request body: content type and bytes.
#[derive(Debug, Clone)]
pub struct Body {
    pub content_type: &'static str,
    pub bytes: Bytes,
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
