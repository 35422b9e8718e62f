//! The simulator's configuration: data size, credentials, HTTPS and fault switches.

use std::time::Duration;

/// Everything a simulator can be told. `Default` is 10,000 members, the
/// default credentials and no faults. "Every n-th API call" counts every
/// request under `/api/` on one global counter (the token endpoint is separate).
#[derive(Clone, Debug, PartialEq)]
pub struct SimConfig {
    pub members: usize,
    pub client_id: String,
    pub client_secret: String,
    /// `expires_in` of issued tokens; they answer 401 after it.
    pub token_lifetime: Duration,
    /// Tokens answer 401 this long after issue (early revocation).
    pub revoke_after: Option<Duration>,
    /// Slow token endpoint.
    pub token_delay: Option<Duration>,
    /// 429 + Retry-After every n-th API call.
    pub rate_limit_every: Option<u64>,
    pub retry_after_secs: u64,
    /// 503 every n-th API call.
    pub unavailable_every: Option<u64>,
    /// Added to every API call.
    pub latency: Option<Duration>,
    /// Every n-th members page (n >= 2; 1 counts as 2) is empty but carries a new, distinct cursor.
    pub empty_page_every: Option<u64>,
    /// Pages shorter than the limit (varying) while a cursor is set.
    pub short_pages: bool,
    /// Close the connection without a response every n-th API call.
    pub drop_every: Option<u64>,
    /// Misbehave: from page n on, hand back the cursor of page 1 (already followed).
    pub repeat_cursor_after: Option<u64>,
    /// 502 with an HTML body every n-th API call.
    pub html_502_every: Option<u64>,
    /// 200 with a truncated JSON body every n-th members call.
    pub truncated_every: Option<u64>,
    /// Access key for the CXone password grant at `POST /auth/token`
    /// (with `client_id`/`client_secret` as HTTP Basic).
    pub access_key_id: String,
    pub access_key_secret: String,
    /// Tenant named by the id_token and served by
    /// `/.well-known/cxone-configuration?tenantId=...`.
    pub tenant_id: String,
    /// Area in the id_token and the CXone configuration.
    pub area: String,
    /// Serve broken discovery: `"missing_field"`, `"not_json"` or `"404"`
    /// (both well-known documents, or one with an `"openid:"` / `"cxone:"`
    /// prefix), or `"bad_id_token"` (tokens from `/auth/token` carry a
    /// malformed id_token).
    pub broken_discovery: Option<String>,
    /// Data, fixed at start: every n-th member (1-based) has no
    /// `lifetime_value` (absent from its attributes; it matches no filter on it).
    pub missing_attribute_every: Option<u64>,
    /// Serve HTTPS (fixed at start): a throwaway CA made at start signs a
    /// certificate for `127.0.0.1` and `localhost`; the URLs become
    /// `https://127.0.0.1:<port>` and `Simulator::ca_path` names the CA's PEM
    /// file (removed on shutdown) for the client's trust store.
    pub tls: bool,
}

/// The values `broken_discovery` accepts (each also with an `openid:` or
/// `cxone:` prefix, except `bad_id_token`).
pub const BROKEN_DISCOVERY: [&str; 4] = ["missing_field", "not_json", "404", "bad_id_token"];

/// Is `v` a valid `broken_discovery` value?
pub fn valid_broken_discovery(v: &str) -> bool {
    match v.split_once(':') {
        Some(("openid" | "cxone", k)) => k != "bad_id_token" && BROKEN_DISCOVERY.contains(&k),
        Some(_) => false,
        None => BROKEN_DISCOVERY.contains(&v),
    }
}

impl Default for SimConfig {
    fn default() -> Self {
        SimConfig {
            members: 10_000,
            client_id: "sim-client".into(),
            client_secret: "sim-secret".into(),
            token_lifetime: Duration::from_secs(3600),
            revoke_after: None,
            token_delay: None,
            rate_limit_every: None,
            retry_after_secs: 1,
            unavailable_every: None,
            latency: None,
            empty_page_every: None,
            short_pages: false,
            drop_every: None,
            repeat_cursor_after: None,
            html_502_every: None,
            truncated_every: None,
            access_key_id: "sim-key".into(),
            access_key_secret: "sim-key-secret".into(),
            tenant_id: "11111111-2222-4333-8444-555555555555".into(),
            area: "sim1".into(),
            broken_discovery: None,
            missing_attribute_every: None,
            tls: false,
        }
    }
}

/// Is call number `n` (1-based) one that an `every` switch hits?
pub fn hits(every: Option<u64>, n: u64) -> bool {
    matches!(every, Some(k) if k > 0 && n.is_multiple_of(k))
}
