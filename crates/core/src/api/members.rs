//! Member pages and listings: one page through the response cache, and
//! whole listings reported once (metrics, audit, completion callback). The
//! pagination walk over every page is `walk`.

use std::sync::Arc;

use futures_util::stream::Stream;

use super::walk::Hint;
use super::{Client, Prepared, Query};
use crate::completion::Listing;
use crate::error::Result;
use crate::filter;
use crate::page::{Decoded, Json, JsonPages, Page, PageDecoder, PageOut};

impl Client {
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

    /// The path and query of one members page of a prepared query.
    fn page_path(p: &Prepared, cursor: Option<&str>) -> String {
        let mut url = members_path(&p.query.audience_id);
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
    /// as a server fault, and never cached). The decoders read the body with
    /// `page::envelope`, where an empty `nextPageToken` ends the listing.
    pub async fn fetch_page_with<D: PageDecoder>(
        &self,
        p: &Prepared,
        cursor: Option<&str>,
        decoder: &D,
    ) -> Result<Decoded<D::Output>> {
        self.fetch_page_hinted(p, cursor, decoder, None).await
    }

    /// [`Client::fetch_page_with`], offering the cursor the body names to
    /// `hint` as soon as the body is in (before it is decoded).
    pub(super) async fn fetch_page_hinted<D: PageDecoder>(
        &self,
        p: &Prepared,
        cursor: Option<&str>,
        decoder: &D,
        hint: Option<&Hint>,
    ) -> Result<Decoded<D::Output>> {
        self.ensure_api().await?;
        let path = Self::page_path(p, cursor);
        self.get_page(&path, decoder, p.fill_cache, hint).await
    }
}

/// `/api/v2/audiences/{id}/members` (the id encoded as one path segment).
pub(super) fn members_path(audience_id: &str) -> String {
    format!(
        "/api/v2/audiences/{}/members",
        filter::encode_component(audience_id)
    )
}
