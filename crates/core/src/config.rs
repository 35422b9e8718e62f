//! Client configuration: where the API is, who we are, how long to wait,
//! how to retry and how to reach the network (CA bundle, proxy). `Debug`
//! never shows the client secret nor a proxy's credentials.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use reqwest::Url;

use crate::error::{Error, Result};
pub use crate::transport::proxy::ProxyUrl;

/// The scopes requested when the caller names none (the contract's three).
pub const DEFAULT_SCOPES: [&str; 3] = ["audiences:read", "cdp:read", "webhooks:write"];

/// The one retry policy every request follows (see `crate::transport::retry`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RetryPolicy {
    /// Retries after the first attempt (so at most `max_retries + 1` attempts).
    pub max_retries: u32,
    /// First backoff, seconds; doubled per retry.
    pub backoff_base: f64,
    /// Longest backoff, seconds.
    pub backoff_max: f64,
    /// Longest `Retry-After` we honour, seconds.
    pub retry_after_cap: f64,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_retries: 3,
            backoff_base: 0.5,
            backoff_max: 8.0,
            retry_after_cap: 60.0,
        }
    }
}

/// How the client gets its access token.
///
/// - `ClientCredentials` (the default, the wire contract): `grant_type=client_credentials`
///   with `client_id`/`client_secret` (and the scopes) in the form body.
/// - `AccessKey` (documented CXone behaviour for back-end applications): an
///   OAuth password grant, `client_id:client_secret` as HTTP Basic and
///   `grant_type=password&username=<access key id>&password=<access key secret>`.
///   No scope is sent; the response also carries an `id_token`.
///
/// `Debug` never shows the access key secret.
#[derive(Clone, PartialEq, Eq, Default)]
pub enum AuthMode {
    #[default]
    ClientCredentials,
    AccessKey {
        access_key_id: String,
        access_key_secret: String,
    },
}

impl AuthMode {
    /// `"client_credentials"` or `"access_key"`.
    pub fn name(&self) -> &'static str {
        match self {
            AuthMode::ClientCredentials => "client_credentials",
            AuthMode::AccessKey { .. } => "access_key",
        }
    }
}

impl AuthMode {
    /// The mode named `name` (`None`: client credentials) with the access
    /// key given. Access key fields without `access_key` mode (or the mode
    /// without them) are a validation error, so nothing is silently ignored.
    pub fn parse(
        name: Option<&str>,
        access_key_id: Option<String>,
        access_key_secret: Option<String>,
    ) -> Result<AuthMode> {
        let norm = name.map(|n| n.trim().to_ascii_lowercase().replace('-', "_"));
        match norm.as_deref() {
            None | Some("client_credentials") => {
                if access_key_id.is_some() || access_key_secret.is_some() {
                    return Err(Error::validation(
                        "access_key_id / access_key_secret are only used with auth='access_key'",
                    ));
                }
                Ok(AuthMode::ClientCredentials)
            }
            Some("access_key") => match (access_key_id, access_key_secret) {
                (Some(id), Some(secret)) => Ok(AuthMode::AccessKey {
                    access_key_id: id,
                    access_key_secret: secret,
                }),
                (None, _) => Err(Error::validation("auth='access_key' needs access_key_id")),
                (_, None) => Err(Error::validation(
                    "auth='access_key' needs access_key_secret",
                )),
            },
            Some(_) => Err(Error::validation(format!(
                "auth must be 'client_credentials' or 'access_key', got {:?}",
                crate::error::excerpt(name.unwrap_or("").as_bytes(), 40)
            ))),
        }
    }
}

impl fmt::Debug for AuthMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AuthMode::ClientCredentials => f.write_str("ClientCredentials"),
            AuthMode::AccessKey { access_key_id, .. } => f
                .debug_struct("AccessKey")
                .field("access_key_id", access_key_id)
                .field("access_key_secret", &"<redacted>")
                .finish(),
        }
    }
}

