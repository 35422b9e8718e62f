//! The client: validated queries, the attribute schema (fetched once and
//! kept), count, validate, member pages and webhook registration. Cheap to
//! clone; every method is async and usable without Python.

use std::collections::HashMap;
use std::sync::Arc;

use bytes::Bytes;
use futures_util::stream::{self, Stream};
use reqwest::Method;
use serde::Deserialize;

use crate::audit::AuditSink;
use crate::auth::Session;
use crate::auth::TokenManager;
use crate::cache::{self, CacheStats, ResponseCache};
use crate::completion::{CallbackTarget, Listing, Reporter};
use crate::config::Config;
use crate::error::{Error, Result};
use crate::filter::{self, AttrType, Filter, Schema};
use crate::metrics::{Metrics, MetricsSnapshot};
use crate::page::{Decoded, Json, JsonPages, Page, PageDecoder, PageOf, PageOut};
use crate::paginate::Paginator;
use crate::transport::{self, unreadable_body, Body};
use crate::webhook::{DeliveryPolicy, WebhookRegistration};

/// Longest accepted audience id, in bytes.
pub const MAX_AUDIENCE_ID_LEN: usize = 256;
/// Largest page size the API accepts.
pub const MAX_LIMIT: u32 = 1000;

/// A members query as the caller gave it.
#[derive(Debug, Clone, PartialEq)]
pub struct Query {
    pub audience_id: String,
    pub filters: Vec<Filter>,
    pub limit: u32,
}

impl Query {
    pub fn new(audience_id: impl Into<String>, filters: Vec<Filter>, limit: u32) -> Query {
        Query {
            audience_id: audience_id.into(),
            filters,
            limit,
        }
    }

    /// Every check that needs no schema and no request.
    pub fn check_local(&self) -> Result<()> {
        check_audience_id(&self.audience_id)?;
        check_limit(self.limit)?;
        filter::validate_local(&self.filters)
    }
}

/// A query that passed every check, with its encoded filter parameters.
#[derive(Debug, Clone)]
pub struct Prepared {
    pub query: Query,
    /// `filter=...&filter=...` (possibly empty).
    pub filter_params: String,
}

/// The attribute schema as the server listed it.
#[derive(Debug, Clone, Default)]
pub struct Attributes {
    /// Name and type text, in server order (unknown types kept as text).
    pub items: Vec<(String, String)>,
    /// Typed schema for validation (attributes of known types).
    pub schema: Schema,
}

/// The outcome of `Client::validate`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Validation {
    pub audience_id: String,
    pub filters: usize,
    pub complexity: u32,
    pub count: u64,
}

/// An audience id must be one path segment: non-empty, at most 256 bytes, no
/// `/`, `?`, `#`, `..`, whitespace or control characters.
pub fn check_audience_id(id: &str) -> Result<()> {
    let bad = |why: &str| {
        Err(Error::validation(format!(
            "audience id {:?} {why}",
            crate::error::excerpt(id.as_bytes(), 60)
        )))
    };
    if id.is_empty() {
        return Err(Error::validation("audience id is empty"));
    }
    if id.len() > MAX_AUDIENCE_ID_LEN {
        return bad("is too long");
    }
    if id.contains(['/', '?', '#', '\\']) || id.contains("..") {
        return bad("may not contain '/', '?', '#', '\\\\' or '..'");
    }
    if id.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return bad("may not contain whitespace or control characters");
    }
    Ok(())
}

/// `limit` must be within 1..=1000.
pub fn check_limit(limit: u32) -> Result<()> {
    if (1..=MAX_LIMIT).contains(&limit) {
        Ok(())
    } else {
        Err(Error::validation(format!(
            "limit must be between 1 and {MAX_LIMIT}, got {limit}"
        )))
    }
}

struct Inner {
    config: Config,
    http: Session,
    attributes: tokio::sync::Mutex<Option<Arc<Attributes>>>,
    /// Members pages and count answers (see [`Client::cache_stats`]).
    cache: ResponseCache,
    /// Metrics, audit sink and callback target every query reports to.
    reporter: Arc<Reporter>,
}

/// The CDP client.
#[derive(Clone)]
pub struct Client {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("base_url", &self.inner.config.base_url)
            .field("client_id", &self.inner.config.client_id)
            .finish_non_exhaustive()
    }
}

#[derive(Deserialize)]
struct AttributesWire {
    items: Vec<AttributeWire>,
}

#[derive(Deserialize)]
struct AttributeWire {
    name: String,
    #[serde(rename = "type")]
    ty: String,
}

#[derive(Deserialize)]
struct CountWire {
    count: u64,
}

