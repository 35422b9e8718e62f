//! The simulator over plain HTTP, end to end with reqwest: a faulty walk,
//! restart, and the drop fault.

mod common;

use common::{client, get, token, walk};
use cxone_cdp_simulator::{SimConfig, Simulator, AUDIENCE_ID};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn walks_with_short_and_empty_pages_and_survives_restart() {
    let cfg = SimConfig {
        members: 1_000,
        short_pages: true,
        empty_page_every: Some(3),
        ..SimConfig::default()
    };
    let sim = Simulator::start(cfg, 0).await.unwrap();
    assert!(sim.base_url().starts_with("http://127.0.0.1:"));
    assert!(sim.ca_path().is_none() && sim.ca_pem().is_none());
    let c = client();
    let tok = token(&c, &sim).await;
    let w = walk(&c, &sim, &tok, AUDIENCE_ID, "lifetime_value>1000", 40).await;
    let want = sim
        .expected_members(AUDIENCE_ID, &["lifetime_value>1000"])
        .unwrap();
    assert!(!want.is_empty());
    assert_eq!(w.items, want);
    // Stateless cursors survive a restart.
    let url = format!(
        "{}&cursor={}",
        w.base,
        common::encode(&w.first_cursor.unwrap())
    );
    let before = get(&c, &url, &tok).await;
    sim.restart();
    // A new connection (a pooled one was closed by the restart).
    let after = get(&client(), &url, &tok).await;
    assert_eq!(before, after);
    let s = sim.stats();
    assert!(s.pages_rendered > 0);
    assert!(s.connections >= 2, "one before the restart, one after");
    assert_eq!((s.tls_handshakes, s.tls_handshake_failures), (0, 0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropped_connection_is_a_transport_error() {
    let cfg = SimConfig {
        members: 10,
        drop_every: Some(1),
        ..SimConfig::default()
    };
    let sim = Simulator::start(cfg, 0).await.unwrap();
    let c = client();
    let tok = token(&c, &sim).await;
    let url = format!("{}/api/v2/cdp/attributes", sim.base_url());
    let err = c.get(&url).bearer_auth(&tok).send().await.unwrap_err();
    assert!(err.status().is_none(), "no HTTP response at all: {err}");
    assert_eq!(sim.stats().dropped_connections, 1);
}
