//! Completion callback delivery against real receivers on 127.0.0.1: the
//! signed body, and the one retry policy deciding every retry (5xx, 429,
//! timeouts and refused connections retried up to the policy's attempts;
//! 4xx, 501 and TLS failures final), with the outcome and the logs on
//! `cxone_cdp.webhook` never carrying the secret or the URL's credentials.

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes as AxBytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::routing::post;
use axum::Router;
use common::logs;
use common::servers::{closed_port, untrusted_tls};
use cxone_cdp_core::config::RetryPolicy;
use cxone_cdp_core::webhook::{
    deliver, verify, CallbackPayload, CallbackStatus, DeliveryOutcome, DeliveryPolicy,
    WEBHOOK_TARGET,
};

fn client() -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder().build().unwrap()
}

/// The callback client a `Client` uses (platform verifier, pooled).
fn real_client() -> reqwest::Client {
    let c = cxone_cdp_core::config::Config::new("http://127.0.0.1:1", "id", "s");
    cxone_cdp_core::transport::build_reqwest(&c).unwrap()
}

/// `attempts` in total, waits of 10 ms doubling to 40 ms.
fn policy(attempts: u32) -> DeliveryPolicy {
    DeliveryPolicy {
        retry: RetryPolicy {
            max_retries: attempts - 1,
            backoff_base: 0.01,
            backoff_max: 0.04,
            retry_after_cap: 0.05,
        },
        timeout: Duration::from_secs(5),
    }
}

fn fast() -> DeliveryPolicy {
    policy(3)
}

type Received = Arc<Mutex<Vec<(HeaderMap, Vec<u8>)>>>;

#[derive(Clone, Default)]
struct Receiver {
    /// Statuses to answer with, in order; 200 once exhausted. A 429 comes
    /// with `Retry-After: 0`.
    script: Arc<Mutex<Vec<u16>>>,
    got: Received,
    delay: Option<Duration>,
}

impl Receiver {
    fn answering(statuses: &[u16]) -> Receiver {
        Receiver {
            script: Arc::new(Mutex::new(statuses.to_vec())),
            ..Default::default()
        }
    }

    fn hits(&self) -> usize {
        self.got.lock().unwrap().len()
    }
}

async fn receive(
    State(r): State<Receiver>,
    headers: HeaderMap,
    body: AxBytes,
) -> axum::response::Response {
    r.got.lock().unwrap().push((headers, body.to_vec()));
    if let Some(d) = r.delay {
        tokio::time::sleep(d).await;
    }
    let code = {
        let mut script = r.script.lock().unwrap();
        if script.is_empty() {
            200
        } else {
            script.remove(0)
        }
    };
    let status = StatusCode::from_u16(code).unwrap();
    if code == 429 {
        (status, [("retry-after", "0")]).into_response()
    } else {
        status.into_response()
    }
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

/// Delivers [`payload`] to a fresh receiver `r` with the test client.
async fn deliver_to(r: &Receiver, secret: Option<&str>, policy: DeliveryPolicy) -> DeliveryOutcome {
    let url = start(r.clone()).await;
    deliver(&client(), &url, &payload(), secret, policy).await
}

fn payload() -> CallbackPayload {
    CallbackPayload::new(
        "QRY-001",
        250,
        Duration::from_micros(1_500),
        CallbackStatus::Completed,
    )
}

fn webhook_logs(level: log::Level) -> Vec<logs::Captured> {
    of_level(&logs::take(), level).cloned().collect()
}

fn of_level(all: &[logs::Captured], level: log::Level) -> impl Iterator<Item = &logs::Captured> {
    all.iter()
        .filter(move |c| c.target == WEBHOOK_TARGET && c.level == level)
}

/// The URL's user, password and query token and the signing secret of the
/// leak tests appear in none of `logged` nor in `err`.
fn assert_no_leak(logged: &[logs::Captured], err: &str) {
    for text in logged.iter().map(|c| c.message.as_str()).chain([err]) {
        for secret in ["hookpass", "hookuser", "tok123", "sig-secret"] {
            assert!(!text.contains(secret), "{secret} leaked in {text:?}");
        }
    }
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
        let out = deliver_to(&r, secret, fast()).await;
        assert!(out.delivered);
        assert!(!r.got.lock().unwrap()[0].0.contains_key("x-signature-256"));
    }
}

#[tokio::test]
async fn server_errors_are_retried() {
    let r = Receiver::answering(&[503, 500]);
    let out = deliver_to(&r, Some("k"), fast()).await;
    assert!(out.delivered);
    assert_eq!((out.attempts, out.status), (3, Some(200)));
    let got = r.got.lock().unwrap();
    assert_eq!(got.len(), 3);
    // the same bytes (and signature) each time
    assert!(got.windows(2).all(|w| w[0].1 == w[1].1));
}

#[tokio::test]
async fn retries_are_bounded() {
    logs::start();
    let r = Receiver::answering(&[502; 10]);
    let out = deliver_to(&r, None, fast()).await;
    assert!(!out.delivered);
    assert_eq!((out.attempts, out.status), (3, Some(502)));
    assert_eq!(out.last_error.as_deref(), Some("HTTP 502"));
    assert_eq!(r.hits(), 3);
    let warns = webhook_logs(log::Level::Warn);
    assert_eq!(warns.len(), 1, "{warns:?}");
}