/// Everything a `Client` needs.
#[derive(Clone)]
pub struct Config {
    /// API root, e.g. `https://api.example.com` (no trailing slash needed).
    pub base_url: String,
    /// Token endpoint; `{base_url}/oauth/token` when `None`.
    pub token_url: Option<String>,
    pub client_id: String,
    pub client_secret: String,
    pub scopes: Vec<String>,
    /// Whole-request timeout (the tutorial's 60 s).
    pub timeout: Duration,
    pub connect_timeout: Duration,
    pub retry: RetryPolicy,
    /// Pages (and count answers) kept in the response cache; 0 disables it.
    pub cache_size: usize,
    /// How long a cached answer is served; zero disables the cache.
    pub cache_ttl: Duration,
    /// Bound on the bytes the response cache holds (bodies and decoded
    /// pages; 0 disables the cache).
    pub cache_max_bytes: usize,
    /// Where completion callbacks go (listings made with a query id).
    pub webhook_url: Option<String>,
    /// Signs completion callbacks (`X-Signature-256`). Never shown.
    pub webhook_secret: Option<String>,
    /// Audit records are also appended (JSON Lines) to this file.
    pub audit_path: Option<PathBuf>,
    /// How the token is requested (client credentials by default).
    pub auth: AuthMode,
    /// OAuth issuer for discovery (`{issuer}/.well-known/...`). When set, a
    /// missing `token_url` is read from the issuer's OpenID configuration and
    /// an empty `base_url` from its CXone configuration (see `crate::auth::discovery`).
    pub issuer: Option<String>,
    /// A PEM file whose certificates are trusted in addition to the
    /// platform's roots (`SSL_CERT_FILE` still replaces those).
    pub ca_bundle: Option<PathBuf>,
    /// The proxy every call goes through; `None`: the standard
    /// `HTTPS_PROXY` / `HTTP_PROXY` / `NO_PROXY` variables decide (see
    /// `crate::transport::proxy`).
    pub proxy: Option<ProxyUrl>,
}

impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Config")
            .field("base_url", &self.base_url)
            .field("token_url", &self.token_url)
            .field("client_id", &self.client_id)
            .field("client_secret", &"<redacted>")
            .field("scopes", &self.scopes)
            .field("timeout", &self.timeout)
            .field("connect_timeout", &self.connect_timeout)
            .field("retry", &self.retry)
            .field("cache_size", &self.cache_size)
            .field("cache_ttl", &self.cache_ttl)
            .field("cache_max_bytes", &self.cache_max_bytes)
            .field("webhook_url", &self.webhook_url.as_deref().map(redact_url))
            .field(
                "webhook_secret",
                &self.webhook_secret.as_ref().map(|_| "<redacted>"),
            )
            .field("audit_path", &self.audit_path)
            .field("auth", &self.auth)
            .field("issuer", &self.issuer)
            .field("ca_bundle", &self.ca_bundle)
            .field("proxy", &self.proxy)
            .finish()
    }
}

impl Config {
    pub fn new(
        base_url: impl Into<String>,
        client_id: impl Into<String>,
        client_secret: impl Into<String>,
    ) -> Config {
        Config {
            base_url: base_url.into(),
            token_url: None,
            client_id: client_id.into(),
            client_secret: client_secret.into(),
            scopes: DEFAULT_SCOPES.iter().map(|s| s.to_string()).collect(),
            timeout: Duration::from_secs(60),
            connect_timeout: Duration::from_secs(10),
            retry: RetryPolicy::default(),
            cache_size: crate::cache::DEFAULT_CACHE_SIZE,
            cache_ttl: crate::cache::DEFAULT_CACHE_TTL,
            cache_max_bytes: crate::cache::DEFAULT_CACHE_BYTES,
            webhook_url: None,
            webhook_secret: None,
            audit_path: None,
            auth: AuthMode::ClientCredentials,
            issuer: None,
            ca_bundle: None,
            proxy: None,
        }
    }

