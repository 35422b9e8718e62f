//! The `Querier`'s request-and-answer calls, each a sync method and an
//! `_async` twin over one core async fn: the schema, counts, validation,
//! webhook registration and partition planning. (Discovery, which makes a
//! Querier, is in `discover`.)

use pyo3::prelude::*;

use super::out::{AttributeMap, Pythonized, ValidationOut};
use super::Querier;
use crate::args::{query, str_arg, AudienceId, Events, Filters, Limit};
use crate::awaitable::awaitable;
use crate::bridge::block_on;
use crate::errors::{CdpError, CdpResult};
use crate::partition::{plan_args, PlanOut};
use cxone_cdp_core::api::{Client, Query};
use cxone_cdp_core::error::Result;

async fn attributes(client: Client, refresh: bool) -> Result<Pythonized<AttributeMap>> {
    let a = if refresh {
        client.refresh_attributes().await?
    } else {
        client.attributes().await?
    };
    Ok(Pythonized(AttributeMap(a)))
}

async fn validate(
    client: Client,
    q: Query,
    require_nonzero: bool,
) -> Result<Pythonized<ValidationOut>> {
    let v = client
        .validate(&q.audience_id, &q.filters, q.limit, require_nonzero)
        .await?;
    Ok(Pythonized(ValidationOut::from(v)))
}

async fn webhook(
    client: Client,
    name: String,
    url: String,
    events: Vec<String>,
    enabled: bool,
) -> Result<Pythonized<serde_json::Value>> {
    let reg = client
        .register_webhook(&name, &url, &events, enabled)
        .await?;
    Ok(Pythonized(reg.to_value()))
}

/// A core result as the result of an async twin's future.
async fn lift<T>(fut: impl std::future::Future<Output = Result<T>>) -> CdpResult<T> {
    fut.await.map_err(CdpError::from)
}

#[pymethods]
impl Querier {
    /// The attribute schema (`name -> type`), fetched once and kept.
    fn attributes(&self, py: Python<'_>) -> CdpResult<Pythonized<AttributeMap>> {
        block_on(py, attributes(self.live_client()?, false))
    }