#[tokio::test]
async fn client_errors_are_not_retried() {
    let r = Receiver::answering(&[400, 400]);
    let out = deliver_to(&r, None, fast()).await;
    assert!(!out.delivered);
    assert_eq!((out.attempts, out.status), (1, Some(400)));
}

#[tokio::test]
async fn slow_receiver_times_out_and_is_retried() {
    let r = Receiver {
        delay: Some(Duration::from_secs(5)),
        ..Default::default()
    };
    let policy = DeliveryPolicy {
        timeout: Duration::from_millis(150),
        ..policy(2)
    };
    let out = deliver_to(&r, None, policy).await;
    assert!(!out.delivered);
    assert_eq!(out.attempts, 2);
    let err = out.last_error.unwrap();
    assert!(err.starts_with("timed out"), "{err}");
}

#[tokio::test]
async fn dead_url_fails_quickly_without_leaking() {
    let port = closed_port();
    logs::start();
    let url = format!("http://hookuser:hookpass@127.0.0.1:{port}/cb?token=tok123");
    let started = std::time::Instant::now();
    let out = deliver(&client(), &url, &payload(), Some("sig-secret"), fast()).await;
    assert!(!out.delivered);
    assert_eq!((out.attempts, out.status), (3, None));
    let err = out.last_error.clone().unwrap();
    assert!(err.starts_with("connection failed"), "{err}");
    // generous bound: refused connections plus ~70 ms of backoff
    assert!(started.elapsed() < Duration::from_secs(5));
    let captured = logs::take();
    assert!(of_level(&captured, log::Level::Warn).next().is_some());
    assert_no_leak(&captured, &err);
}

#[tokio::test]
async fn a_503_is_retried_until_the_policy_gives_up() {
    logs::start();
    let r = Receiver::answering(&[503; 10]);
    let out = deliver_to(&r, Some("k"), policy(5)).await;
    assert_eq!(
        out,
        DeliveryOutcome {
            delivered: false,
            attempts: 5,
            status: Some(503),
            last_error: Some("HTTP 503".into()),
        }
    );
    assert_eq!(r.hits(), 5, "the policy's attempts, no more");
    let all = logs::take();
    let retries = of_level(&all, log::Level::Debug)
        .filter(|c| c.message.contains("retrying"))
        .count();
    assert_eq!(retries, 4, "{all:?}");
    let warns: Vec<_> = of_level(&all, log::Level::Warn).collect();
    assert_eq!(warns.len(), 1, "{warns:?}");
    assert!(warns[0].message.contains("after 5 attempt(s): HTTP 503"));
    // One attempt in all when the policy allows no retry.
    let r = Receiver::answering(&[503]);
    let out = deliver_to(&r, None, policy(1)).await;
    assert_eq!((out.delivered, out.attempts, r.hits()), (false, 1, 1));
}

#[tokio::test]
async fn the_api_retry_policy_decides() {
    // 429 (with Retry-After) and 504 are retried, as for API calls.
    let r = Receiver::answering(&[429, 504]);
    let out = deliver_to(&r, None, fast()).await;
    assert_eq!(
        (out.delivered, out.attempts, out.status),
        (true, 3, Some(200))
    );
    assert_eq!(r.hits(), 3);
    // 400, 401, 404 and 501 are final, as for API calls.
    for status in [400, 401, 404, 501] {
        let r = Receiver::answering(&[status, status]);
        let out = deliver_to(&r, None, fast()).await;
        assert_eq!(
            (out.delivered, out.attempts, out.status),
            (false, 1, Some(status))
        );
        assert_eq!(r.hits(), 1, "{status}");
    }
}

#[tokio::test]
async fn untrusted_receiver_certificate_is_one_attempt() {
    logs::start();
    let server = untrusted_tls().await;
    let url = format!(
        "https://hookuser:hookpass@127.0.0.1:{}/cb?token=tok123",
        server.port
    );
    let out = deliver(&real_client(), &url, &payload(), Some("sig-secret"), fast()).await;
    assert!(!out.delivered);
    assert_eq!((out.attempts, out.status), (1, None));
    assert_eq!(server.accepted(), 1, "a TLS failure is not retried");
    let err = out.last_error.unwrap();
    let want = format!(
        "connection failed: TLS handshake with 127.0.0.1:{} failed: ",
        server.port
    );
    assert!(err.starts_with(&want), "{err}");
    let warns = webhook_logs(log::Level::Warn);
    assert_eq!(warns.len(), 1, "{warns:?}");
    assert_no_leak(&warns, &err);
}

#[tokio::test]
async fn refused_receiver_is_retried_and_named_by_host_and_port() {
    let port = closed_port();
    let url = format!("http://127.0.0.1:{port}/cb");
    let out = deliver(&client(), &url, &payload(), None, policy(2)).await;
    assert_eq!((out.delivered, out.attempts, out.status), (false, 2, None));
    assert_eq!(
        out.last_error.as_deref(),
        Some(
            format!("connection failed: could not connect to 127.0.0.1:{port}: connection refused")
                .as_str()
        )
    );
}

#[tokio::test]
async fn unusable_url_makes_no_attempt() {
    for url in ["", "ftp://127.0.0.1/x", "127.0.0.1:80/cb", "http://"] {
        let out = deliver(&client(), url, &payload(), None, DeliveryPolicy::default()).await;
        assert_eq!((out.delivered, out.attempts), (false, 0), "{url}");
    }
}