    /// Reads `CXONE_CDP_BASE_URL`, `CXONE_CDP_TOKEN_URL` (optional),
    /// `CXONE_CDP_CLIENT_ID` and `CXONE_CDP_CLIENT_SECRET`, and the optional
    /// `CXONE_CDP_WEBHOOK_URL`, `CXONE_CDP_WEBHOOK_SECRET` and
    /// `CXONE_CDP_AUDIT_PATH`.
    /// `CXONE_CDP_CLIENT_ID` and `CXONE_CDP_CLIENT_SECRET`; also
    /// `CXONE_CDP_AUTH` (`client_credentials` | `access_key`),
    /// `CXONE_CDP_ACCESS_KEY_ID`, `CXONE_CDP_ACCESS_KEY_SECRET` and
    /// `CXONE_CDP_ISSUER` (with an issuer, the base URL may be left out and is
    /// then discovered), `CXONE_CDP_CA_BUNDLE` and `CXONE_CDP_PROXY`.
    pub fn from_env() -> Result<Config> {
        let get = |k: &str| std::env::var(k).ok().filter(|v| !v.trim().is_empty());
        let need = |k: &str| {
            get(k).ok_or_else(|| Error::validation(format!("environment variable {k} is not set")))
        };
        let issuer = get("CXONE_CDP_ISSUER");
        let base_url = match &issuer {
            Some(_) => get("CXONE_CDP_BASE_URL").unwrap_or_default(),
            None => need("CXONE_CDP_BASE_URL")?,
        };
        let mut c = Config::new(
            base_url,
            need("CXONE_CDP_CLIENT_ID")?,
            need("CXONE_CDP_CLIENT_SECRET")?,
        );
        c.token_url = get("CXONE_CDP_TOKEN_URL");
        c.webhook_url = get("CXONE_CDP_WEBHOOK_URL");
        c.webhook_secret = get("CXONE_CDP_WEBHOOK_SECRET");
        c.audit_path = get("CXONE_CDP_AUDIT_PATH").map(PathBuf::from);
        c.issuer = issuer;
        c.ca_bundle = get("CXONE_CDP_CA_BUNDLE").map(PathBuf::from);
        c.proxy = get("CXONE_CDP_PROXY")
            .map(|p| ProxyUrl::parse(&p))
            .transpose()?;
        c.auth = AuthMode::parse(
            get("CXONE_CDP_AUTH").as_deref(),
            get("CXONE_CDP_ACCESS_KEY_ID"),
            get("CXONE_CDP_ACCESS_KEY_SECRET"),
        )?;
        Ok(c)
    }

    /// `base_url` without a trailing slash.
    pub fn api_root(&self) -> &str {
        self.base_url.trim_end_matches('/')
    }

    /// The token endpoint in use.
    pub fn token_endpoint(&self) -> String {
        match &self.token_url {
            Some(u) => u.clone(),
            None => format!("{}/oauth/token", self.api_root()),
        }
    }

    /// Checks the settings (no network).
    pub fn check(&self) -> Result<()> {
        if self.base_url.is_empty() && self.issuer.is_some() {
            // Discovered from the issuer (crate::auth::discovery).
        } else if self.base_url.is_empty() {
            return Err(Error::validation(
                "base_url is empty (give base_url, or an issuer to discover it from)",
            ));
        } else {
            check_url("base_url", &self.base_url)?;
        }
        if let Some(t) = &self.token_url {
            check_url("token_url", t)?;
        }
        if let Some(w) = &self.webhook_url {
            // Checked without echoing it: it may carry credentials.
            if !(w.starts_with("http://") || w.starts_with("https://"))
                || w.chars().any(|c| c.is_whitespace() || c.is_control())
            {
                return Err(Error::validation(
                    "webhook_url must be an absolute http:// or https:// URL",
                ));
            }
        }
        if let Some(i) = &self.issuer {
            check_url("issuer", i)?;
        }
        if let AuthMode::AccessKey {
            access_key_id,
            access_key_secret,
        } = &self.auth
        {
            if access_key_id.is_empty() {
                return Err(Error::validation(
                    "auth='access_key' needs access_key_id (it is empty)",
                ));
            }
            if access_key_secret.is_empty() {
                return Err(Error::validation(
                    "auth='access_key' needs access_key_secret (it is empty)",
                ));
            }
            if self.token_url.is_none() && self.issuer.is_none() {
                return Err(Error::validation(
                    "auth='access_key' needs token_url or issuer (the CXone token endpoint \
                     is not on the API host; give the issuer to discover it)",
                ));
            }
        }
        if self.client_id.is_empty() {
            return Err(Error::validation("client_id is empty"));
        }
        if self.client_secret.is_empty() {
            return Err(Error::validation("client_secret is empty"));
        }
        if self
            .scopes
            .iter()
            .any(|s| s.is_empty() || s.contains(char::is_whitespace))
        {
            return Err(Error::validation(
                "scopes must be non-empty words without spaces",
            ));
        }
        for (name, d) in [
            ("timeout", self.timeout),
            ("connect_timeout", self.connect_timeout),
        ] {
            if d.is_zero() {
                return Err(Error::validation(format!("{name} must be positive")));
            }
        }
        let r = &self.retry;
        for (name, v) in [
            ("backoff_base", r.backoff_base),
            ("backoff_max", r.backoff_max),
            ("retry_after_cap", r.retry_after_cap),
        ] {
            if !v.is_finite() || v < 0.0 {
                return Err(Error::validation(format!(
                    "{name} must be a finite number >= 0"
                )));
            }
        }
        if let Some(bundle) = &self.ca_bundle {
            crate::transport::tls::check_ca_bundle(bundle)?;
        }
        Ok(())
    }
}