impl Client {
    pub fn new(config: Config) -> Result<Client> {
        config.check()?;
        let client = transport::build_reqwest(&config)?;
        let metrics = Arc::new(Metrics::new());
        let auth = Arc::new(TokenManager::new(&config, client.clone(), metrics.clone()));
        let reporter = Arc::new(Reporter {
            metrics: metrics.clone(),
            audit: AuditSink::new(config.audit_path.clone()),
            callback: config.webhook_url.clone().map(|url| CallbackTarget {
                url,
                secret: config.webhook_secret.clone().filter(|s| !s.is_empty()),
                policy: DeliveryPolicy::default(),
            }),
            http: client.clone(),
        });
        let http = Session {
            client,
            policy: config.retry,
            metrics,
            auth,
        };
        Ok(Client {
            inner: Arc::new(Inner {
                cache: ResponseCache::new(config.cache_size, config.cache_ttl),
                config,
                http,
                attributes: tokio::sync::Mutex::new(None),
                reporter,
            }),
        })
    }

    pub fn config(&self) -> &Config {
        &self.inner.config
    }

    /// The one set of metrics every request and query of this client
    /// updates.
    pub fn metrics(&self) -> &Arc<Metrics> {
        &self.inner.http.metrics
    }

    pub fn metrics_snapshot(&self) -> MetricsSnapshot {
        self.inner.http.metrics.snapshot()
    }

    /// The metrics and the cache figures in the Prometheus text format.
    pub fn metrics_prometheus(&self) -> String {
        self.inner
            .http
            .metrics
            .prometheus_with_cache(&self.inner.cache.stats())
    }

    pub fn cache_stats(&self) -> CacheStats {
        self.inner.cache.stats()
    }

    /// Drops every cached answer (the counters are kept).
    pub fn clear_cache(&self) {
        self.inner.cache.clear()
    }

    /// Starts timing a listing; see [`Listing`]. `Client::members` uses it;
    /// other walkers over [`Client::pages`] (the Python iterators) call it
    /// themselves so a listing is reported once.
    pub fn start_listing(&self, query: &Query, query_id: Option<String>) -> Listing {
        Listing::new(
            self.inner.reporter.clone(),
            query_id,
            &query.audience_id,
            query.filters.len(),
        )
    }

    /// GET `path_and_query` through the response cache: a fresh cached body
    /// is parsed without a request; otherwise the answer is fetched and, if
    /// it was a 2xx that parsed, stored. Keyed by tenant (base URL, client
    /// id) and the full path and query as sent, cursor included.
    async fn get_cached<T>(
        &self,
        path_and_query: &str,
        what: &str,
        parse: impl Fn(&[u8]) -> Result<T>,
    ) -> Result<T> {
        let url = self.url(path_and_query);
        let cache = &self.inner.cache;
        if !cache.is_enabled() {
            return self.inner.http.send(Method::GET, &url, None, parse).await;
        }
        let cfg = &self.inner.config;
        let key = cache::key(self.api_root(), &cfg.client_id, path_and_query);
        let metrics = &self.inner.http.metrics;
        if let Some(body) = cache.get(&key) {
            match parse(&body) {
                Ok(v) => {
                    metrics.add_cache_hit();
                    return Ok(v);
                }
                Err(_) => {
                    log::warn!(target: "cxone_cdp", "dropping an unreadable cached {what} answer")
                }
            }
        }
        metrics.add_cache_miss();
        let (value, body) = self
            .inner
            .http
            .send_keep_body(Method::GET, &url, None, parse)
            .await?;
        cache.put(key, body);
        Ok(value)
    }

    fn url(&self, path: &str) -> String {
        format!("{}{}", self.api_root(), path)
    }

    fn members_path(audience_id: &str) -> String {
        format!(
            "/api/v2/audiences/{}/members",
            filter::encode_component(audience_id)
        )
    }

    /// A valid access token (mostly for diagnostics and tests).
    pub async fn token(&self) -> Result<crate::auth::Token> {
        self.inner.http.auth.token().await
    }

    /// The attribute schema: fetched on first use, then kept.
    pub async fn attributes(&self) -> Result<Arc<Attributes>> {
        let mut slot = self.inner.attributes.lock().await;
        if let Some(a) = slot.as_ref() {
            return Ok(a.clone());
        }
        let a = Arc::new(self.fetch_attributes().await?);
        *slot = Some(a.clone());
        Ok(a)
    }

    /// Fetches the schema again and keeps the new one.
    pub async fn refresh_attributes(&self) -> Result<Arc<Attributes>> {
        let mut slot = self.inner.attributes.lock().await;
        let a = Arc::new(self.fetch_attributes().await?);
        *slot = Some(a.clone());
        Ok(a)
    }

    async fn fetch_attributes(&self) -> Result<Attributes> {
        self.ensure_api().await?;
        let url = self.url("/api/v2/cdp/attributes");
        self.inner
            .http
            .send(Method::GET, &url, None, |body| {
                let wire: AttributesWire = serde_json::from_slice(body)
                    .map_err(|e| unreadable_body("attributes", body, e))?;
                let mut out = Attributes::default();
                for a in wire.items {
                    if let Some(t) = AttrType::parse(&a.ty) {
                        out.schema.insert(a.name.clone(), t);
                    }
                    out.items.push((a.name, a.ty));
                }
                Ok(out)
            })
            .await
    }

