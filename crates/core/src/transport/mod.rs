//! The transport: the TLS settings ([`tls`]), the proxy ([`proxy`]) and the
//! one pooled reqwest client, sending
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
pub mod proxy;
pub mod retry;
pub mod tls;

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

/// Builds the pooled reqwest client: the TLS settings for the config's CA
/// bundle ([`tls::tls_config`]), its timeouts and its proxy (without one,
/// the standard proxy variables apply; see [`proxy`]).
pub fn build_reqwest(config: &Config) -> Result<reqwest::Client> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let mut builder = reqwest::Client::builder()
        .tls_backend_preconfigured(tls::tls_config(config.ca_bundle.as_deref())?)
        .timeout(config.timeout)
        .connect_timeout(config.connect_timeout)
        .pool_idle_timeout(Duration::from_secs(90))
        .pool_max_idle_per_host(64)
        .user_agent(concat!("cxone-cdp/", env!("CARGO_PKG_VERSION")));
    if let Some(p) = &config.proxy {
        // Replaces the environment's proxies (and NO_PROXY) altogether.
        builder = builder.proxy(p.to_reqwest()?);
        // Connect failures name the proxy (the error mapping finds it).
        let shown: std::sync::Arc<str> = p.shown().into();
        builder = builder.connector_layer(tower::util::MapErrLayer::new(
            move |source: Box<dyn std::error::Error + Send + Sync>| {
                Box::new(errors::ViaProxy {
                    proxy: shown.clone(),
                    source,
                }) as Box<dyn std::error::Error + Send + Sync>
            },
        ));
    }
    builder.build().map_err(|e| {
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
    fn a_client_builds_with_and_without_a_proxy() {
        let mut c = Config::new("http://127.0.0.1:1", "id", "secret");
        assert!(build_reqwest(&c).is_ok());
        c.proxy = Some(proxy::ProxyUrl::parse("http://u:p@127.0.0.1:3128").unwrap());
        assert!(build_reqwest(&c).is_ok());
    }
}