/// Longest URL accepted in the configuration (the HTTP stack refuses URIs
/// past 64 KiB only when a request is built; refuse far earlier).
pub const MAX_URL_LEN: usize = 8 * 1024;

fn check_url(name: &str, url: &str) -> Result<()> {
    let ok = (url.starts_with("http://") || url.starts_with("https://"))
        && url.len() > "https://".len() - 1
        && url.len() <= MAX_URL_LEN
        && !url.chars().any(|c| c.is_whitespace() || c.is_control())
        && Url::parse(url).is_ok_and(|u| u.host_str().is_some_and(|h| !h.is_empty()));
    if ok {
        Ok(())
    } else {
        Err(Error::validation(format!(
            "{name} must be an http:// or https:// URL, got {:?}",
            crate::error::excerpt(url.as_bytes(), 80)
        )))
    }
}

/// The URL as it may appear in logs and messages: scheme, host, port and
/// path only (user info, query and fragment dropped). Unparseable input gives
/// a placeholder, never the input.
pub fn redact_url(url: &str) -> String {
    match Url::parse(url) {
        Ok(mut u) => {
            let _ = u.set_username("");
            let _ = u.set_password(None);
            u.set_query(None);
            u.set_fragment(None);
            u.to_string()
        }
        Err(_) => "<invalid url>".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_hides_secret_and_token_url_defaults() {
        let c = Config::new("http://h:1/", "id", "s3cr3t-value");
        assert!(!format!("{c:?}").contains("s3cr3t"));
        let mut w = c.clone();
        w.webhook_url = Some("https://u:pw@hooks.example.com/cb?k=v".into());
        w.webhook_secret = Some("hook-signing-key".into());
        let dbg = format!("{w:?}");
        assert!(!dbg.contains("hook-signing-key") && !dbg.contains("pw@") && !dbg.contains("k=v"));
        assert!(w.check().is_ok());
        w.webhook_url = Some("ftp://x".into());
        assert!(w.check().is_err());
        for url in [
            format!("http://{}", "a".repeat(MAX_URL_LEN)),
            "http://".into(),
            "http://:80/".into(),
            "http://[::1/".into(),
        ] {
            let mut b = c.clone();
            b.base_url = url;
            assert!(b.check().is_err(), "{:.40}", b.base_url);
        }
        assert_eq!((c.cache_size, c.cache_ttl.as_secs()), (50, 120));
        assert_eq!(c.token_endpoint(), "http://h:1/oauth/token");
        assert!(c.check().is_ok());
        let mut bad = c.clone();
        bad.base_url = "ftp://x".into();
        assert!(bad.check().is_err());
    }

    #[test]
    fn network_settings_are_checked_and_never_show_credentials() {
        let mut c = Config::new("https://h", "id", "s");
        c.ca_bundle = Some(PathBuf::from("/no/such/ca.pem"));
        let e = c.check().unwrap_err();
        assert!(
            e.message
                .starts_with("ca_bundle \"/no/such/ca.pem\": no such file"),
            "{e}"
        );
        c.ca_bundle = None;
        c.proxy = Some(ProxyUrl::parse("http://bob:hunter2@proxy.corp:8080").unwrap());
        assert!(c.check().is_ok());
        let dbg = format!("{c:?}");
        assert!(
            dbg.contains("http://proxy.corp:8080") && !dbg.contains("hunter2"),
            "{dbg}"
        );
        assert!(!dbg.contains("bob"), "{dbg}");
    }
}
