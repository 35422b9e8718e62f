//! Python `Querier`: a thin shell over `crate::client::Client`. Each
//! operation is one core async fn; the sync method runs it with
//! `runtime::block_on` (GIL released, Ctrl-C honoured), the `_async` twin with
//! `runtime::into_awaitable`.

use std::time::Duration;

use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList, PyString, PyTuple, PyType};

use crate::client::{check_audience_id, check_limit, Client, Query};
use crate::config::{Config, RetryPolicy};
use crate::error::{Error, Result};
use crate::filter::{self, Filter};
use crate::py::convert::{filters_from_py, int_arg, str_arg, Builder, PyJson, PyPairs};
use crate::py::errors::to_pyerr;
use crate::py::iter::{Feed, MemberIterator, PageIterator};
use crate::py::runtime::{block_on, drop_later, into_awaitable, runtime};

/// Pages `members()` lets the background walk run ahead (it keeps every
/// member anyway, so there is no memory bound to protect).
const MEMBERS_PREFETCH: usize = 4;

/// Settings other parts of the package read (cache, webhook, audit).
#[derive(Clone, Default)]
pub struct Extras {
    pub cache_size: usize,
    pub cache_ttl: f64,
    pub webhook_url: Option<String>,
    pub webhook_secret: Option<String>,
    pub audit_path: Option<String>,
}

#[pyclass(module = "cxone_cdp._native", name = "Querier", frozen)]
pub struct Querier {
    pub client: Client,
    pub extras: Extras,
}

fn seconds(name: &str, v: f64) -> Result<Duration> {
    if v.is_finite() && v > 0.0 {
        Ok(Duration::from_secs_f64(v))
    } else {
        Err(Error::validation(format!(
            "{name} must be a positive number of seconds"
        )))
    }
}

/// The (audience, filters, limit) arguments, checked locally (no request).
fn query_args(
    audience_id: &Bound<'_, PyAny>,
    filters: Option<&Bound<'_, PyAny>>,
    limit: Option<&Bound<'_, PyAny>>,
) -> Result<Query> {
    let audience_id = str_arg(audience_id, "audience_id")?;
    check_audience_id(&audience_id)?;
    let filters = filters_from_py(filters)?;
    let limit = match limit {
        None => 1000,
        Some(l) => {
            let n = int_arg(l, "limit")?;
            let n = u32::try_from(n).unwrap_or(0);
            check_limit(n)?;
            n
        }
    };
    let q = Query::new(audience_id, filters, limit);
    q.check_local()?;
    Ok(q)
}

fn filter_args(
    audience_id: &Bound<'_, PyAny>,
    filters: Option<&Bound<'_, PyAny>>,
) -> Result<(String, Vec<Filter>)> {
    let q = query_args(audience_id, filters, None)?;
    Ok((q.audience_id, q.filters))
}

struct ValidationOut(crate::client::Validation);

impl<'py> IntoPyObject<'py> for ValidationOut {
    type Target = PyDict;
    type Output = Bound<'py, PyDict>;
    type Error = PyErr;
    fn into_pyobject(self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let d = PyDict::new(py);
        d.set_item("audience_id", self.0.audience_id)?;
        d.set_item("filters", self.0.filters)?;
        d.set_item("complexity", self.0.complexity)?;
        d.set_item("count", self.0.count)?;
        Ok(d)
    }
}

impl Querier {
    async fn attributes_op(client: Client, refresh: bool) -> Result<PyPairs> {
        let a = if refresh {
            client.refresh_attributes().await?
        } else {
            client.attributes().await?
        };
        Ok(PyPairs(a.items.clone()))
    }

    async fn validate_op(client: Client, q: Query, require_nonzero: bool) -> Result<ValidationOut> {
        client
            .validate(&q.audience_id, &q.filters, q.limit, require_nonzero)
            .await
            .map(ValidationOut)
    }

    fn webhook_args(events: &Bound<'_, PyAny>) -> Result<Vec<String>> {
        if events.is_instance_of::<PyString>() {
            return Err(Error::validation("events must be a list of str, not a str"));
        }
        let iter = events
            .try_iter()
            .map_err(|_| Error::validation("events must be a list of str"))?;
        iter.map(|e| {
            let e = e.map_err(|_| Error::validation("events must be a list of str"))?;
            str_arg(&e, "each event")
        })
        .collect()
    }
}