    /// Every check (local first, then against the schema, which may be
    /// fetched), and the encoded filter parameters.
    pub async fn prepare(&self, query: Query) -> Result<Prepared> {
        query.check_local()?;
        let attrs = self.attributes().await?;
        filter::validate(&query.filters, &attrs.schema)?;
        let filter_params = filter::encode_filters(&query.filters, Some(&attrs.schema))?;
        Ok(Prepared {
            query,
            filter_params,
        })
    }

    /// How many members match. Counts as one query in the metrics.
    pub async fn count(&self, audience_id: &str, filters: &[Filter]) -> Result<u64> {
        let started = std::time::Instant::now();
        let out = async {
            let prepared = self
                .prepare(Query::new(audience_id, filters.to_vec(), 1))
                .await?;
            self.count_prepared(&prepared).await
        }
        .await;
        self.inner.reporter.finish_simple(out.is_ok(), started);
        out
    }

    async fn count_prepared(&self, p: &Prepared) -> Result<u64> {
        self.ensure_api().await?;
        let mut pq = format!("{}/count", Self::members_path(&p.query.audience_id));
        if !p.filter_params.is_empty() {
            pq.push('?');
            pq.push_str(&p.filter_params);
        }
        self.get_cached(&pq, "count", |body| {
            serde_json::from_slice::<CountWire>(body)
                .map(|c| c.count)
                .map_err(|e| unreadable_body("count", body, e))
        })
        .await
    }

    /// Checks a query fully (local, schema) and estimates its size. With
    /// `require_nonzero`, a count of zero is a validation error.
    pub async fn validate(
        &self,
        audience_id: &str,
        filters: &[Filter],
        limit: u32,
        require_nonzero: bool,
    ) -> Result<Validation> {
        let started = std::time::Instant::now();
        let out = self
            .validate_inner(audience_id, filters, limit, require_nonzero)
            .await;
        self.inner.reporter.finish_simple(out.is_ok(), started);
        out
    }

    async fn validate_inner(
        &self,
        audience_id: &str,
        filters: &[Filter],
        limit: u32,
        require_nonzero: bool,
    ) -> Result<Validation> {
        let prepared = self
            .prepare(Query::new(audience_id, filters.to_vec(), limit))
            .await?;
        let count = self.count_prepared(&prepared).await?;
        if require_nonzero && count == 0 {
            return Err(
                Error::validation("the query matches no members (count is 0)")
                    .with_code("empty_result"),
            );
        }
        Ok(Validation {
            audience_id: audience_id.to_string(),
            filters: filters.len(),
            complexity: filter::complexity(filters),
            count,
        })
    }

    /// One page of a prepared query, parsed (a broken body is retried as a
    /// server fault).
    pub async fn fetch_page(&self, p: &Prepared, cursor: Option<&str>) -> Result<Page> {
        let page = self.fetch_page_with(p, cursor, &JsonPages).await?;
        Ok(Page {
            items: page.data,
            next_page_token: page.next_page_token,
        })
    }

