//! Helpers shared by the simulator's integration tests: a reqwest client
//! (plain, or trusting a simulator's throwaway CA), the token request, a
//! ragged data set and a full cursor walk of a members listing.

#![allow(dead_code)] // each test binary uses its own share of these

use std::collections::HashSet;

use cxone_cdp_simulator::{SimConfig, Simulator, AUDIENCE_ID};

pub fn encode(s: &str) -> String {
    percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC).to_string()
}

fn provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// A default reqwest client: system trust roots only.
pub fn client() -> reqwest::Client {
    provider();
    reqwest::Client::new()
}

/// A reqwest client that also trusts the simulator's CA, read from its PEM file.
pub fn client_trusting(sim: &Simulator) -> reqwest::Client {
    provider();
    let path = sim.ca_path().expect("an HTTPS simulator");
    let pem = std::fs::read(path).expect("the CA file exists while the simulator runs");
    let ca = reqwest::Certificate::from_pem(&pem).expect("the CA file is PEM");
    reqwest::Client::builder()
        .tls_certs_only([ca])
        .build()
        .expect("client with the simulator's CA")
}

/// The simulator's client-credentials token request, not yet sent.
pub fn token_request(c: &reqwest::Client, sim: &Simulator) -> reqwest::RequestBuilder {
    c.post(sim.token_url())
        .header("content-type", "application/x-www-form-urlencoded")
        .body("grant_type=client_credentials&client_id=sim-client&client_secret=sim-secret")
}

pub async fn token(c: &reqwest::Client, sim: &Simulator) -> String {
    let r = token_request(c, sim).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let v: serde_json::Value = serde_json::from_slice(&r.bytes().await.unwrap()).unwrap();
    v["access_token"].as_str().unwrap().to_string()
}

pub async fn get(c: &reqwest::Client, url: &str, tok: &str) -> (u16, serde_json::Value) {
    let r = c.get(url).bearer_auth(tok).send().await.unwrap();
    let s = r.status().as_u16();
    (
        s,
        serde_json::from_slice(&r.bytes().await.unwrap()).unwrap(),
    )
}

/// 1,000 members served in short pages with an empty page every third.
pub fn ragged() -> SimConfig {
    SimConfig {
        members: 1_000,
        short_pages: true,
        empty_page_every: Some(3),
        ..SimConfig::default()
    }
}

/// A whole listing: every page from the first to `nextPageToken: null`.
pub struct Walk {
    /// The members in listing order.
    pub items: Vec<serde_json::Value>,
    /// The first cursor handed out (if any), and the first page's URL.
    pub first_cursor: Option<String>,
    pub base: String,
}

impl Walk {
    /// The URL of the page after the first: the first cursor on the first
    /// page's URL.
    pub fn second_page_url(&self) -> String {
        let cursor = self.first_cursor.as_deref().expect("more than one page");
        format!("{}&cursor={}", self.base, encode(cursor))
    }
}

/// Walks [`AUDIENCE_ID`] under one decoded wire filter, with `limit`,
/// asserting that every page is a 200, no cursor repeats and the members are
/// the simulator's expected ones for that filter, and not none.
pub async fn walk(
    c: &reqwest::Client,
    sim: &Simulator,
    tok: &str,
    filter: &str,
    limit: u32,
) -> Walk {
    let base = format!(
        "{}/api/v2/audiences/{AUDIENCE_ID}/members?limit={limit}&filter={}",
        sim.base_url(),
        encode(filter)
    );
    let mut items = Vec::new();
    let mut cursors = HashSet::new();
    let mut url = base.clone();
    let mut first_cursor = None;
    loop {
        let (s, doc) = get(c, &url, tok).await;
        assert_eq!(s, 200, "{doc}");
        items.extend(doc["items"].as_array().unwrap().iter().cloned());
        let Some(next) = doc["nextPageToken"].as_str() else {
            break;
        };
        assert!(cursors.insert(next.to_string()), "cursor repeated");
        first_cursor.get_or_insert_with(|| next.to_string());
        url = format!("{base}&cursor={}", encode(next));
    }
    let want = sim.expected_members(AUDIENCE_ID, &[filter]).unwrap();
    assert!(!want.is_empty(), "{filter} selects some members");
    assert_eq!(items, want, "{filter}");
    Walk {
        items,
        first_cursor,
        base,
    }
}
