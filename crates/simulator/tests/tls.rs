//! The simulator over HTTPS: a client that trusts the throwaway CA gets the
//! whole listing; one that does not is refused in the handshake (counted, and
//! not retried); plain HTTP on the port fails the handshake; the fault
//! switches still act; the CA file lives exactly as long as the simulator.

mod common;

use std::time::{Duration, Instant};

use common::{client, client_trusting, get, ragged, token, token_request, walk};
use cxone_cdp_simulator::{SimConfig, Simulator, Stats, AUDIENCE_ID};

fn https(cfg: SimConfig) -> SimConfig {
    SimConfig { tls: true, ..cfg }
}

fn small() -> SimConfig {
    https(SimConfig {
        members: 50,
        ..SimConfig::default()
    })
}

/// The counters once `done` holds of them (the server counts a failed
/// handshake when it sees the client's alert or close, which may be a moment
/// after the client has given up). Panics with the last counters after 10 s.
async fn stats_when(sim: &Simulator, done: impl Fn(&Stats) -> bool) -> Stats {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let s = sim.stats();
        if done(&s) {
            return s;
        }
        assert!(Instant::now() < deadline, "counters never settled: {s:?}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_trusting_the_ca_gets_the_whole_listing() {
    let sim = Simulator::start(https(ragged()), 0).await.unwrap();
    let base = format!("https://127.0.0.1:{}", sim.port());
    assert_eq!(sim.base_url(), base);
    assert_eq!(sim.token_url(), format!("{base}/oauth/token"));
    assert_eq!(sim.issuer(), base);
    let c = client_trusting(&sim);
    let tok = token(&c, &sim).await;
    let w = walk(&c, &sim, &tok, "city=Rock & Roll", 30).await;
    assert!(w.items.len() > 30, "several pages");
    let s = sim.stats();
    assert!(s.tls_handshakes >= 1 && s.connections >= s.tls_handshakes);
    assert_eq!(s.tls_handshake_failures, 0);
    // A restart serves HTTPS again, with the same certificate.
    let url = w.second_page_url();
    let before = get(&c, &url, &tok).await;
    sim.restart();
    assert_eq!(get(&client_trusting(&sim), &url, &tok).await, before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_default_client_is_refused_once_in_the_handshake() {
    let sim = Simulator::start(small(), 0).await.unwrap();
    let err = token_request(&client(), &sim).send().await.unwrap_err();
    assert!(err.status().is_none() && err.is_connect(), "{err:?}");
    let chain = format!("{err:?}");
    assert!(chain.contains("UnknownIssuer"), "{chain}");
    let s = stats_when(&sim, |s| s.tls_handshake_failures > 0).await;
    // One connection, its handshake refused, no request ever read.
    assert_eq!(
        (s.connections, s.tls_handshakes, s.tls_handshake_failures),
        (1, 0, 1)
    );
    assert_eq!((s.token_requests, s.api_requests), (0, 0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plain_http_on_the_https_port_fails_the_handshake() {
    let sim = Simulator::start(small(), 0).await.unwrap();
    let url = format!("http://127.0.0.1:{}/oauth/token", sim.port());
    let r = client().post(&url).body("x").send().await;
    // Whatever the client makes of the alert, it is not a token.
    if let Ok(r) = r {
        assert_ne!(r.status(), 200);
    }
    let s = stats_when(&sim, |s| s.tls_handshake_failures == 1).await;
    assert_eq!((s.tls_handshakes, s.token_requests), (0, 0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fault_switches_act_over_tls() {
    let sim = Simulator::start(small(), 0).await.unwrap();
    let c = client_trusting(&sim);
    let tok = token(&c, &sim).await;
    let members = format!(
        "{}/api/v2/audiences/{AUDIENCE_ID}/members?limit=10",
        sim.base_url()
    );

    sim.set_faults(SimConfig {
        drop_every: Some(1),
        ..SimConfig::default()
    });
    assert!(sim.config().tls, "HTTPS is fixed at start, like the data");
    let err = c.get(&members).bearer_auth(&tok).send().await.unwrap_err();
    assert!(err.status().is_none(), "no HTTP response at all: {err}");
    assert_eq!(sim.stats().dropped_connections, 1);

    sim.set_faults(SimConfig {
        truncated_every: Some(1),
        ..SimConfig::default()
    });
    let r = c.get(&members).bearer_auth(&tok).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let body = r.bytes().await.unwrap();
    assert!(!body.is_empty());
    assert!(serde_json::from_slice::<serde_json::Value>(&body).is_err());

    sim.set_faults(SimConfig {
        rate_limit_every: Some(1),
        retry_after_secs: 7,
        ..SimConfig::default()
    });
    let r = c.get(&members).bearer_auth(&tok).send().await.unwrap();
    assert_eq!(r.status(), 429);
    assert_eq!(r.headers()["retry-after"], "7");

    sim.set_faults(SimConfig {
        latency: Some(Duration::from_millis(20)),
        ..SimConfig::default()
    });
    let (status, doc) = get(&c, &members, &tok).await;
    assert_eq!((status, doc["items"].as_array().unwrap().len()), (200, 10));
    assert_eq!(sim.stats().tls_handshake_failures, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn discovery_names_https_endpoints() {
    let sim = Simulator::start(small(), 0).await.unwrap();
    let c = client_trusting(&sim);
    let url = format!("{}/.well-known/openid-configuration", sim.issuer());
    let body = c.get(&url).send().await.unwrap().bytes().await.unwrap();
    let doc: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(doc["issuer"], sim.base_url());
    assert_eq!(doc["token_endpoint"], sim.auth_token_url());
    assert!(sim.auth_token_url().starts_with("https://"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_simulator_has_its_own_ca_file_removed_on_shutdown() {
    let a = Simulator::start(small(), 0).await.unwrap();
    let b = Simulator::start(small(), 0).await.unwrap();
    let path = a.ca_path().unwrap().to_path_buf();
    let pem = std::fs::read_to_string(&path).unwrap();
    assert_eq!(Some(pem.as_str()), a.ca_pem());
    assert!(pem.starts_with("-----BEGIN CERTIFICATE-----"), "{pem}");
    assert!(!pem.contains("PRIVATE KEY"));
    assert_ne!(a.ca_pem(), b.ca_pem(), "a throwaway CA per simulator");
    assert_ne!(a.ca_path(), b.ca_path());
    // Trusting one simulator's CA does not make another trusted.
    let err = client_trusting(&a)
        .get(format!("{}/.well-known/openid-configuration", b.issuer()))
        .send()
        .await
        .unwrap_err();
    assert!(err.is_connect(), "{err:?}");
    a.shutdown();
    assert!(!path.exists(), "the CA file goes with the simulator");
    assert!(b.ca_path().unwrap().exists());
    let b_path = b.ca_path().unwrap().to_path_buf();
    drop(b);
    assert!(!b_path.exists(), "dropping removes it too");
}
