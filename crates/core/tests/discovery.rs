//! Discovery and both auth modes against the embedded simulator.

mod common;

use common::concurrent;
use cxone_cdp_core::api::{Client, Query};
use cxone_cdp_core::config::{AuthMode, Config};
use cxone_cdp_core::error::ErrorKind;
use cxone_cdp_simulator::{SimConfig, Simulator, AUDIENCE_ID};
use std::time::Duration;

fn access_key() -> AuthMode {
    AuthMode::AccessKey {
        access_key_id: "sim-key".into(),
        access_key_secret: "sim-key-secret".into(),
    }
}

fn discovering(sim: &Simulator, auth: AuthMode) -> Config {
    let mut c = Config::new("", "sim-client", "sim-secret");
    c.issuer = Some(sim.issuer());
    c.auth = auth;
    c.retry.backoff_base = 0.01;
    c.retry.backoff_max = 0.02;
    c
}

async fn sim(cfg: SimConfig) -> Simulator {
    Simulator::start(cfg, 0).await.unwrap()
}

fn small() -> SimConfig {
    SimConfig {
        members: 250,
        ..SimConfig::default()
    }
}

fn ids(v: &[serde_json::Value]) -> Vec<String> {
    v.iter().map(|m| m["memberId"].to_string()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn discovery_then_listing_in_both_modes() {
    for auth in [AuthMode::ClientCredentials, access_key()] {
        let sim = sim(small()).await;
        let client = Client::new(discovering(&sim, auth.clone())).unwrap();
        assert_eq!(client.base_url(), None);
        let got = client
            .members(Query::new(AUDIENCE_ID, vec![], 100))
            .await
            .unwrap();
        let want = sim.expected_members(AUDIENCE_ID, &[]).unwrap();
        let got: Vec<serde_json::Value> = got.iter().map(|m| m.to_value()).collect();
        assert_eq!(ids(&got), ids(&want));
        assert_eq!(client.base_url(), Some(sim.base_url()));
        assert_eq!(client.area().as_deref(), Some("sim1"));
        let s = sim.stats();
        assert_eq!(s.well_known.get("openid-configuration"), Some(&1));
        assert_eq!(s.well_known.get("cxone-configuration"), Some(&1));
        assert_eq!(s.token_requests, 1);
        assert_eq!(s.token_by_path.get("/auth/token"), Some(&1));
        let grant = if auth == AuthMode::ClientCredentials {
            "client_credentials"
        } else {
            "password"
        };
        assert_eq!(s.token_by_grant.get(grant), Some(&1), "{auth:?}");
        // Cached for the client's life.
        client.count(AUDIENCE_ID, &[]).await.unwrap();
        client.discover().await.unwrap();
        assert_eq!(sim.stats().well_known, s.well_known);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_access_key_is_one_token_request() {
    let sim = sim(small()).await;
    let mut c = discovering(&sim, access_key());
    c.auth = AuthMode::AccessKey {
        access_key_id: "sim-key".into(),
        access_key_secret: "wrong-key-secret-xyz".into(),
    };
    let e = Client::new(c).unwrap().discover().await.unwrap_err();
    assert_eq!(e.kind, ErrorKind::Authentication);
    assert_eq!(e.code.as_deref(), Some("invalid_grant"));
    assert!(!format!("{e:?}{e}").contains("wrong-key-secret"));
    assert_eq!(sim.stats().token_requests, 1);
    // Wrong client secret: invalid_client, also not retried.
    let mut c = discovering(&sim, access_key());
    c.client_secret = "nope-secret".into();
    let e = Client::new(c).unwrap().discover().await.unwrap_err();
    assert_eq!(
        (e.kind, e.code.as_deref()),
        (ErrorKind::Authentication, Some("invalid_client"))
    );
    assert_eq!(sim.stats().token_requests, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broken_documents_are_discovery_errors() {
    for (fault, needle) in [
        ("missing_field", "has no token_endpoint"),
        ("not_json", "is not JSON"),
        ("404", "HTTP 404"),
        ("cxone:missing_field", "has no api_endpoint"),
        ("cxone:not_json", "is not JSON"),
        ("bad_id_token", "id_token"),
    ] {
        let sim = sim(SimConfig {
            broken_discovery: Some(fault.into()),
            ..small()
        })
        .await;
        let client = Client::new(discovering(&sim, access_key())).unwrap();
        let e = client.count(AUDIENCE_ID, &[]).await.expect_err(fault);
        assert_eq!(e.kind, ErrorKind::Discovery, "{fault}: {e}");
        assert!(e.to_string().contains(needle), "{fault}: {e}");
        assert_eq!(sim.stats().api_requests, 0, "{fault}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn explicit_urls_win() {
    let sim = sim(small()).await;
    // Both given: no discovery request at all.
    let mut c = discovering(&sim, access_key());
    c.base_url = sim.base_url();
    c.token_url = Some(sim.auth_token_url());
    let client = Client::new(c).unwrap();
    client.discover().await.unwrap();
    assert_eq!(client.count(AUDIENCE_ID, &[]).await.unwrap(), 250);
    assert!(sim.stats().well_known.is_empty());
    // A malformed id_token does not matter when the tenant is not needed.
    sim.set_faults(SimConfig {
        broken_discovery: Some("bad_id_token".into()),
        ..small()
    });
    sim.reset();
    let mut c = discovering(&sim, access_key());
    c.base_url = sim.base_url();
    let client = Client::new(c).unwrap();
    assert_eq!(client.count(AUDIENCE_ID, &[]).await.unwrap(), 250);
    let s = sim.stats();
    assert_eq!(s.well_known.get("openid-configuration"), Some(&1));
    assert_eq!(s.well_known.get("cxone-configuration"), None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refresh_and_replay_in_access_key_mode() {
    let sim = sim(SimConfig {
        revoke_after: Some(Duration::from_millis(300)),
        ..small()
    })
    .await;
    let mut c = discovering(&sim, access_key());
    c.cache_size = 0; // every count must reach the server
    let client = Client::new(c).unwrap();
    assert_eq!(client.count(AUDIENCE_ID, &[]).await.unwrap(), 250);
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(client.count(AUDIENCE_ID, &[]).await.unwrap(), 250);
    assert_eq!(client.metrics_snapshot().auth_replays, 1);
    let s = sim.stats();
    assert_eq!(s.token_by_grant.get("password"), Some(&2));
    assert_eq!(s.well_known.get("cxone-configuration"), Some(&1));
    // Single flight: many concurrent callers after a revocation, one refresh.
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(concurrent::counts(&client, 8, AUDIENCE_ID).await, [250; 8]);
    assert_eq!(sim.stats().token_by_grant.get("password"), Some(&3));
}
