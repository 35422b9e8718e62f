//! Error mapping: a transport failure (TLS, connect, timeout, a dropped
//! connection), a non-2xx API answer (JSON error body or not) and a 2xx body
//! that could not be read, each as one typed core [`Error`].
//!
//! Transport messages name the peer as `host:port` and the reason, never the
//! path or query (filters are in the query) nor any user info.

use std::error::Error as StdError;

use reqwest::header::RETRY_AFTER;
use reqwest::Url;
use serde::Deserialize;

use super::{retry, Answer, EXCERPT_LEN};
use crate::error::{excerpt, Error, ErrorKind, TLS_CODE};

/// The peer of `url` as it may appear in a message: `host:port` (the
/// scheme's default port when none is given), without user info, path or
/// query.
pub fn peer(url: &Url) -> String {
    let host = url.host_str().unwrap_or("<no host>");
    match url.port_or_known_default() {
        Some(port) => format!("{host}:{port}"),
        None => host.to_string(),
    }
}

/// A transport failure as a core error: kind, code and a message naming the
/// peer (from the error's URL) and the reason. See [`transport_error_at`].
pub fn transport_error(e: reqwest::Error) -> Error {
    let at = e.url().map_or_else(|| "the server".to_string(), peer);
    transport_error_at(e, &at)
}

/// A connect failure of a client with an explicit proxy, as its connector
/// layer wraps it (see [`crate::transport::build_reqwest`]): the proxy as
/// shown (never its credentials), and the failure.
#[derive(Debug)]
pub struct ViaProxy {
    pub proxy: std::sync::Arc<str>,
    pub source: Box<dyn StdError + Send + Sync>,
}

impl std::fmt::Display for ViaProxy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "through the proxy {}", self.proxy)
    }
}

impl StdError for ViaProxy {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        Some(&*self.source)
    }
}

/// A transport failure talking to `at` (`host:port`) as a core error:
///
/// - a TLS failure (a `rustls::Error` in the source chain: an untrusted or
///   invalid certificate, a failed handshake): `Connection`, code `tls`,
///   which the retry policy does not retry (another attempt meets the same
///   certificate): `TLS handshake with 127.0.0.1:8443 failed: invalid peer
///   certificate: UnknownIssuer`;
/// - a timeout: `Timeout`, `request to 127.0.0.1:8080 timed out`;
/// - a failed connect: `Connection`, `could not connect to 127.0.0.1:1:
///   connection refused`; through an explicit proxy, `could not connect to
///   the proxy http://127.0.0.1:3128 (on the way to api.example.com:443):
///   connection refused`, or, when the proxy refused the tunnel, `could not
///   connect to api.example.com:443 through the proxy http://127.0.0.1:3128:
///   the proxy refused to open a tunnel (its answer to CONNECT was not 2xx)`;
/// - anything else (a connection dropped mid-answer): `Connection`,
///   `connection to 127.0.0.1:8080 failed: <reason>`.
pub fn transport_error_at(e: reqwest::Error, at: &str) -> Error {
    let e = e.without_url();
    let via = chain(&e)
        .into_iter()
        .find_map(|s| s.downcast_ref::<ViaProxy>())
        .map(|v| v.proxy.clone());
    if let Some(tls) = find_tls_error(&e) {
        let message = if let Some(proxy) = &via {
            format!("TLS handshake with {at} (through the proxy {proxy}) failed: {tls}")
        } else if e.is_connect() {
            format!("TLS handshake with {at} failed: {tls}")
        } else {
            format!("TLS failure on the connection to {at}: {tls}")
        };
        return Error::new(ErrorKind::Connection, message).with_code(TLS_CODE);
    }
    if e.is_timeout() {
        let what = if e.is_connect() {
            "connecting to"
        } else {
            "request to"
        };
        return Error::new(ErrorKind::Timeout, format!("{what} {at} timed out"));
    }
    let reason = reason(&e);
    if let Some(proxy) = via {
        return match tunnel_refusal(&reason) {
            // Credentials do not get better on a retry: not a connection error.
            Some(PROXY_AUTH) => Error::new(
                ErrorKind::Authentication,
                format!("could not connect to {at} through the proxy {proxy}: {PROXY_AUTH}"),
            )
            .with_status(407)
            .with_code(PROXY_AUTH_CODE),
            Some(why) => Error::new(
                ErrorKind::Connection,
                format!("could not connect to {at} through the proxy {proxy}: {why}"),
            ),
            None => Error::new(
                ErrorKind::Connection,
                format!("could not connect to the proxy {proxy} (on the way to {at}): {reason}"),
            ),
        };
    }
    if e.is_connect() {
        Error::new(
            ErrorKind::Connection,
            format!("could not connect to {at}: {reason}"),
        )
    } else if e.is_builder() {
        Error::new(
            ErrorKind::Connection,
            format!("could not build the request to {at}: {reason}"),
        )
    } else {
        Error::new(
            ErrorKind::Connection,
            format!("connection to {at} failed: {reason}"),
        )
    }
}

