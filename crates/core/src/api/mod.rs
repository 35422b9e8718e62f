//! The client: the API calls, on top of `crate::auth::Session` (bearer
//! token, the one retry loop, the single 401 replay). Cheap to clone; every
//! method is async and usable without Python.
//!
//! - this module: the client itself, the attribute schema (fetched once and
//!   kept), count, validate, webhook registration and the response cache;
//! - `query`: queries, their local checks and the prepared form;
//! - `members`: member pages and listings;
//! - `walk`: the one pagination walk, a page's decode overlapped with the
//!   next page's fetch;
//! - `endpoint`: which API root and token endpoint are in use (given, or
//!   discovered through `crate::auth::discovery`).

use std::collections::HashMap;
use std::sync::Arc;

use bytes::Bytes;
use reqwest::Method;
use serde::Deserialize;

use crate::audit::AuditSink;
use crate::auth::Session;
use crate::auth::TokenManager;
use crate::cache::{self, CacheStats, Cached, ResponseCache};
use crate::completion::{CallbackTarget, Reporter};
use crate::config::Config;
use crate::error::{Error, Result};
use crate::filter::{self, AttrType, Filter, Schema};
use crate::metrics::{Metrics, MetricsSnapshot};
use crate::page::{Decoded, Json, PageDecoder};
use crate::transport::{self, unreadable_body, Body};
use crate::webhook::{DeliveryPolicy, WebhookRegistration};

mod endpoint;
mod members;
mod query;
mod walk;

pub use query::{check_audience_id, check_limit, Prepared, Query, MAX_AUDIENCE_ID_LEN, MAX_LIMIT};

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
                cache: ResponseCache::new(config.cache_size, config.cache_ttl)
                    .with_max_bytes(config.cache_max_bytes),
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

    /// GET `path_and_query` through the response cache: a fresh cached body
    /// is parsed without a request; otherwise the answer is fetched and, if
    /// it was a 2xx that parsed, stored. Keyed by tenant (base URL, client
    /// id) and the full path and query as sent, cursor included.
    async fn get_cached<T>(
        &self,
        path_and_query: &str,
        what: &str,
        fill: bool,
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
        if fill {
            cache.put(key, body);
        }
        Ok(value)
    }

    /// A members page through the response cache, kept there decoded when
    /// the decoder says how ([`PageDecoder::cache_form`]): a hit on a
    /// decoded page is a pointer clone; a hit on a body decoded in another
    /// form is decoded once and the form added. Otherwise as `get_cached`.
    /// With `fill` false the cache is read but nothing is stored in it.
    pub(crate) async fn get_page<D: PageDecoder>(
        &self,
        path_and_query: &str,
        decoder: &D,
        fill: bool,
        hint: Option<&walk::Hint>,
    ) -> Result<Decoded<D::Output>> {
        let decode = |body: &[u8]| match hint {
            Some(h) => h.offer_then(body, || decoder.decode(body)),
            None => decoder.decode(body),
        };
        let cache = &self.inner.cache;
        let Some(form) = decoder.cache_form().filter(|_| cache.is_enabled()) else {
            return self
                .get_cached(path_and_query, "members page", fill, decode)
                .await;
        };
        let key = cache::key(
            self.api_root(),
            &self.inner.config.client_id,
            path_and_query,
        );
        let metrics = &self.inner.http.metrics;
        let shared = |page: &Decoded<D::Output>| -> (cache::Shared, usize) {
            (Arc::new(page.clone()), decoder.size_of(&page.data))
        };
        match cache.lookup(&key, form) {
            Some(Cached::Decoded(hit)) => {
                if let Some(page) = hit.downcast_ref::<Decoded<D::Output>>() {
                    metrics.add_cache_hit();
                    return Ok(page.clone());
                }
            }
            Some(Cached::Body(body)) => match decoder.decode(&body) {
                Ok(page) => {
                    metrics.add_cache_hit();
                    if fill {
                        let (value, size) = shared(&page);
                        cache.add_form(&key, form, value, size);
                    }
                    return Ok(page);
                }
                Err(_) => {
                    log::warn!(target: "cxone_cdp", "dropping an unreadable cached members page")
                }
            },
            None => {}
        }
        metrics.add_cache_miss();
        let url = self.url(path_and_query);
        let (page, body) = self
            .inner
            .http
            .send_keep_body(Method::GET, &url, None, decode)
            .await?;
        if fill {
            let (value, size) = shared(&page);
            cache.put_form(key, body, form, value, size);
        }
        Ok(page)
    }

    fn url(&self, path: &str) -> String {
        format!("{}{}", self.api_root(), path)
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
            fill_cache: true,
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
        let mut pq = format!("{}/count", members::members_path(&p.query.audience_id));
        if !p.filter_params.is_empty() {
            pq.push('?');
            pq.push_str(&p.filter_params);
        }
        self.get_cached(&pq, "count", true, |body| {
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
        let out = async {
            let query = Query::new(audience_id, filters.to_vec(), limit);
            let prepared = self.prepare(query).await?;
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
        .await;
        self.inner.reporter.finish_simple(out.is_ok(), started);
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
}
