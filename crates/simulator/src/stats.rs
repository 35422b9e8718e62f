//! Request counters and the things tests inspect (callbacks, webhooks).

use std::collections::BTreeMap;

use serde::Serialize;

/// Counters since start (or the last `reset()`).
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct Stats {
    /// Requests to the token endpoint.
    pub token_requests: u64,
    /// Token endpoint answers by status ("200", "401", ...).
    pub token_by_status: BTreeMap<String, u64>,
    /// Requests under `/api/` (the calls the fault counters count).
    pub api_requests: u64,
    /// API requests by endpoint: `attributes`, `count`, `members`, `webhooks`, `other`.
    pub by_endpoint: BTreeMap<String, u64>,
    /// API answers by status ("200", "429", ...).
    pub by_status: BTreeMap<String, u64>,
    /// API calls answered by closing the connection (the drop fault).
    pub dropped_connections: u64,
    /// Members pages rendered, and served from the page cache.
    pub pages_rendered: u64,
    pub page_cache_hits: u64,
    /// Completion callbacks received at `/_sim/callbacks`.
    pub callbacks: u64,
    /// Token requests by grant type (`client_credentials`, `password`, ...)
    /// and by path (`/oauth/token`, `/auth/token`).
    pub token_by_grant: BTreeMap<String, u64>,
    pub token_by_path: BTreeMap<String, u64>,
    /// Discovery document requests: `openid-configuration`, `cxone-configuration`.
    pub well_known: BTreeMap<String, u64>,
    /// TCP connections accepted (HTTP or HTTPS).
    pub connections: u64,
    /// HTTPS only: TLS handshakes completed, and handshakes that failed (the
    /// client refused the certificate, spoke plain HTTP, or stalled). A
    /// client that does not retry a refused certificate leaves one failure.
    pub tls_handshakes: u64,
    pub tls_handshake_failures: u64,
}

impl Stats {
    pub fn api(&mut self, endpoint: &str, status: u16) {
        *self.by_endpoint.entry(endpoint.to_string()).or_default() += 1;
        *self.by_status.entry(status.to_string()).or_default() += 1;
    }

    pub fn token(&mut self, status: u16) {
        *self.token_by_status.entry(status.to_string()).or_default() += 1;
    }
}

/// A completion callback as received: lower-cased headers (repeated headers
/// joined with ", ") and the raw body.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Callback {
    pub headers: BTreeMap<String, String>,
    pub body: Vec<u8>,
}