/// Every error in the source chain of `e`, `e` first, including the error an
/// `io::Error` wraps (its `source()` skips straight past that one, and that
/// is how tokio-rustls hands on a `rustls::Error`).
fn chain<'a>(e: &'a (dyn StdError + 'static)) -> Vec<&'a (dyn StdError + 'static)> {
    let mut out = Vec::new();
    let mut next = Some(e);
    while let Some(err) = next {
        out.push(err);
        next = match err
            .downcast_ref::<std::io::Error>()
            .and_then(|io| io.get_ref())
        {
            // An io::Error may wrap another (hyper-rustls wraps the one
            // tokio-rustls made around the rustls::Error).
            Some(inner) => Some(inner as &(dyn StdError + 'static)),
            None => err.source(),
        };
        if out.len() > 32 {
            break;
        }
    }
    out
}

fn find_tls_error(e: &reqwest::Error) -> Option<&rustls::Error> {
    chain(e)
        .into_iter()
        .find_map(|s| s.downcast_ref::<rustls::Error>())
}

/// The reason of a transport failure: a plain phrase for the usual socket
/// errors (`connection refused`), else the innermost message of the chain.
fn reason(e: &reqwest::Error) -> String {
    use std::io::ErrorKind as Io;
    let errors = chain(e);
    for err in &errors {
        if let Some(io) = err.downcast_ref::<std::io::Error>() {
            let phrase = match io.kind() {
                Io::ConnectionRefused => "connection refused",
                Io::ConnectionReset => "connection reset by peer",
                Io::ConnectionAborted => "connection aborted",
                Io::AddrNotAvailable => "address not available",
                Io::HostUnreachable => "host unreachable",
                Io::NetworkUnreachable => "network unreachable",
                Io::BrokenPipe => "broken pipe",
                _ => continue,
            };
            return phrase.to_string();
        }
    }
    errors
        .last()
        .map_or_else(|| e.to_string(), |inner| inner.to_string())
}

const PROXY_AUTH_CODE: &str = "proxy_authentication_required";
const PROXY_AUTH: &str = "the proxy asks for credentials (407 Proxy Authentication Required): \
     give them in the proxy URL, http://user:password@host:port";

/// What a proxy's refusal to tunnel means, from hyper-util's tunnel error
/// (`tunnel error: unsuccessful`, its only form: the type is private).
fn tunnel_refusal(reason: &str) -> Option<&'static str> {
    let what = reason.strip_prefix("tunnel error: ")?;
    Some(match what {
        "unsuccessful" => "the proxy refused to open a tunnel (its answer to CONNECT was not 2xx)",
        "proxy authorization required" => PROXY_AUTH,
        "unexpected end of file" => "the proxy closed the connection while opening the tunnel",
        "proxy response headers too long" => "the proxy's answer to CONNECT was too long",
        _ => "the proxy could not open a tunnel",
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
    if status == 407 {
        // From a proxy forwarding plain HTTP (through a CONNECT tunnel the
        // same refusal is a connect error): not the API's answer.
        err.kind = ErrorKind::Authentication;
        err.code = Some(PROXY_AUTH_CODE.into());
        err.message = PROXY_AUTH.into();
    }
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

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use reqwest::header::{HeaderMap, HeaderValue};

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
    fn peer_is_host_and_port_only() {
        let u = Url::parse("https://user:pw@api.example.com/x?filter=city%3DParis").unwrap();
        assert_eq!(peer(&u), "api.example.com:443");
        let u = Url::parse("http://127.0.0.1:8080/a").unwrap();
        assert_eq!(peer(&u), "127.0.0.1:8080");
        let u = Url::parse("http://[::1]:9/a").unwrap();
        assert_eq!(peer(&u), "[::1]:9");
    }

    #[test]
    fn a_rustls_error_inside_an_io_error_is_found() {
        let tls = rustls::Error::InvalidCertificate(rustls::CertificateError::UnknownIssuer);
        let io = std::io::Error::new(std::io::ErrorKind::InvalidData, tls);
        // As hyper-rustls hands it on: an io::Error around that io::Error.
        let io = std::io::Error::other(io);
        let found = chain(&io)
            .into_iter()
            .find_map(|s| s.downcast_ref::<rustls::Error>())
            .map(ToString::to_string);
        assert_eq!(
            found.as_deref(),
            Some("invalid peer certificate: UnknownIssuer")
        );
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
        let e = api_error(&answer(
            407,
            "<html>Proxy Authentication Required</html>",
            None,
        ));
        assert_eq!(e.kind, ErrorKind::Authentication);
        assert_eq!(e.code.as_deref(), Some("proxy_authentication_required"));
        assert!(e.message.contains("proxy URL") && !e.is_retryable(), "{e}");
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
