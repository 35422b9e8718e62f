//! Which API root and token endpoint the client uses: `base_url` and
//! `token_url` when given, else discovered from the issuer
//! (`crate::auth::discovery`, through the token manager) and cached for the
//! client's life.

use super::Client;
use crate::error::{Error, Result};

impl Client {
    /// The API root in use, without a trailing slash: `base_url`, or the
    /// discovered `api_endpoint` ("" while discovery has not run yet).
    pub fn api_root(&self) -> &str {
        let root = self.inner.config.api_root();
        if !root.is_empty() {
            return root;
        }
        self.inner
            .http
            .auth
            .discovery()
            .and_then(|d| d.api_cached())
            .map_or("", |c| c.api_endpoint.trim_end_matches('/'))
    }

    /// The API base URL: `base_url`, or the discovered one (`None` until
    /// discovery ran).
    pub fn base_url(&self) -> Option<String> {
        Some(self.api_root().to_string()).filter(|s| !s.is_empty())
    }

    /// The auth mode: `"client_credentials"` or `"access_key"`.
    pub fn auth_mode(&self) -> &'static str {
        self.inner.http.auth.mode()
    }

    /// The area from discovery (the CXone configuration, else the id_token).
    pub fn area(&self) -> Option<String> {
        let auth = &self.inner.http.auth;
        auth.discovery()
            .and_then(|d| d.api_cached())
            .and_then(|c| c.area.clone())
            .or_else(|| auth.id_claims().and_then(|c| c.ok()).and_then(|c| c.area))
    }

    /// The token endpoint in use (discovered from the issuer if needed).
    pub async fn token_endpoint(&self) -> Result<String> {
        self.inner.http.auth.token_endpoint().await
    }

    /// Runs discovery now rather than on first use: the token endpoint (unless
    /// `token_url` was given) and, when `base_url` is empty, the API endpoint
    /// (after a first token, whose id_token names the tenant). Cached for the
    /// client's life; cheap once done. Without an issuer there is nothing to do.
    pub async fn discover(&self) -> Result<()> {
        let auth = &self.inner.http.auth;
        let Some(d) = auth.discovery() else {
            return self.ensure_api().await;
        };
        if self.inner.config.token_url.is_none() {
            d.token_endpoint().await?;
        }
        self.ensure_api().await
    }

    /// Makes sure the API root is known (discovering it if `base_url` is empty).
    pub(super) async fn ensure_api(&self) -> Result<()> {
        if !self.inner.config.base_url.is_empty() {
            return Ok(());
        }
        let auth = &self.inner.http.auth;
        let d = auth.discovery().ok_or_else(|| {
            Error::validation("base_url is empty and no issuer is configured to discover it")
        })?;
        if d.api_cached().is_none() {
            d.api(|| auth.tenant_id()).await?;
        }
        Ok(())
    }
}
