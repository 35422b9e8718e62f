//! The client: validated queries, the attribute schema (fetched once and
//! kept), count, validate, member pages and webhook registration. Cheap to
//! clone; every method is async and usable without Python.

use std::collections::HashMap;
use std::sync::Arc;

use bytes::Bytes;
use futures_util::stream::{self, Stream};
use reqwest::Method;
use serde::Deserialize;

use crate::auth::TokenManager;
use crate::config::Config;
use crate::error::{Error, ErrorKind, Result};
use crate::filter::{self, AttrType, Filter, Schema};
use crate::http::{self, unreadable_body, Body, CounterSnapshot, Counters, Http};
use crate::paginate::{parse_page, Json, Page, PageOut, Paginator};

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
    http: Http,
    attributes: tokio::sync::Mutex<Option<Arc<Attributes>>>,
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
        let client = http::build_reqwest(&config)?;
        let counters = Arc::new(Counters::default());
        let auth = Arc::new(TokenManager::new(&config, client.clone(), counters.clone()));
        let http = Http {
            client,
            policy: config.retry,
            counters,
            auth,
        };
        Ok(Client {
            inner: Arc::new(Inner {
                config,
                http,
                attributes: tokio::sync::Mutex::new(None),
            }),
        })
    }

    pub fn config(&self) -> &Config {
        &self.inner.config
    }

    /// The counters every request updates.
    pub fn counters(&self) -> &Arc<Counters> {
        &self.inner.http.counters
    }

    pub fn counter_snapshot(&self) -> CounterSnapshot {
        self.inner.http.counters.snapshot()
    }

    fn url(&self, path: &str) -> String {
        format!("{}{}", self.inner.config.api_root(), path)
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

    /// How many members match.
    pub async fn count(&self, audience_id: &str, filters: &[Filter]) -> Result<u64> {
        let prepared = self
            .prepare(Query::new(audience_id, filters.to_vec(), 1))
            .await?;
        self.count_prepared(&prepared).await
    }

    async fn count_prepared(&self, p: &Prepared) -> Result<u64> {
        let mut url = self.url(&format!(
            "{}/count",
            Self::members_path(&p.query.audience_id)
        ));
        if !p.filter_params.is_empty() {
            url.push('?');
            url.push_str(&p.filter_params);
        }
        self.inner
            .http
            .send(Method::GET, &url, None, |body| {
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
        let mut url = self.url(&Self::members_path(&p.query.audience_id));
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
        self.inner
            .http
            .send(Method::GET, &url, None, parse_page)
            .await
    }

    /// Every page of a prepared query from `cursor` (or the start), in order.
    /// The stream ends after the last page or the first error.
    pub fn pages(
        &self,
        prepared: Prepared,
        cursor: Option<String>,
    ) -> impl Stream<Item = Result<PageOut>> + Send + 'static {
        let client = self.clone();
        let state = (client, prepared, Paginator::new(cursor));
        stream::unfold(state, |(client, prepared, mut pager)| async move {
            let cursor = pager.next_request()?.map(str::to_string);
            let result = match client.fetch_page(&prepared, cursor.as_deref()).await {
                Ok(page) => match pager.advance(page.next_page_token.as_deref()) {
                    Ok(()) => Ok(PageOut {
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
            Some((result, (client, prepared, pager)))
        })
    }

    /// Every member of a query.
    pub async fn members(&self, query: Query) -> Result<Vec<Json>> {
        use futures_util::StreamExt;
        let prepared = self.prepare(query).await?;
        let mut out = Vec::new();
        let mut pages = std::pin::pin!(self.pages(prepared, None));
        while let Some(page) = pages.next().await {
            out.extend(page?.items);
        }
        Ok(out)
    }

    /// Registers a webhook; returns the server's object (with its `id`).
    pub async fn register_webhook(
        &self,
        name: &str,
        url: &str,
        events: &[String],
        enabled: bool,
    ) -> Result<Json> {
        if name.trim().is_empty() {
            return Err(Error::validation("webhook name is empty"));
        }
        if !(url.starts_with("http://") || url.starts_with("https://"))
            || url.chars().any(|c| c.is_whitespace() || c.is_control())
        {
            return Err(Error::validation(format!(
                "webhook url must be an http:// or https:// URL, got {:?}",
                crate::error::excerpt(url.as_bytes(), 80)
            )));
        }
        if events.is_empty() || events.iter().any(|e| e.trim().is_empty()) {
            return Err(Error::validation(
                "webhook events must be a non-empty list of non-empty names",
            ));
        }
        let body = serde_json::json!({
            "name": name, "url": url, "events": events, "enabled": enabled,
        });
        let body = Body {
            content_type: "application/json",
            bytes: Bytes::from(serde_json::to_vec(&body).map_err(|e| {
                Error::new(
                    ErrorKind::Other,
                    format!("could not encode webhook body: {e}"),
                )
            })?),
        };
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