    /// Every page of a prepared query from `cursor` (or the start), in order.
    /// The stream ends after the last page or the first error.
    pub fn pages(
        &self,
        prepared: Prepared,
        cursor: Option<String>,
    ) -> impl Stream<Item = Result<PageOut>> + Send + 'static {
        use futures_util::StreamExt;
        self.pages_with(prepared, cursor, Arc::new(JsonPages))
            .map(|r| {
                r.map(|p| PageOut {
                    items: p.data,
                    cursor: p.cursor,
                    next_cursor: p.next_cursor,
                })
            })
    }

    /// Every member of a query (no query id: no completion callback).
    pub async fn members(&self, query: Query) -> Result<Vec<Json>> {
        self.members_with_id(query, None).await
    }

    /// Every member of a query; reported as one listing (metrics, audit
    /// record, and a completion callback when `query_id` is given).
    pub async fn members_with_id(
        &self,
        query: Query,
        query_id: Option<String>,
    ) -> Result<Vec<Json>> {
        use futures_util::StreamExt;
        let mut listing = self.start_listing(&query, query_id);
        let out = async {
            let prepared = self.prepare(query).await?;
            let mut out = Vec::new();
            let mut pages = std::pin::pin!(self.pages(prepared, None));
            while let Some(page) = pages.next().await {
                let page = page?;
                listing.page(page.items.len());
                out.extend(page.items);
            }
            Ok(out)
        }
        .await;
        listing.finish(out.is_ok());
        out
    }

    /// Registers a webhook; returns the server's object (with its `id`).
    pub async fn register_webhook(
        &self,
        name: &str,
        url: &str,
        events: &[String],
        enabled: bool,
    ) -> Result<Json> {
        let reg = WebhookRegistration::new(name, url, events.to_vec(), enabled)?;
        let body = Body {
            content_type: "application/json",
            bytes: Bytes::from(reg.to_body()),
        };
        self.ensure_api().await?;
        let url = self.url("/api/v2/webhooks");
        self.inner
            .http
            .send(Method::POST, &url, Some(body), |b| {
                let v: Json =
                    serde_json::from_slice(b).map_err(|e| unreadable_body("webhook", b, e))?;
                Ok(v)
            })
            .await
    }

    /// The schema as `name -> type` text.
    pub async fn attribute_map(&self) -> Result<HashMap<String, String>> {
        Ok(self.attributes().await?.items.iter().cloned().collect())
    }

    // ---- issue 9: auth modes and API discovery (see crate::auth::discovery) ----

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
    async fn ensure_api(&self) -> Result<()> {
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

    /// The path and query of one members page of a prepared query.
    fn page_path(p: &Prepared, cursor: Option<&str>) -> String {
        let mut url = Self::members_path(&p.query.audience_id);
        url.push_str("?limit=");
        url.push_str(&p.query.limit.to_string());
        if !p.filter_params.is_empty() {
            url.push('&');
            url.push_str(&p.filter_params);
        }
        if let Some(c) = cursor {
            url.push_str("&cursor=");
            url.push_str(&filter::encode_component(c));
        }
        url
    }

    /// One page of a prepared query, through the response cache, decoded by
    /// `decoder` inside the retry loop (a body the decoder rejects is retried
    /// as a server fault, and never cached). An empty `nextPageToken` is
    /// taken as the end of the listing.
    pub async fn fetch_page_with<D: PageDecoder>(
        &self,
        p: &Prepared,
        cursor: Option<&str>,
        decoder: &D,
    ) -> Result<Decoded<D::Output>> {
        self.ensure_api().await?;
        let path = Self::page_path(p, cursor);
        let mut page = self
            .get_cached(&path, "members page", |body| decoder.decode(body))
            .await?;
        if page.next_page_token.as_deref() == Some("") {
            page.next_page_token = None;
        }
        Ok(page)
    }

    /// Every page of a prepared query from `cursor` (or the start), decoded
    /// by `decoder`, in order: the one pagination state machine for every
    /// output form (follows `nextPageToken` until null, keeps going over
    /// empty and short pages, a repeated cursor is a pagination error). The
    /// stream ends after the last page or the first error.
    pub fn pages_with<D: PageDecoder>(
        &self,
        prepared: Prepared,
        cursor: Option<String>,
        decoder: Arc<D>,
    ) -> impl Stream<Item = Result<PageOf<D::Output>>> + Send + 'static {
        let client = self.clone();
        let state = (client, prepared, decoder, Paginator::new(cursor));
        stream::unfold(state, |(client, prepared, decoder, mut pager)| async move {
            let cursor = pager.next_request()?.map(str::to_string);
            let result = match client
                .fetch_page_with(&prepared, cursor.as_deref(), &*decoder)
                .await
            {
                Ok(page) => match pager.advance(page.next_page_token.as_deref()) {
                    Ok(()) => Ok(PageOf {
                        data: page.data,
                        items: page.items,
                        cursor,
                        next_cursor: page.next_page_token,
                    }),
                    Err(e) => Err(e),
                },
                Err(e) => {
                    pager.stop();
                    Err(e)
                }
            };
            Some((result, (client, prepared, decoder, pager)))
        })
    }
}

#[cfg(test)]
mod tests {
    //! The client against small in-test servers on 127.0.0.1.
    use super::*;
    use crate::error::ErrorKind;
    use crate::filter::{Operator, Value};
    use axum::extract::State;
    use axum::http::{HeaderMap, StatusCode, Uri};
    use axum::response::IntoResponse;
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::sync::Mutex;
    use std::time::Duration;

