//! Authorised API requests: a bearer token from the token manager, the one
//! retry loop, and the single 401 refresh-and-replay. Every attempt is
//! counted in the client's one `crate::metrics::Metrics` (requests, retries,
//! 429s, bytes, tokens, 401 replays): there is no second set of counters.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use bytes::Bytes;
use reqwest::header::{HeaderValue, ACCEPT, AUTHORIZATION, CONTENT_TYPE};
use reqwest::Method;

use crate::auth::TokenManager;
use crate::config::RetryPolicy;
use crate::error::{Error, ErrorKind, Result};
use crate::metrics::Metrics;
use crate::transport::retry::{self, Failure};
use crate::transport::{api_error, send_once, Answer, Body};

/// Authorised API requests through the one retry loop.
#[derive(Debug)]
pub struct Session {
    pub client: reqwest::Client,
    pub policy: RetryPolicy,
    pub metrics: Arc<Metrics>,
    pub auth: Arc<TokenManager>,
}

impl Session {
    /// Sends `method url` with a bearer token, retrying per the policy; on a
    /// 401 fetches a new token once and replays once. `parse` turns a 2xx body
    /// into the result; when it fails the answer counts as a server fault.
    pub async fn send<T>(
        &self,
        method: Method,
        url: &str,
        body: Option<Body>,
        parse: impl Fn(&[u8]) -> Result<T>,
    ) -> Result<T> {
        self.send_keep_body(method, url, body, parse)
            .await
            .map(|(v, _)| v)
    }

    /// As [`Session::send`], also returning the raw 2xx body that parsed (a
    /// reference-counted handle, no copy), for the response cache.
    pub async fn send_keep_body<T>(
        &self,
        method: Method,
        url: &str,
        body: Option<Body>,
        parse: impl Fn(&[u8]) -> Result<T>,
    ) -> Result<(T, Bytes)> {
        let replayed = AtomicBool::new(false);
        let parse = &parse;
        let body = &body;
        let replayed = &replayed;
        retry::run(&self.policy, &*self.metrics, |_attempt| {
            let method = method.clone();
            async move {
                let token = self.auth.token().await.map_err(Failure::fatal)?;
                let mut answer = self.send_with(&method, url, body, &token.value).await?;
                if answer.status == 401 && !replayed.swap(true, Ordering::SeqCst) {
                    log::debug!(target: "cxone_cdp", "401 from the API: fetching a new token and replaying once");
                    self.auth.invalidate(token.generation).await;
                    let token = self.auth.token().await.map_err(Failure::fatal)?;
                    self.metrics.add_auth_replay();
                    answer = self.send_with(&method, url, body, &token.value).await?;
                }
                if (200..300).contains(&answer.status) {
                    let value = parse(&answer.body).map_err(Failure::from)?;
                    return Ok((value, answer.body));
                }
                let err = api_error(&answer);
                if err.kind == ErrorKind::Authentication {
                    return Err(Failure::fatal(err));
                }
                Err(err.into())
            }
        })
        .await
    }

    async fn send_with(
        &self,
        method: &Method,
        url: &str,
        body: &Option<Body>,
        token: &str,
    ) -> Result<Answer> {
        let mut auth = HeaderValue::from_str(&format!("Bearer {token}")).map_err(|_| {
            Error::new(
                ErrorKind::Authentication,
                "the token endpoint returned a token that is not a valid header value",
            )
        })?;
        auth.set_sensitive(true);
        let mut req = self
            .client
            .request(method.clone(), url)
            .header(AUTHORIZATION, auth)
            .header(ACCEPT, "application/json");
        if let Some(b) = body {
            req = req
                .header(CONTENT_TYPE, b.content_type)
                .body(b.bytes.clone());
        }
        send_once(&self.metrics, req).await
    }
}
