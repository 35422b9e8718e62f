//! The simulator over plain HTTP, end to end with reqwest: a faulty walk,
//! restart, and the drop fault.

mod common;

use common::{client, get, ragged, token, walk};
use cxone_cdp_simulator::{SimConfig, Simulator};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn walks_with_short_and_empty_pages_and_survives_restart() {
    let sim = Simulator::start(ragged(), 0).await.unwrap();
    assert!(sim.base_url().starts_with("http://127.0.0.1:"));
    assert!(sim.ca_path().is_none() && sim.ca_pem().is_none());
    let c = client();
    let tok = token(&c, &sim).await;
    let w = walk(&c, &sim, &tok, "lifetime_value>1000", 40).await;
    // Stateless cursors survive a restart.
    let url = w.second_page_url();
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
