//! Transport failures as the client reports them: a certificate the client
//! does not trust fails after one connection with code `tls`; a refused
//! port, a dropped connection and a timeout are retried per the policy; every
//! message names `host:port` and the reason, never the path, the query or a
//! credential.

mod common;

use std::time::Duration;

use common::mock_api::{always, ok, serve, AUD};
use common::servers::{closed_port, hang_up, silent, untrusted_tls};
use cxone_cdp_core::api::Client;
use cxone_cdp_core::config::Config;
use cxone_cdp_core::error::{Error, ErrorKind, TLS_CODE};

const SECRET: &str = "very-secret-value";

/// A client for `base` whose retries are quick but real (three of them).
fn config(base: String) -> Config {
    let mut c = Config::new(base, "id", SECRET);
    c.retry.max_retries = 3;
    c.retry.backoff_base = 0.01;
    c.retry.backoff_max = 0.02;
    c.timeout = Duration::from_secs(5);
    c
}

fn assert_no_leak(e: &Error) {
    let text = format!("{e} {e:?}");
    for secret in [SECRET, "/oauth", "/api/v2", "filter", "cursor"] {
        assert!(!text.contains(secret), "{secret:?} in {text}");
    }
}

#[tokio::test]
async fn untrusted_certificate_fails_at_once_with_code_tls() {
    let server = untrusted_tls().await;
    // The default policy retries connection errors three times, 0.5 s
    // apart: a TLS failure must not be one of them.
    let mut c = Config::new(format!("https://127.0.0.1:{}", server.port), "id", SECRET);
    c.retry.max_retries = 3;
    let client = Client::new(c).unwrap();
    let e = client.count(AUD, &[]).await.unwrap_err();
    assert_eq!(e.kind, ErrorKind::Connection, "{e}");
    assert_eq!(e.code.as_deref(), Some(TLS_CODE), "{e}");
    assert!(!e.is_retryable());
    let want = format!("TLS handshake with 127.0.0.1:{} failed: ", server.port);
    assert!(e.message.starts_with(&want), "{}", e.message);
    assert!(e.message.contains("certificate"), "{}", e.message);
    assert_no_leak(&e);
    assert_eq!(server.accepted(), 1, "one connection, no retry");
    let m = client.metrics_snapshot();
    assert_eq!((m.http_requests, m.retries), (1, 0));
}

#[tokio::test]
async fn untrusted_api_host_is_not_retried_either() {
    // Tokens from a plain-HTTP endpoint, the API behind the untrusted
    // certificate: the API call fails the same way, after one connection.
    let (token_side, _mock) = serve(always(ok("{}"))).await;
    let server = untrusted_tls().await;
    let mut c = config(format!("https://127.0.0.1:{}", server.port));
    c.token_url = Some(format!("{}/oauth/token", token_side.config().base_url));
    let client = Client::new(c).unwrap();
    let e = client.count(AUD, &[]).await.unwrap_err();
    assert_eq!(
        (e.kind, e.code.as_deref()),
        (ErrorKind::Connection, Some(TLS_CODE))
    );
    assert!(
        e.message
            .contains(&format!("TLS handshake with 127.0.0.1:{}", server.port)),
        "{}",
        e.message
    );
    assert_no_leak(&e);
    assert_eq!(server.accepted(), 1);
    assert_eq!(client.metrics_snapshot().retries, 0);
}

#[tokio::test]
async fn refused_port_names_host_and_port_and_is_retried() {
    let port = closed_port();
    let client = Client::new(config(format!("http://127.0.0.1:{port}"))).unwrap();
    let e = client.count(AUD, &[]).await.unwrap_err();
    assert_eq!((e.kind, e.code.as_deref()), (ErrorKind::Connection, None));
    assert_eq!(
        e.message,
        format!("could not connect to 127.0.0.1:{port}: connection refused")
    );
    assert_no_leak(&e);
    let m = client.metrics_snapshot();
    assert_eq!((m.http_requests, m.retries), (4, 3), "retried per policy");
}

#[tokio::test]
async fn dropped_connection_names_the_peer_and_is_retried() {
    let server = hang_up().await;
    let client = Client::new(config(format!("http://127.0.0.1:{}", server.port))).unwrap();
    let e = client.count(AUD, &[]).await.unwrap_err();
    assert_eq!((e.kind, e.code.as_deref()), (ErrorKind::Connection, None));
    let want = format!("connection to 127.0.0.1:{} failed: ", server.port);
    assert!(e.message.starts_with(&want), "{}", e.message);
    assert_no_leak(&e);
    assert_eq!(server.accepted(), 4, "first attempt and three retries");
}

#[tokio::test]
async fn timeout_names_the_peer_and_is_retried() {
    let server = silent().await;
    let mut c = config(format!("http://127.0.0.1:{}", server.port));
    c.retry.max_retries = 1;
    c.timeout = Duration::from_millis(200);
    let client = Client::new(c).unwrap();
    let e = client.count(AUD, &[]).await.unwrap_err();
    assert_eq!(e.kind, ErrorKind::Timeout, "{e}");
    assert_eq!(
        e.message,
        format!("request to 127.0.0.1:{} timed out", server.port)
    );
    assert_no_leak(&e);
    assert_eq!(client.metrics_snapshot().http_requests, 2);
}

#[tokio::test]
async fn messages_never_carry_the_path_query_or_user_info() {
    let server = untrusted_tls().await;
    let port = closed_port();
    let http = cxone_cdp_core::transport::build_reqwest(&config(String::new())).unwrap();
    for (url, peer) in [
        (
            format!(
                "https://user:pw-secret@127.0.0.1:{}/api/v2/x?filter=city%3DParis",
                server.port
            ),
            format!("127.0.0.1:{}", server.port),
        ),
        (
            format!("http://user:pw-secret@127.0.0.1:{port}/api/v2/x?cursor=c1&filter=a"),
            format!("127.0.0.1:{port}"),
        ),
    ] {
        let e = cxone_cdp_core::transport::send_head(http.get(&url))
            .await
            .unwrap_err();
        assert!(e.message.contains(&peer), "{}", e.message);
        for leak in ["pw-secret", "user", "Paris", "/api", "cursor", "filter"] {
            assert!(!e.message.contains(leak), "{leak:?} in {}", e.message);
        }
    }
}