#[pymethods]
impl Querier {
    #[new]
    #[pyo3(signature = (base_url, client_id, client_secret, *, token_url=None, scopes=None,
        timeout=60.0, connect_timeout=10.0, max_retries=3, backoff_base=0.5, backoff_max=8.0,
        retry_after_cap=60.0, cache_size=50, cache_ttl=120.0, webhook_url=None,
        webhook_secret=None, audit_path=None))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        base_url: &Bound<'_, PyAny>,
        client_id: &Bound<'_, PyAny>,
        client_secret: &Bound<'_, PyAny>,
        token_url: Option<&Bound<'_, PyAny>>,
        scopes: Option<&Bound<'_, PyAny>>,
        timeout: f64,
        connect_timeout: f64,
        max_retries: u32,
        backoff_base: f64,
        backoff_max: f64,
        retry_after_cap: f64,
        cache_size: usize,
        cache_ttl: f64,
        webhook_url: Option<String>,
        webhook_secret: Option<String>,
        audit_path: Option<std::path::PathBuf>,
    ) -> PyResult<Self> {
        let build = || -> Result<Self> {
            let mut config = Config::new(
                str_arg(base_url, "base_url")?,
                str_arg(client_id, "client_id")?,
                str_arg(client_secret, "client_secret")?,
            );
            config.token_url = match token_url {
                Some(t) if !t.is_none() => Some(str_arg(t, "token_url")?),
                _ => None,
            };
            if let Some(s) = scopes.filter(|s| !s.is_none()) {
                if s.is_instance_of::<PyString>() {
                    config.scopes = str_arg(s, "scopes")?
                        .split_whitespace()
                        .map(str::to_string)
                        .collect();
                } else {
                    let iter = s
                        .try_iter()
                        .map_err(|_| Error::validation("scopes must be a sequence of str"))?;
                    config.scopes = iter
                        .map(|x| {
                            let x = x.map_err(|_| {
                                Error::validation("scopes must be a sequence of str")
                            })?;
                            str_arg(&x, "each scope")
                        })
                        .collect::<Result<_>>()?;
                }
            }
            config.timeout = seconds("timeout", timeout)?;
            config.connect_timeout = seconds("connect_timeout", connect_timeout)?;
            config.retry = RetryPolicy {
                max_retries,
                backoff_base,
                backoff_max,
                retry_after_cap,
            };
            let _guard = runtime().enter();
            let client = Client::new(config)?;
            Ok(Querier {
                client,
                extras: Extras {
                    cache_size,
                    cache_ttl,
                    webhook_url,
                    webhook_secret,
                    audit_path: audit_path.map(|p| p.to_string_lossy().into_owned()),
                },
            })
        };
        build().map_err(to_pyerr)
    }

    /// Builds a Querier from `CXONE_CDP_BASE_URL`, `CXONE_CDP_TOKEN_URL`,
    /// `CXONE_CDP_CLIENT_ID` and `CXONE_CDP_CLIENT_SECRET`; keyword
    /// arguments override.
    #[classmethod]
    #[pyo3(signature = (**overrides))]
    fn from_env<'py>(
        cls: &Bound<'py, PyType>,
        overrides: Option<&Bound<'py, PyDict>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let py = cls.py();
        let kwargs = match overrides {
            Some(o) => o.copy()?,
            None => PyDict::new(py),
        };
        let env = |k: &str| std::env::var(k).ok().filter(|v| !v.trim().is_empty());
        let mut positional = Vec::new();
        for (arg, var) in [
            ("base_url", "CXONE_CDP_BASE_URL"),
            ("client_id", "CXONE_CDP_CLIENT_ID"),
            ("client_secret", "CXONE_CDP_CLIENT_SECRET"),
        ] {
            match kwargs.get_item(arg)? {
                Some(v) => {
                    kwargs.del_item(arg)?;
                    positional.push(v);
                }
                None => match env(var) {
                    Some(v) => positional.push(PyString::new(py, &v).into_any()),
                    None => {
                        return Err(to_pyerr(Error::validation(format!(
                            "{arg} not given and environment variable {var} is not set"
                        ))))
                    }
                },
            }
        }
        if !kwargs.contains("token_url")? {
            if let Some(t) = env("CXONE_CDP_TOKEN_URL") {
                kwargs.set_item("token_url", t)?;
            }
        }
        cls.call(PyTuple::new(py, positional)?, Some(&kwargs))
    }

    #[getter]
    fn base_url(&self) -> String {
        self.client.config().base_url.clone()
    }

    #[getter]
    fn client_id(&self) -> String {
        self.client.config().client_id.clone()
    }

    fn __repr__(&self, py: Python<'_>) -> PyResult<String> {
        let c = self.client.config();
        Ok(format!(
            "Querier(base_url={}, client_id={})",
            PyString::new(py, &c.base_url).repr()?,
            PyString::new(py, &c.client_id).repr()?
        ))
    }

    /// The attribute schema (`name -> type`), fetched once and kept.
    fn attributes(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        let out = block_on(py, Self::attributes_op(self.client.clone(), false))?;
        Ok(out.into_pyobject(py)?.into_any().unbind())
    }

    fn attributes_async<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        into_awaitable(py, Self::attributes_op(self.client.clone(), false))
    }

    /// Fetches the schema again and keeps it.
    fn refresh_attributes(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        let out = block_on(py, Self::attributes_op(self.client.clone(), true))?;
        Ok(out.into_pyobject(py)?.into_any().unbind())
    }

    fn refresh_attributes_async<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        into_awaitable(py, Self::attributes_op(self.client.clone(), true))
    }

    #[pyo3(signature = (audience_id, filters=None))]
    fn count(
        &self,
        py: Python<'_>,
        audience_id: &Bound<'_, PyAny>,
        filters: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<u64> {
        let (aud, f) = filter_args(audience_id, filters).map_err(to_pyerr)?;
        let client = self.client.clone();
        block_on(py, async move { client.count(&aud, &f).await })
    }

    #[pyo3(signature = (audience_id, filters=None))]
    fn count_async<'py>(
        &self,
        py: Python<'py>,
        audience_id: &Bound<'py, PyAny>,
        filters: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let (aud, f) = filter_args(audience_id, filters).map_err(to_pyerr)?;
        let client = self.client.clone();
        into_awaitable(py, async move { client.count(&aud, &f).await })
    }

    #[pyo3(signature = (audience_id, filters=None, limit=None, *, require_nonzero=false))]
    fn validate(
        &self,
        py: Python<'_>,
        audience_id: &Bound<'_, PyAny>,
        filters: Option<&Bound<'_, PyAny>>,
        limit: Option<&Bound<'_, PyAny>>,
        require_nonzero: bool,
    ) -> PyResult<Py<PyAny>> {
        let q = query_args(audience_id, filters, limit).map_err(to_pyerr)?;
        let out = block_on(
            py,
            Self::validate_op(self.client.clone(), q, require_nonzero),
        )?;
        Ok(out.into_pyobject(py)?.into_any().unbind())
    }

    #[pyo3(signature = (audience_id, filters=None, limit=None, *, require_nonzero=false))]
    fn validate_async<'py>(
        &self,
        py: Python<'py>,
        audience_id: &Bound<'py, PyAny>,
        filters: Option<&Bound<'py, PyAny>>,
        limit: Option<&Bound<'py, PyAny>>,
        require_nonzero: bool,
    ) -> PyResult<Bound<'py, PyAny>> {
        let q = query_args(audience_id, filters, limit).map_err(to_pyerr)?;
        into_awaitable(
            py,
            Self::validate_op(self.client.clone(), q, require_nonzero),
        )
    }

    /// Every member matching the filters, as a list of dicts.
    #[pyo3(signature = (audience_id, filters=None, limit=None, *, query_id=None))]
    fn members(
        &self,
        py: Python<'_>,
        audience_id: &Bound<'_, PyAny>,
        filters: Option<&Bound<'_, PyAny>>,
        limit: Option<&Bound<'_, PyAny>>,
        query_id: Option<String>,
    ) -> PyResult<Py<PyAny>> {
        let _ = query_id;
        let q = query_args(audience_id, filters, limit).map_err(to_pyerr)?;
        // Pipelined: pages are fetched and parsed in the background while
        // this thread turns the previous ones into Python objects.
        let feed = Feed::start(self.client.clone(), q, None, MEMBERS_PREFETCH);
        let list = PyList::empty(py);
        loop {
            let f = feed.clone();
            match block_on(py, async move { Ok(f.recv().await) })? {
                None => return Ok(list.into_any().unbind()),
                Some(Err(e)) => return Err(to_pyerr(e)),
                Some(Ok(page)) => {
                    Builder::new(py).extend(&list, &page.items)?;
                    drop_later(page);
                }
            }
        }
    }

    #[pyo3(signature = (audience_id, filters=None, limit=None, *, query_id=None))]
    fn members_async<'py>(
        &self,
        py: Python<'py>,
        audience_id: &Bound<'py, PyAny>,
        filters: Option<&Bound<'py, PyAny>>,
        limit: Option<&Bound<'py, PyAny>>,
        query_id: Option<String>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let _ = query_id;
        let q = query_args(audience_id, filters, limit).map_err(to_pyerr)?;
        let feed = Feed::start(self.client.clone(), q, None, MEMBERS_PREFETCH);
        let list: Py<PyList> = PyList::empty(py).unbind();
        pyo3_async_runtimes::tokio::future_into_py(py, async move {
            loop {
                match feed.clone().recv().await {
                    None => return Ok(list),
                    Some(Err(e)) => return Err(to_pyerr(e)),
                    Some(Ok(page)) => {
                        Python::attach(|py| Builder::new(py).extend(list.bind(py), &page.items))?;
                        drop_later(page);
                    }
                }
            }
        })
    }

    /// Members one at a time (`for` or `async for`), fetched page by page in
    /// the background.
    #[pyo3(signature = (audience_id, filters=None, limit=None, *, query_id=None))]
    fn iter_members(
        &self,
        audience_id: &Bound<'_, PyAny>,
        filters: Option<&Bound<'_, PyAny>>,
        limit: Option<&Bound<'_, PyAny>>,
        query_id: Option<String>,
    ) -> PyResult<MemberIterator> {
        let _ = query_id;
        let q = query_args(audience_id, filters, limit).map_err(to_pyerr)?;
        Ok(MemberIterator::start(self.client.clone(), q))
    }

    /// Pages (`Page(items, cursor, next_cursor)`), from `cursor` if given.
    #[pyo3(signature = (audience_id, filters=None, limit=None, *, cursor=None))]
    fn iter_pages(
        &self,
        audience_id: &Bound<'_, PyAny>,
        filters: Option<&Bound<'_, PyAny>>,
        limit: Option<&Bound<'_, PyAny>>,
        cursor: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<PageIterator> {
        let q = query_args(audience_id, filters, limit).map_err(to_pyerr)?;
        let cursor = match cursor {
            Some(c) if !c.is_none() => {
                let c = str_arg(c, "cursor").map_err(to_pyerr)?;
                if c.is_empty() || c.chars().any(char::is_control) {
                    return Err(to_pyerr(Error::validation(
                        "cursor must be a non-empty token",
                    )));
                }
                Some(c)
            }
            _ => None,
        };
        Ok(PageIterator::start(self.client.clone(), q, cursor))
    }

    #[pyo3(signature = (name, url, events, enabled=true))]
    fn register_webhook(
        &self,
        py: Python<'_>,
        name: &Bound<'_, PyAny>,
        url: &Bound<'_, PyAny>,
        events: &Bound<'_, PyAny>,
        enabled: bool,
    ) -> PyResult<Py<PyAny>> {
        let (name, url) = (
            str_arg(name, "name").map_err(to_pyerr)?,
            str_arg(url, "url").map_err(to_pyerr)?,
        );
        let events = Self::webhook_args(events).map_err(to_pyerr)?;
        let client = self.client.clone();
        let out = block_on(py, async move {
            client.register_webhook(&name, &url, &events, enabled).await
        })?;
        Ok(PyJson(out).into_pyobject(py)?.unbind())
    }

    #[pyo3(signature = (name, url, events, enabled=true))]
    fn register_webhook_async<'py>(
        &self,
        py: Python<'py>,
        name: &Bound<'py, PyAny>,
        url: &Bound<'py, PyAny>,
        events: &Bound<'py, PyAny>,
        enabled: bool,
    ) -> PyResult<Bound<'py, PyAny>> {
        let (name, url) = (
            str_arg(name, "name").map_err(to_pyerr)?,
            str_arg(url, "url").map_err(to_pyerr)?,
        );
        let events = Self::webhook_args(events).map_err(to_pyerr)?;
        let client = self.client.clone();
        into_awaitable(py, async move {
            client
                .register_webhook(&name, &url, &events, enabled)
                .await
                .map(PyJson)
        })
    }

    /// Raw request counters (http_requests, retries, rate_limited,
    /// tokens_fetched, auth_replays, bytes_received).
    fn _counters<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let s = self.client.counter_snapshot();
        let d = PyDict::new(py);
        d.set_item("http_requests", s.http_requests)?;
        d.set_item("retries", s.retries)?;
        d.set_item("rate_limited", s.rate_limited)?;
        d.set_item("tokens_fetched", s.tokens_fetched)?;
        d.set_item("auth_replays", s.auth_replays)?;
        d.set_item("bytes_received", s.bytes_received)?;
        Ok(d)
    }

    /// Total complexity of filters (local; raises ValidationError on bad input).
    #[staticmethod]
    #[pyo3(signature = (filters=None))]
    fn _complexity(filters: Option<&Bound<'_, PyAny>>) -> PyResult<u32> {
        let f = filters_from_py(filters).map_err(to_pyerr)?;
        Ok(filter::complexity(&f))
    }

    /// Record batches, one per page (`for` or `async for`), fetched and
    /// decoded in the background at most two pages ahead.
    #[pyo3(signature = (audience_id, filters=None, limit=None))]
    fn iter_batches(
        &self,
        audience_id: &Bound<'_, PyAny>,
        filters: Option<&Bound<'_, PyAny>>,
        limit: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<crate::py::batches::BatchIterator> {
        let q = query_args(audience_id, filters, limit).map_err(to_pyerr)?;
        Ok(crate::py::batches::BatchIterator::start(
            self.client.clone(),
            q,
        ))
    }

    /// Every member as one Arrow table (`__arrow_c_stream__`).
    #[pyo3(signature = (audience_id, filters=None, limit=None))]
    fn members_arrow(
        &self,
        py: Python<'_>,
        audience_id: &Bound<'_, PyAny>,
        filters: Option<&Bound<'_, PyAny>>,
        limit: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Py<PyAny>> {
        let q = query_args(audience_id, filters, limit).map_err(to_pyerr)?;
        crate::py::batches::members_table(py, self.client.clone(), q)
    }

    #[pyo3(signature = (audience_id, filters=None, limit=None))]
    fn members_arrow_async<'py>(
        &self,
        py: Python<'py>,
        audience_id: &Bound<'py, PyAny>,
        filters: Option<&Bound<'py, PyAny>>,
        limit: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let q = query_args(audience_id, filters, limit).map_err(to_pyerr)?;
        crate::py::batches::members_table_async(py, self.client.clone(), q)
    }

    /// `members_arrow(...)` as a pandas DataFrame (needs pyarrow and pandas).
    #[pyo3(signature = (audience_id, filters=None, limit=None))]
    fn to_pandas(
        &self,
        py: Python<'_>,
        audience_id: &Bound<'_, PyAny>,
        filters: Option<&Bound<'_, PyAny>>,
        limit: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Py<PyAny>> {
        crate::py::batches::frame(py, "to_pandas", || {
            self.members_arrow(py, audience_id, filters, limit)
        })
    }

    /// `members_arrow(...)` as a polars DataFrame (needs polars).
    #[pyo3(signature = (audience_id, filters=None, limit=None))]
    fn to_polars(
        &self,
        py: Python<'_>,
        audience_id: &Bound<'_, PyAny>,
        filters: Option<&Bound<'_, PyAny>>,
        limit: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Py<PyAny>> {
        crate::py::batches::frame(py, "to_polars", || {
            self.members_arrow(py, audience_id, filters, limit)
        })
    }
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<Querier>()?;
    crate::py::iter::register(m)?;
    Ok(())
}