    /// `await q.attributes_async()`: the attribute schema, like `attributes()`.
    fn attributes_async<'py>(&self, py: Python<'py>) -> CdpResult<Bound<'py, PyAny>> {
        Ok(awaitable(py, lift(attributes(self.live_client()?, false)))?)
    }

    /// Fetches the schema again and keeps it.
    fn refresh_attributes(&self, py: Python<'_>) -> CdpResult<Pythonized<AttributeMap>> {
        block_on(py, attributes(self.live_client()?, true))
    }

    /// `await q.refresh_attributes_async()`: like `refresh_attributes()`.
    fn refresh_attributes_async<'py>(&self, py: Python<'py>) -> CdpResult<Bound<'py, PyAny>> {
        Ok(awaitable(py, lift(attributes(self.live_client()?, true)))?)
    }

    /// The number of members of `audience_id` matching `filters` (a list of
    /// `(attribute, operator, value)` tuples, ANDed). Filters are checked
    /// against the schema before any request (`ValidationError`).
    #[pyo3(signature = (audience_id, filters=None))]
    fn count(
        &self,
        py: Python<'_>,
        audience_id: AudienceId,
        filters: Option<Filters>,
    ) -> CdpResult<u64> {
        let q = query(audience_id, filters, None)?;
        let client = self.live_client()?;
        block_on(
            py,
            async move { client.count(&q.audience_id, &q.filters).await },
        )
    }

    /// `await q.count_async(audience_id, filters)`: like `count()`.
    #[pyo3(signature = (audience_id, filters=None))]
    fn count_async<'py>(
        &self,
        py: Python<'py>,
        audience_id: AudienceId,
        filters: Option<Filters>,
    ) -> CdpResult<Bound<'py, PyAny>> {
        let q = query(audience_id, filters, None)?;
        let client = self.live_client()?;
        Ok(awaitable(
            py,
            lift(async move { client.count(&q.audience_id, &q.filters).await }),
        )?)
    }

    /// Checks a query without listing it: the filters against the schema,
    /// their complexity, the limit, and that the audience exists (one count
    /// request). Returns `{"audience_id", "filters", "complexity", "count"}`;
    /// with `require_nonzero=True` an empty result raises `ValidationError`.
    #[pyo3(signature = (audience_id, filters=None, limit=None, *, require_nonzero=false))]
    fn validate(
        &self,
        py: Python<'_>,
        audience_id: AudienceId,
        filters: Option<Filters>,
        limit: Option<Limit>,
        require_nonzero: bool,
    ) -> CdpResult<Pythonized<ValidationOut>> {
        let q = query(audience_id, filters, limit)?;
        block_on(py, validate(self.live_client()?, q, require_nonzero))
    }

    /// `await q.validate_async(...)`: like `validate()`.
    #[pyo3(signature = (audience_id, filters=None, limit=None, *, require_nonzero=false))]
    fn validate_async<'py>(
        &self,
        py: Python<'py>,
        audience_id: AudienceId,
        filters: Option<Filters>,
        limit: Option<Limit>,
        require_nonzero: bool,
    ) -> CdpResult<Bound<'py, PyAny>> {
        let q = query(audience_id, filters, limit)?;
        let fut = validate(self.live_client()?, q, require_nonzero);
        Ok(awaitable(py, lift(fut))?)
    }

    /// Registers a webhook (`POST /api/v2/webhooks`) for `events`; returns
    /// the server's registration.
    #[pyo3(signature = (name, url, events, enabled=true))]
    fn register_webhook(
        &self,
        py: Python<'_>,
        name: &Bound<'_, PyAny>,
        url: &Bound<'_, PyAny>,
        events: Events,
        enabled: bool,
    ) -> CdpResult<Pythonized<serde_json::Value>> {
        let (name, url) = (str_arg(name, "name")?, str_arg(url, "url")?);
        block_on(
            py,
            webhook(self.live_client()?, name, url, events.0, enabled),
        )
    }

    /// `await q.register_webhook_async(...)`: like `register_webhook()`.
    #[pyo3(signature = (name, url, events, enabled=true))]
    fn register_webhook_async<'py>(
        &self,
        py: Python<'py>,
        name: &Bound<'py, PyAny>,
        url: &Bound<'py, PyAny>,
        events: Events,
        enabled: bool,
    ) -> CdpResult<Bound<'py, PyAny>> {
        let (name, url) = (str_arg(name, "name")?, str_arg(url, "url")?);
        let fut = webhook(self.live_client()?, name, url, events.0, enabled);
        Ok(awaitable(py, lift(fut))?)
    }

    /// Splits a query into about `partitions` disjoint sub-queries of
    /// roughly equal size on attribute `by` (number, date or string), found
    /// with count requests and verified (their counts add up to the query's)
    /// before it returns. A list of plain dicts: `index`, `audience_id`, `by`,
    /// `filters` (the caller's plus the partition's own), `expected_count`.
    #[pyo3(signature = (audience_id, filters=None, *, by, partitions=None),
        text_signature = "(self, audience_id, filters=None, *, by, partitions=8)")]
    fn plan_partitions(
        &self,
        py: Python<'_>,
        audience_id: AudienceId,
        filters: Option<Filters>,
        by: &Bound<'_, PyAny>,
        partitions: Option<&Bound<'_, PyAny>>,
    ) -> CdpResult<PlanOut> {
        let plan = plan_args(audience_id, filters, by, partitions)?;
        block_on(py, plan.run(self.live_client()?))
    }

    /// `await q.plan_partitions_async(...)`: like `plan_partitions()`.
    #[pyo3(signature = (audience_id, filters=None, *, by, partitions=None),
        text_signature = "(self, audience_id, filters=None, *, by, partitions=8)")]
    fn plan_partitions_async<'py>(
        &self,
        py: Python<'py>,
        audience_id: AudienceId,
        filters: Option<Filters>,
        by: &Bound<'py, PyAny>,
        partitions: Option<&Bound<'py, PyAny>>,
    ) -> CdpResult<Bound<'py, PyAny>> {
        let plan = plan_args(audience_id, filters, by, partitions)?;
        Ok(awaitable(py, lift(plan.run(self.live_client()?)))?)
    }
}