    type Reply = (u16, Vec<(&'static str, String)>, String);
    type ApiFn = dyn Fn(&str, u64, &str) -> Reply + Send + Sync;
    type TokenFn = dyn Fn(u64) -> Reply + Send + Sync;

    struct Mock {
        tokens: AtomicU64,
        api: AtomicU64,
        seen: Mutex<Vec<String>>,
        api_fn: Box<ApiFn>,
        token_fn: Box<TokenFn>,
        token_delay: Duration,
    }

    const ATTRS: &str = r#"{"items":[{"name":"city","type":"string"},{"name":"lifetime_value","type":"number"},{"name":"is_vip","type":"boolean"},{"name":"last_purchase_date","type":"date"}]}"#;

    fn ok(body: &str) -> Reply {
        (200, vec![], body.to_string())
    }

    fn token_ok(n: u64) -> Reply {
        ok(&format!(
            r#"{{"access_token":"tok{n}","token_type":"Bearer","expires_in":3600,"scope":"x"}}"#
        ))
    }

    fn reply(r: Reply) -> axum::response::Response {
        let mut h = HeaderMap::new();
        for (k, v) in r.1 {
            h.insert(k, v.parse().unwrap());
        }
        (StatusCode::from_u16(r.0).unwrap(), h, r.2).into_response()
    }

    async fn token_handler(State(m): State<Arc<Mock>>, body: String) -> axum::response::Response {
        let n = m.tokens.fetch_add(1, Ordering::SeqCst) + 1;
        assert!(body.contains("grant_type=client_credentials"));
        tokio::time::sleep(m.token_delay).await;
        reply((m.token_fn)(n))
    }

    async fn api_handler(
        State(m): State<Arc<Mock>>,
        uri: Uri,
        headers: HeaderMap,
    ) -> axum::response::Response {
        let pq = uri
            .path_and_query()
            .map(|p| p.as_str())
            .unwrap_or("")
            .to_string();
        let auth = headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string();
        if pq == "/api/v2/cdp/attributes" {
            return reply(ok(ATTRS));
        }
        let n = m.api.fetch_add(1, Ordering::SeqCst) + 1;
        m.seen.lock().unwrap().push(pq.clone());
        reply((m.api_fn)(&pq, n, &auth))
    }

    async fn start(
        api_fn: impl Fn(&str, u64, &str) -> Reply + Send + Sync + 'static,
        token_fn: impl Fn(u64) -> Reply + Send + Sync + 'static,
        token_delay: Duration,
    ) -> (Client, Arc<Mock>) {
        let mock = Arc::new(Mock {
            tokens: AtomicU64::new(0),
            api: AtomicU64::new(0),
            seen: Mutex::new(Vec::new()),
            api_fn: Box::new(api_fn),
            token_fn: Box::new(token_fn),
            token_delay,
        });
        let app = axum::Router::new()
            .route("/oauth/token", axum::routing::post(token_handler))
            .fallback(api_handler)
            .with_state(mock.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        let mut config = Config::new(format!("http://{addr}"), "id", "very-secret-value");
        config.retry.backoff_base = 0.01;
        config.retry.backoff_max = 0.05;
        config.timeout = Duration::from_secs(5);
        (Client::new(config).unwrap(), mock)
    }

    const AUD: &str = "a1b2c3d4-e5f6-7890-abcd-ef1234567890";

    fn page(ids: &[u32], next: Option<&str>) -> String {
        let items: Vec<String> = ids
            .iter()
            .map(|i| format!(r#"{{"memberId":"m{i}","joinedAt":"2024-01-01T00:00:00Z","attributes":{{"lifetime_value":{i}}}}}"#))
            .collect();
        let next = next.map_or("null".to_string(), |n| format!("\"{n}\""));
        format!(
            r#"{{"items":[{}],"nextPageToken":{next}}}"#,
            items.join(",")
        )
    }

    fn ids(members: &[Json]) -> Vec<String> {
        members
            .iter()
            .map(|m| m.get("memberId").unwrap().as_str().unwrap().to_string())
            .collect()
    }

    #[tokio::test]
    async fn follows_cursors_over_empty_and_short_pages_with_encoding() {
        let (client, mock) = start(
            |pq, _, _| {
                if !pq.contains("cursor=") {
                    ok(&page(&[1, 2], Some("c+1/=")))
                } else if pq.contains("cursor=c%2B1%2F%3D") {
                    ok(&page(&[], Some("c2")))
                } else if pq.contains("cursor=c2") {
                    ok(&page(&[3], None))
                } else {
                    (
                        400,
                        vec![],
                        r#"{"code":"invalid_cursor","message":"?"}"#.into(),
                    )
                }
            },
            token_ok,
            Duration::ZERO,
        )
        .await;
        let q = Query::new(
            AUD,
            vec![Filter::new(
                "city",
                Operator::Eq,
                Value::Str("Rock & Roll".into()),
            )],
            2,
        );
        let members = client.members(q).await.unwrap();
        assert_eq!(ids(&members), ["m1", "m2", "m3"]);
        let seen = mock.seen.lock().unwrap().clone();
        assert_eq!(seen.len(), 3);
        assert!(seen[0].contains("limit=2") && seen[0].contains("filter=city%3DRock%20%26%20Roll"));
        assert_eq!(mock.tokens.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn repeated_cursor_is_a_pagination_error() {
        let (client, _mock) = start(
            |pq, _, _| {
                if pq.contains("cursor=b") {
                    ok(&page(&[2], Some("a")))
                } else if pq.contains("cursor=a") {
                    ok(&page(&[1], Some("b")))
                } else {
                    ok(&page(&[0], Some("a")))
                }
            },
            token_ok,
            Duration::ZERO,
        )
        .await;
        let e = client
            .members(Query::new(AUD, vec![], 10))
            .await
            .unwrap_err();
        assert_eq!(e.kind, ErrorKind::Pagination);
    }

    #[tokio::test]
    async fn unauthorized_refreshes_once_and_replays_once() {
        let (client, mock) = start(
            |_, _, auth| {
                if auth == "Bearer tok1" {
                    (
                        401,
                        vec![],
                        r#"{"code":"unauthorized","message":"revoked"}"#.into(),
                    )
                } else {
                    ok(r#"{"count":7}"#)
                }
            },
            token_ok,
            Duration::ZERO,
        )
        .await;
        assert_eq!(client.count(AUD, &[]).await.unwrap(), 7);
        assert_eq!(mock.tokens.load(Ordering::SeqCst), 2);
        assert_eq!(client.metrics_snapshot().auth_replays, 1);

        let (client, mock) = start(
            |_, _, _| {
                (
                    401,
                    vec![],
                    r#"{"code":"unauthorized","message":"no"}"#.into(),
                )
            },
            token_ok,
            Duration::ZERO,
        )
        .await;
        let e = client.count(AUD, &[]).await.unwrap_err();
        assert_eq!(e.kind, ErrorKind::Authentication);
        assert_eq!(mock.tokens.load(Ordering::SeqCst), 2);
        assert_eq!(mock.api.load(Ordering::SeqCst), 2);
        assert!(!e.to_string().contains("very-secret") && !e.to_string().contains("tok"));
    }

    #[tokio::test]
    async fn invalid_client_is_not_retried() {
        let (client, mock) = start(
            |_, _, _| ok(r#"{"count":1}"#),
            |_| (401, vec![], r#"{"error":"invalid_client"}"#.into()),
            Duration::ZERO,
        )
        .await;
        let e = client.count(AUD, &[]).await.unwrap_err();
        assert_eq!(e.kind, ErrorKind::Authentication);
        assert_eq!(e.code.as_deref(), Some("invalid_client"));
        assert_eq!(mock.tokens.load(Ordering::SeqCst), 1);
        assert!(!format!("{e:?}").contains("very-secret"));
        // 400 is a typed error too, also not retried.
        let (client, mock) = start(
            |_, _, _| ok(r#"{"count":1}"#),
            |_| {
                (
                    400,
                    vec![],
                    r#"{"error":"invalid_scope","error_description":"nope"}"#.into(),
                )
            },
            Duration::ZERO,
        )
        .await;
        let e = client.count(AUD, &[]).await.unwrap_err();
        assert_eq!(
            (e.kind, e.code.as_deref()),
            (ErrorKind::BadRequest, Some("invalid_scope"))
        );
        assert_eq!(mock.tokens.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn token_endpoint_5xx_is_retried() {
        let (client, mock) = start(
            |_, _, _| ok(r#"{"count":3}"#),
            |n| {
                if n < 3 {
                    (503, vec![], "down".into())
                } else {
                    token_ok(n)
                }
            },
            Duration::ZERO,
        )
        .await;
        assert_eq!(client.count(AUD, &[]).await.unwrap(), 3);
        assert_eq!(mock.tokens.load(Ordering::SeqCst), 3);
    }

    #[tokio::test]
    async fn retry_after_then_success_and_cap() {
        let (client, mock) = start(
            |_, n, _| {
                if n == 1 {
                    (
                        429,
                        vec![("retry-after", "0".into())],
                        r#"{"code":"rate_limited","message":"slow down"}"#.into(),
                    )
                } else {
                    ok(r#"{"count":5}"#)
                }
            },
            token_ok,
            Duration::ZERO,
        )
        .await;
        assert_eq!(client.count(AUD, &[]).await.unwrap(), 5);
        assert_eq!(mock.api.load(Ordering::SeqCst), 2);
        let c = client.metrics_snapshot();
        assert_eq!((c.rate_limited, c.retries), (1, 1));

        // A huge Retry-After is capped (here at 50 ms); 429 every time gives RateLimitError.
        let (client, mock) = start(
            |_, _, _| {
                (
                    429,
                    vec![("retry-after", "3600".into())],
                    r#"{"code":"rate_limited","message":"x"}"#.into(),
                )
            },
            token_ok,
            Duration::ZERO,
        )
        .await;
        let mut cfg = client.config().clone();
        cfg.retry.retry_after_cap = 0.05;
        cfg.retry.max_retries = 2;
        let capped = Client::new(cfg).unwrap();
        let t0 = std::time::Instant::now();
        let e = capped.count(AUD, &[]).await.unwrap_err();
        assert!(t0.elapsed() < Duration::from_secs(5));
        assert_eq!(
            (e.kind, e.retry_after),
            (ErrorKind::RateLimit, Some(3600.0))
        );
        assert_eq!(mock.api.load(Ordering::SeqCst), 3);
    }

    #[tokio::test]
    async fn server_errors_retry_then_fail_with_excerpt() {
        let (client, mock) = start(
            |_, n, _| {
                if n <= 2 {
                    (
                        503,
                        vec![],
                        r#"{"code":"unavailable","message":"busy"}"#.into(),
                    )
                } else {
                    ok(r#"{"count":9}"#)
                }
            },
            token_ok,
            Duration::ZERO,
        )
        .await;
        assert_eq!(client.count(AUD, &[]).await.unwrap(), 9);
        assert_eq!(mock.api.load(Ordering::SeqCst), 3);

        let (client, mock) = start(
            |_, _, _| (502, vec![], "<html><h1>Bad Gateway</h1></html>".into()),
            token_ok,
            Duration::ZERO,
        )
        .await;
        let e = client.count(AUD, &[]).await.unwrap_err();
        assert_eq!((e.kind, e.status), (ErrorKind::Server, Some(502)));
        assert!(e.message.contains("Bad Gateway"), "{}", e.message);
        assert_eq!(mock.api.load(Ordering::SeqCst), 4);

        // 404 is not retried.
        let (client, mock) = start(
            |_, _, _| {
                (
                    404,
                    vec![],
                    r#"{"code":"not_found","message":"no audience","correlationId":"c9"}"#.into(),
                )
            },
            token_ok,
            Duration::ZERO,
        )
        .await;
        let e = client.count(AUD, &[]).await.unwrap_err();
        assert_eq!(
            (e.kind, e.correlation_id.as_deref()),
            (ErrorKind::NotFound, Some("c9"))
        );
        assert_eq!(mock.api.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn truncated_page_is_retried_never_empty() {
        let (client, mock) = start(
            |_, n, _| {
                if n == 1 {
                    ok(r#"{"items":[{"memberId":"m1""#)
                } else {
                    ok(&page(&[1, 2], None))
                }
            },
            token_ok,
            Duration::ZERO,
        )
        .await;
        let m = client.members(Query::new(AUD, vec![], 10)).await.unwrap();
        assert_eq!(m.len(), 2);
        assert_eq!(mock.api.load(Ordering::SeqCst), 2);

        let (client, _) = start(|_, _, _| ok(r#"{"items":[{"#), token_ok, Duration::ZERO).await;
        let e = client
            .members(Query::new(AUD, vec![], 10))
            .await
            .unwrap_err();
        assert_eq!(e.kind, ErrorKind::Server);
    }

    #[tokio::test]
    async fn concurrent_calls_share_one_token_fetch() {
        let (client, mock) = start(
            |_, _, _| ok(r#"{"count":1}"#),
            token_ok,
            Duration::from_millis(200),
        )
        .await;
        let tasks: Vec<_> = (0..16)
            .map(|_| {
                let c = client.clone();
                tokio::spawn(async move { c.count(AUD, &[]).await })
            })
            .collect();
        for t in tasks {
            assert_eq!(t.await.unwrap().unwrap(), 1);
        }
        assert_eq!(mock.tokens.load(Ordering::SeqCst), 1);
        assert_eq!(client.metrics_snapshot().tokens_fetched, 1);
    }

    #[tokio::test]
    async fn cache_serves_pages_and_counts_but_never_errors() {
        let (client, mock) = start(
            |pq, _, _| {
                if pq.contains("/count") {
                    ok(r#"{"count":3}"#)
                } else if pq.contains("nope") {
                    (404, vec![], r#"{"code":"not_found","message":"x"}"#.into())
                } else if pq.contains("cursor=c2") {
                    ok(&page(&[3], None))
                } else {
                    ok(&page(&[1, 2], Some("c2")))
                }
            },
            token_ok,
            Duration::ZERO,
        )
        .await;
        let q = Query::new(AUD, vec![], 2);
        let first = client.members(q.clone()).await.unwrap();
        assert_eq!(mock.api.load(Ordering::SeqCst), 2);
        assert_eq!(client.members(q.clone()).await.unwrap(), first);
        assert_eq!(client.count(AUD, &[]).await.unwrap(), 3);
        assert_eq!(client.count(AUD, &[]).await.unwrap(), 3);
        assert_eq!(
            mock.api.load(Ordering::SeqCst),
            3,
            "re-run and 2nd count from cache"
        );
        let s = client.cache_stats();
        assert_eq!((s.hits, s.misses, s.entries), (3, 3, 3));
        for _ in 0..2 {
            let e = client
                .members(Query::new("nope", vec![], 2))
                .await
                .unwrap_err();
            assert_eq!(e.kind, ErrorKind::NotFound);
        }
        assert_eq!(mock.api.load(Ordering::SeqCst), 5, "errors are not cached");
        let m = client.metrics_snapshot();
        assert_eq!((m.cache_hits, m.cache_misses), (3, 5));
        // 2 listings + 2 counts succeeded, 2 listings failed
        assert_eq!((m.total, m.success, m.failed), (6, 4, 2));
        assert_eq!(m.members_returned, 6);
        assert_eq!(
            m.http_requests,
            1 + 1 + 5,
            "token, attributes, five API calls"
        );
        client.clear_cache();
        client.members(q).await.unwrap();
        assert_eq!(mock.api.load(Ordering::SeqCst), 7);
    }

    #[tokio::test]
    async fn disabled_cache_always_fetches() {
        let (client, mock) = start(|_, _, _| ok(&page(&[1], None)), token_ok, Duration::ZERO).await;
        let mut cfg = client.config().clone();
        cfg.cache_ttl = Duration::ZERO;
        let client = Client::new(cfg).unwrap();
        for _ in 0..3 {
            client.members(Query::new(AUD, vec![], 5)).await.unwrap();
        }
        assert_eq!(mock.api.load(Ordering::SeqCst), 3);
        let m = client.metrics_snapshot();
        assert_eq!((m.cache_hits, m.cache_misses), (0, 0));
    }

    #[tokio::test]
    async fn bad_input_sends_nothing() {
        let (client, mock) = start(|_, _, _| ok(r#"{"count":1}"#), token_ok, Duration::ZERO).await;
        for aud in ["", "a/b", "a?b", "a#b", "..", "a b", "a\nb"] {
            let e = client.count(aud, &[]).await.unwrap_err();
            assert_eq!(e.kind, ErrorKind::Validation, "{aud:?}");
        }
        for limit in [0, 1001] {
            let e = client
                .members(Query::new(AUD, vec![], limit))
                .await
                .unwrap_err();
            assert_eq!(e.kind, ErrorKind::Validation);
        }
        let nan = Filter::new("lifetime_value", Operator::Gt, Value::Float(f64::NAN));
        assert!(client.count(AUD, &[nan]).await.is_err());
        assert_eq!(mock.tokens.load(Ordering::SeqCst), 0);
        assert_eq!(mock.api.load(Ordering::SeqCst), 0);
        // Schema checks need the schema (one attributes call), then nothing more.
        let wrong = Filter::new("lifetime_value", Operator::Eq, Value::Str("abc".into()));
        let e = client.count(AUD, &[wrong]).await.unwrap_err();
        assert_eq!(e.kind, ErrorKind::Validation);
        let unknown = Filter::new("nope", Operator::Eq, Value::Int(1));
        assert_eq!(
            client.count(AUD, &[unknown]).await.unwrap_err().kind,
            ErrorKind::Validation
        );
        assert_eq!(mock.api.load(Ordering::SeqCst), 0);
    }

    /// The Arrow decoder goes through the same pagination as the dict path:
    /// empty and short pages followed, a truncated body retried (never an
    /// empty page), an empty `nextPageToken` ends the listing, a repeated
    /// cursor is a pagination error.
    #[tokio::test]
    async fn arrow_pages_share_the_pagination() {
        use futures_util::StreamExt;
        let (client, mock) = start(
            |pq, n, _| {
                if n == 1 {
                    ok(r#"{"items":[{"memberId":"m1""#)
                } else if !pq.contains("cursor=") {
                    ok(&page(&[1, 2], Some("c1")))
                } else if pq.contains("cursor=c1") {
                    ok(&page(&[], Some("c2")))
                } else {
                    ok(&page(&[3], Some("")))
                }
            },
            token_ok,
            Duration::ZERO,
        )
        .await;
        let attrs = client.attributes().await.unwrap();
        let layout = Arc::new(crate::page::arrow::ArrowLayout::from_attributes(&attrs));
        let p = client.prepare(Query::new(AUD, vec![], 2)).await.unwrap();
        let pages: Vec<_> = client
            .pages_with(p, None, layout.clone())
            .collect::<Vec<_>>()
            .await
            .into_iter()
            .collect::<Result<_>>()
            .unwrap();
        let rows: Vec<usize> = pages.iter().map(|p| p.data.num_rows()).collect();
        assert_eq!(rows, [2, 0, 1]);
        assert_eq!(pages.iter().map(|p| p.items).sum::<usize>(), 3);
        assert_eq!(pages[2].next_cursor, None);
        assert_eq!(pages[0].data.schema(), layout.schema());
        assert_eq!(mock.api.load(Ordering::SeqCst), 4);

        let (client, _) = start(
            |pq, _, _| {
                if pq.contains("cursor=b") {
                    ok(&page(&[2], Some("a")))
                } else if pq.contains("cursor=a") {
                    ok(&page(&[1], Some("b")))
                } else {
                    ok(&page(&[0], Some("a")))
                }
            },
            token_ok,
            Duration::ZERO,
        )
        .await;
        let p = client.prepare(Query::new(AUD, vec![], 2)).await.unwrap();
        let out: Vec<_> = client.pages_with(p, None, layout).collect().await;
        assert_eq!(out.len(), 3);
        assert_eq!(out[2].as_ref().unwrap_err().kind, ErrorKind::Pagination);
    }
}

#[cfg(test)]
mod timing {
    use super::*;
    use futures_util::StreamExt;

    /// Rough timing of the core alone (no Python): `cargo test --release --lib
    /// core_walk_timing -- --ignored --nocapture`.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    #[ignore]
    async fn core_walk_timing() {
        let cfg = cxone_cdp_simulator::SimConfig {
            members: 100_000,
            ..Default::default()
        };
        let sim = cxone_cdp_simulator::Simulator::start(cfg, 0).await.unwrap();
        let mut c = Config::new(sim.base_url(), "sim-client", "sim-secret");
        c.token_url = Some(format!("{}/oauth/token", sim.base_url()));
        let client = Client::new(c).unwrap();
        for _ in 0..3 {
            let t = std::time::Instant::now();
            let p = client
                .prepare(Query::new(cxone_cdp_simulator::AUDIENCE_ID, vec![], 1000))
                .await
                .unwrap();
            let mut pages = std::pin::pin!(client.pages(p, None));
            let mut n = 0;
            while let Some(pg) = pages.next().await {
                n += pg.unwrap().items.len();
            }
            println!("core walk: {n} members in {:?}", t.elapsed());
        }
    }
}
