//! Python `Querier`: a thin shell over `cxone_cdp_core::api::Client`. Each
//! operation is one core async fn; the sync method runs it with
//! `runtime::block_on` (GIL released, Ctrl-C honoured), the `_async` twin with
//! `runtime::into_awaitable`.

use std::time::Duration;

use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList, PyString, PyTuple, PyType};

use crate::args;
use crate::convert::{filters_from_py, int_arg, str_arg, GcPause, PyJson, PyPairs, TapeBuilder};
use crate::errors::to_pyerr;
use crate::iter::{tape_feed, MemberIterator, PageIterator};
use crate::partition::{plan_args, PlanOut};
use crate::runtime::{block_on, check_same_process, into_awaitable, runtime};
use cxone_cdp_core::api::{check_audience_id, check_limit, Client, Query};
use cxone_cdp_core::config::{Config, RetryPolicy};
use cxone_cdp_core::error::{Error, Result};
use cxone_cdp_core::filter::{self, Filter};

/// Pages `members()` lets the background walk run ahead of the conversion:
/// while Python turns page k into dicts, pages k+1 and k+2 are fetched and
/// decoded (a slot is taken before each fetch, so never more).
const MEMBERS_PREFETCH: usize = 2;

/// Settings other parts of the package read (cache, webhook, audit).
#[derive(Clone, Default)]
pub struct Extras {
    pub cache_size: usize,
    pub cache_ttl: f64,
    pub webhook_url: Option<String>,
    pub webhook_secret: Option<String>,
    pub audit_path: Option<String>,
}

/// A client for one CXone CDP tenant: audience counts, validation and
/// member listings, each as a sync method and an `_async` twin.
///
/// The sync methods release the GIL and never touch Python's event loop,
/// so they also work inside Jupyter; the `_async` twins return awaitables.
/// One Querier holds one token, one connection pool and one response cache:
/// share it across threads and tasks. The README lists the constructor
/// options; `Querier.from_env()` reads them from `CXONE_CDP_*` variables.
#[pyclass(module = "cxone_cdp._native", name = "Querier", frozen)]
pub struct Querier {
    pub client: Client,
    pub extras: Extras,
    /// The process that made this Querier (its connection pool is that
    /// process's; see `runtime::check_same_process`).
    pub created_pid: u32,
}

fn seconds(name: &str, v: f64) -> Result<Duration> {
    // try_from: a finite but huge value (1e300) must not panic.
    match Duration::try_from_secs_f64(v) {
        Ok(d) if v.is_finite() && v > 0.0 => Ok(d),
        _ => Err(Error::validation(format!(
            "{name} must be a positive number of seconds"
        ))),
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

struct ValidationOut(cxone_cdp_core::api::Validation);

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

    /// The client, or after `os.fork()` a clear error (never the parent's
    /// connections).
    fn live_client(&self) -> PyResult<Client> {
        check_same_process(self.created_pid, "Querier").map_err(to_pyerr)?;
        Ok(self.client.clone())
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
        webhook_secret=None, audit_path=None, auth=None, access_key_id=None,
        access_key_secret=None, issuer=None))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        base_url: &Bound<'_, PyAny>,
        client_id: &Bound<'_, PyAny>,
        client_secret: &Bound<'_, PyAny>,
        token_url: Option<&Bound<'_, PyAny>>,
        scopes: Option<&Bound<'_, PyAny>>,
        #[pyo3(from_py_with = args::number)] timeout: f64,
        #[pyo3(from_py_with = args::number)] connect_timeout: f64,
        #[pyo3(from_py_with = args::count_u32)] max_retries: u32,
        #[pyo3(from_py_with = args::number)] backoff_base: f64,
        #[pyo3(from_py_with = args::number)] backoff_max: f64,
        #[pyo3(from_py_with = args::number)] retry_after_cap: f64,
        #[pyo3(from_py_with = args::count_usize)] cache_size: usize,
        #[pyo3(from_py_with = args::non_negative_seconds)] cache_ttl: f64,
        #[pyo3(from_py_with = args::opt_str)] webhook_url: Option<String>,
        #[pyo3(from_py_with = args::opt_str)] webhook_secret: Option<String>,
        #[pyo3(from_py_with = args::opt_path)] audit_path: Option<std::path::PathBuf>,
        auth: Option<&Bound<'_, PyAny>>,
        access_key_id: Option<&Bound<'_, PyAny>>,
        access_key_secret: Option<&Bound<'_, PyAny>>,
        issuer: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Self> {
        let build = || -> Result<Self> {
            let mut config = Config::new(
                opt_str_arg(Some(base_url), "base_url")?.unwrap_or_default(),
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
            config.cache_size = cache_size;
            config.cache_ttl = cxone_cdp_core::cache::ttl_from_secs(cache_ttl)?;
            config.webhook_url = webhook_url.clone().filter(|u| !u.is_empty());
            config.webhook_secret = webhook_secret.clone().filter(|s| !s.is_empty());
            config.audit_path = audit_path.clone().filter(|p| !p.as_os_str().is_empty());
            apply_auth(&mut config, auth, access_key_id, access_key_secret, issuer)?;
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
                created_pid: std::process::id(),
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
        for (arg, var) in AUTH_ENV {
            if !kwargs.contains(arg)? {
                if let Some(v) = env(var) {
                    kwargs.set_item(arg, v)?;
                }
            }
        }
        // With an issuer the base URL may be left out: it is discovered.
        if !kwargs.contains("base_url")?
            && env("CXONE_CDP_BASE_URL").is_none()
            && kwargs.get_item("issuer")?.is_some_and(|v| !v.is_none())
        {
            kwargs.set_item("base_url", py.None())?;
        }
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
        for (arg, var) in [
            ("token_url", "CXONE_CDP_TOKEN_URL"),
            ("webhook_url", "CXONE_CDP_WEBHOOK_URL"),
            ("webhook_secret", "CXONE_CDP_WEBHOOK_SECRET"),
            ("audit_path", "CXONE_CDP_AUDIT_PATH"),
        ] {
            if !kwargs.contains(arg)? {
                if let Some(t) = env(var) {
                    kwargs.set_item(arg, t)?;
                }
            }
        }
        cls.call(PyTuple::new(py, positional)?, Some(&kwargs))
    }

    /// The API base URL: as given, or discovered (`None` until discovery ran).
    #[getter]
    fn base_url(&self) -> Option<String> {
        self.client.base_url()
    }

    /// The OAuth client id (never the secret).
    #[getter]
    fn client_id(&self) -> String {
        self.client.config().client_id.clone()
    }

    /// `Querier(base_url=..., client_id=..., auth=..., cache=...)`: never a secret.
    fn __repr__(&self, py: Python<'_>) -> PyResult<String> {
        let c = self.client.config();
        let base = match self.client.base_url() {
            Some(b) => PyString::new(py, &b).repr()?.to_string(),
            None => "None".to_string(),
        };
        let mode = match &c.auth {
            cxone_cdp_core::config::AuthMode::ClientCredentials => {
                ", auth='client_credentials'".to_string()
            }
            cxone_cdp_core::config::AuthMode::AccessKey { access_key_id, .. } => format!(
                ", auth='access_key', access_key_id={}",
                PyString::new(py, access_key_id).repr()?
            ),
        };
        let cache = if self.extras.cache_size > 0 && self.extras.cache_ttl > 0.0 {
            "on"
        } else {
            "off"
        };
        Ok(format!(
            "Querier(base_url={base}, client_id={}{mode}, cache='{cache}')",
            PyString::new(py, &c.client_id).repr()?
        ))
    }

    /// The attribute schema (`name -> type`), fetched once and kept.
    fn attributes(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        let out = block_on(py, Self::attributes_op(self.live_client()?, false))?;
        Ok(out.into_pyobject(py)?.into_any().unbind())
    }

    /// `await q.attributes_async()`: the attribute schema, like `attributes()`.
    fn attributes_async<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        into_awaitable(py, Self::attributes_op(self.live_client()?, false))
    }

    /// Fetches the schema again and keeps it.
    fn refresh_attributes(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        let out = block_on(py, Self::attributes_op(self.live_client()?, true))?;
        Ok(out.into_pyobject(py)?.into_any().unbind())
    }

    /// `await q.refresh_attributes_async()`: like `refresh_attributes()`.
    fn refresh_attributes_async<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        into_awaitable(py, Self::attributes_op(self.live_client()?, true))
    }

    /// The number of members of `audience_id` matching `filters` (a list of
    /// `(attribute, operator, value)` tuples, ANDed). Filters are checked
    /// against the schema before any request (`ValidationError`).
    #[pyo3(signature = (audience_id, filters=None))]
    fn count(
        &self,
        py: Python<'_>,
        audience_id: &Bound<'_, PyAny>,
        filters: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<u64> {
        let (aud, f) = filter_args(audience_id, filters).map_err(to_pyerr)?;
        let client = self.live_client()?;
        block_on(py, async move { client.count(&aud, &f).await })
    }

    /// `await q.count_async(audience_id, filters)`: like `count()`.
    #[pyo3(signature = (audience_id, filters=None))]
    fn count_async<'py>(
        &self,
        py: Python<'py>,
        audience_id: &Bound<'py, PyAny>,
        filters: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let (aud, f) = filter_args(audience_id, filters).map_err(to_pyerr)?;
        let client = self.live_client()?;
        into_awaitable(py, async move { client.count(&aud, &f).await })
    }

    /// Checks a query without listing it: the filters against the schema,
    /// their complexity, the limit, and that the audience exists (one count
    /// request). Returns `{"audience_id", "filters", "complexity", "count"}`;
    /// with `require_nonzero=True` an empty result raises `ValidationError`.
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
            Self::validate_op(self.live_client()?, q, require_nonzero),
        )?;
        Ok(out.into_pyobject(py)?.into_any().unbind())
    }

    /// `await q.validate_async(...)`: like `validate()`.
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
            Self::validate_op(self.live_client()?, q, require_nonzero),
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
        let q = query_args(audience_id, filters, limit).map_err(to_pyerr)?;
        // Pipelined: pages are fetched and parsed in the background while
        // this thread turns the previous ones into Python objects.
        let feed = tape_feed(self.live_client()?, q, None, MEMBERS_PREFETCH, query_id);
        let list = PyList::empty(py);
        loop {
            let f = feed.clone();
            match block_on(py, async move { Ok(f.recv().await) })? {
                None => return Ok(list.into_any().unbind()),
                Some(Err(e)) => return Err(to_pyerr(e)),
                Some(Ok(page)) => {
                    let _pause = GcPause::new(py);
                    TapeBuilder::new(py, &page.data).extend(&list)?;
                }
            }
        }
    }

    /// `await q.members_async(...)`: like `members()`, without blocking the loop.
    #[pyo3(signature = (audience_id, filters=None, limit=None, *, query_id=None))]
    fn members_async<'py>(
        &self,
        py: Python<'py>,
        audience_id: &Bound<'py, PyAny>,
        filters: Option<&Bound<'py, PyAny>>,
        limit: Option<&Bound<'py, PyAny>>,
        query_id: Option<String>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let q = query_args(audience_id, filters, limit).map_err(to_pyerr)?;
        let feed = tape_feed(self.live_client()?, q, None, MEMBERS_PREFETCH, query_id);
        let list: Py<PyList> = PyList::empty(py).unbind();
        crate::runtime::future_into_py(py, async move {
            loop {
                match feed.clone().recv().await {
                    None => return Ok(list),
                    Some(Err(e)) => return Err(to_pyerr(e)),
                    Some(Ok(page)) => {
                        Python::attach(|py| {
                            let _pause = GcPause::new(py);
                            TapeBuilder::new(py, &page.data).extend(list.bind(py))
                        })?;
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
        let q = query_args(audience_id, filters, limit).map_err(to_pyerr)?;
        Ok(MemberIterator::start_with_id(
            self.live_client()?,
            q,
            query_id,
        ))
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
        Ok(PageIterator::start(self.live_client()?, q, cursor))
    }

    /// Registers a webhook (`POST /api/v2/webhooks`) for `events`; returns
    /// the server's registration.
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
        let client = self.live_client()?;
        let out = block_on(py, async move {
            client.register_webhook(&name, &url, &events, enabled).await
        })?;
        Ok(PyJson(out).into_pyobject(py)?.unbind())
    }

    /// `await q.register_webhook_async(...)`: like `register_webhook()`.
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
        let client = self.live_client()?;
        into_awaitable(py, async move {
            client
                .register_webhook(&name, &url, &events, enabled)
                .await
                .map(PyJson)
        })
    }

    /// Raw request counters (http_requests, retries, rate_limited,
    /// tokens_fetched, auth_replays, bytes_received), read from the same
    /// metrics as `metrics()`.
    fn _counters<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let s = self.client.metrics_snapshot();
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

    // ---- issue 9: auth modes and discovery ----

    /// `"client_credentials"` or `"access_key"`.
    #[getter]
    fn auth(&self) -> &'static str {
        self.client.auth_mode()
    }

    /// The issuer used for discovery, if any.
    #[getter]
    fn issuer(&self) -> Option<String> {
        self.client.config().issuer.clone()
    }

    /// The area (from discovery), if known.
    #[getter]
    fn area(&self) -> Option<String> {
        self.client.area()
    }

    /// A Querier whose token endpoint and API base URL come from discovery
    /// against `issuer` (default: the usual CXone issuer), resolved now;
    /// explicit `base_url` / `token_url` win (their documents are not asked for).
    #[classmethod]
    #[pyo3(signature = (issuer=None, *, client_id, client_secret, auth=None, access_key_id=None,
        access_key_secret=None, base_url=None, token_url=None, **options))]
    #[allow(clippy::too_many_arguments)]
    fn discover<'py>(
        cls: &Bound<'py, PyType>,
        issuer: Option<&Bound<'py, PyAny>>,
        client_id: &Bound<'py, PyAny>,
        client_secret: &Bound<'py, PyAny>,
        auth: Option<&Bound<'py, PyAny>>,
        access_key_id: Option<&Bound<'py, PyAny>>,
        access_key_secret: Option<&Bound<'py, PyAny>>,
        base_url: Option<&Bound<'py, PyAny>>,
        token_url: Option<&Bound<'py, PyAny>>,
        options: Option<&Bound<'py, PyDict>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let q = discover_build(
            cls,
            [
                issuer,
                auth,
                access_key_id,
                access_key_secret,
                base_url,
                token_url,
            ],
            client_id,
            client_secret,
            options,
        )?;
        let client = q.cast::<Querier>()?.get().client.clone();
        block_on(cls.py(), async move { client.discover().await })?;
        Ok(q)
    }

    /// `await Querier.discover_async(...)`: like `discover`, without blocking.
    #[classmethod]
    #[pyo3(signature = (issuer=None, *, client_id, client_secret, auth=None, access_key_id=None,
        access_key_secret=None, base_url=None, token_url=None, **options))]
    #[allow(clippy::too_many_arguments)]
    fn discover_async<'py>(
        cls: &Bound<'py, PyType>,
        issuer: Option<&Bound<'py, PyAny>>,
        client_id: &Bound<'py, PyAny>,
        client_secret: &Bound<'py, PyAny>,
        auth: Option<&Bound<'py, PyAny>>,
        access_key_id: Option<&Bound<'py, PyAny>>,
        access_key_secret: Option<&Bound<'py, PyAny>>,
        base_url: Option<&Bound<'py, PyAny>>,
        token_url: Option<&Bound<'py, PyAny>>,
        options: Option<&Bound<'py, PyDict>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let q = discover_build(
            cls,
            [
                issuer,
                auth,
                access_key_id,
                access_key_secret,
                base_url,
                token_url,
            ],
            client_id,
            client_secret,
            options,
        )?;
        let client = q.cast::<Querier>()?.get().client.clone();
        let q = q.unbind();
        into_awaitable(cls.py(), async move {
            client.discover().await?;
            Ok(q)
        })
    }

    // --- issue 5: metrics, cache ---

    /// The metrics as a flat dict (tutorial keys `total`, `success`,
    /// `failed`, `latency_sum` included; latencies in ms, `None` until a
    /// query finished).
    /// A `cxone_cdp.Metrics` (a dict with an HTML view for notebooks).
    fn metrics<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let d = flat_dict(py, &self.client.metrics_snapshot())?;
        py.import("cxone_cdp._metrics")?
            .getattr("Metrics")?
            .call1((d,))
    }

    /// The same figures (and the cache's) in the Prometheus text format.
    fn metrics_prometheus(&self) -> String {
        self.client.metrics_prometheus()
    }

    /// Response cache counters and sizes: hits, misses, evictions,
    /// expirations, entries, bytes, capacity, ttl_secs.
    fn cache_stats<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        flat_dict(py, &self.client.cache_stats())
    }

    /// Drops every cached answer (counters are kept).
    fn clear_cache(&self) {
        self.client.clear_cache()
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
        audience_id: &Bound<'_, PyAny>,
        filters: Option<&Bound<'_, PyAny>>,
        by: &Bound<'_, PyAny>,
        partitions: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Py<PyAny>> {
        let (aud, f, by, n) = plan_args(audience_id, filters, by, partitions).map_err(to_pyerr)?;
        let client = self.live_client()?;
        let plan = block_on(py, async move {
            cxone_cdp_core::partition::plan_partitions(&client, &aud, &f, &by, n)
                .await
                .map(PlanOut)
        })?;
        Ok(plan.into_pyobject(py)?.into_any().unbind())
    }

    /// `await q.plan_partitions_async(...)`: like `plan_partitions()`.
    #[pyo3(signature = (audience_id, filters=None, *, by, partitions=None),
        text_signature = "(self, audience_id, filters=None, *, by, partitions=8)")]
    fn plan_partitions_async<'py>(
        &self,
        py: Python<'py>,
        audience_id: &Bound<'py, PyAny>,
        filters: Option<&Bound<'py, PyAny>>,
        by: &Bound<'py, PyAny>,
        partitions: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let (aud, f, by, n) = plan_args(audience_id, filters, by, partitions).map_err(to_pyerr)?;
        let client = self.live_client()?;
        into_awaitable(py, async move {
            cxone_cdp_core::partition::plan_partitions(&client, &aud, &f, &by, n)
                .await
                .map(PlanOut)
        })
    }

    /// Every check of (audience_id, filters, limit) that needs no request
    /// (raises ValidationError); for layers that must refuse bad input before
    /// their first request (compat).
    #[staticmethod]
    #[pyo3(signature = (audience_id, filters=None, limit=None))]
    fn _check_local(
        audience_id: &Bound<'_, PyAny>,
        filters: Option<&Bound<'_, PyAny>>,
        limit: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<()> {
        query_args(audience_id, filters, limit)
            .map(drop)
            .map_err(to_pyerr)
    }

    // ---- issue 6: Arrow output ----

    /// Record batches, one per page (`for` or `async for`), fetched and
    /// decoded in the background at most two pages ahead.
    #[pyo3(signature = (audience_id, filters=None, limit=None))]
    fn iter_batches(
        &self,
        audience_id: &Bound<'_, PyAny>,
        filters: Option<&Bound<'_, PyAny>>,
        limit: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<crate::batches::BatchIterator> {
        let q = query_args(audience_id, filters, limit).map_err(to_pyerr)?;
        Ok(crate::batches::BatchIterator::start(self.live_client()?, q))
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
        crate::batches::members_table(py, self.live_client()?, q)
    }

    /// `await q.members_arrow_async(...)`: like `members_arrow()`.
    #[pyo3(signature = (audience_id, filters=None, limit=None))]
    fn members_arrow_async<'py>(
        &self,
        py: Python<'py>,
        audience_id: &Bound<'py, PyAny>,
        filters: Option<&Bound<'py, PyAny>>,
        limit: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let q = query_args(audience_id, filters, limit).map_err(to_pyerr)?;
        crate::batches::members_table_async(py, self.live_client()?, q)
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
        crate::batches::frame(py, "to_pandas", || {
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
        crate::batches::frame(py, "to_polars", || {
            self.members_arrow(py, audience_id, filters, limit)
        })
    }
}

/// `(keyword, environment variable)` pairs `from_env` reads for auth and discovery.
const AUTH_ENV: [(&str, &str); 4] = [
    ("auth", "CXONE_CDP_AUTH"),
    ("access_key_id", "CXONE_CDP_ACCESS_KEY_ID"),
    ("access_key_secret", "CXONE_CDP_ACCESS_KEY_SECRET"),
    ("issuer", "CXONE_CDP_ISSUER"),
];

/// An optional str argument (`None` stays `None`).
fn opt_str_arg(v: Option<&Bound<'_, PyAny>>, name: &str) -> Result<Option<String>> {
    match v {
        Some(v) if !v.is_none() => str_arg(v, name).map(Some),
        _ => Ok(None),
    }
}

/// Sets the auth mode and issuer from the constructor's keywords (checked
/// with the rest of the config before any request).
fn apply_auth(
    config: &mut Config,
    auth: Option<&Bound<'_, PyAny>>,
    access_key_id: Option<&Bound<'_, PyAny>>,
    access_key_secret: Option<&Bound<'_, PyAny>>,
    issuer: Option<&Bound<'_, PyAny>>,
) -> Result<()> {
    config.auth = cxone_cdp_core::config::AuthMode::parse(
        opt_str_arg(auth, "auth")?.as_deref(),
        opt_str_arg(access_key_id, "access_key_id")?,
        opt_str_arg(access_key_secret, "access_key_secret")?,
    )?;
    config.issuer = opt_str_arg(issuer, "issuer")?;
    Ok(())
}

/// `cls(base_url, client_id, client_secret, issuer=..., ...)` for `discover`:
/// the issuer defaults to `DEFAULT_ISSUER`; `None` values are left out.
fn discover_build<'py>(
    cls: &Bound<'py, PyType>,
    named: [Option<&Bound<'py, PyAny>>; 6],
    client_id: &Bound<'py, PyAny>,
    client_secret: &Bound<'py, PyAny>,
    options: Option<&Bound<'py, PyDict>>,
) -> PyResult<Bound<'py, PyAny>> {
    let py = cls.py();
    let kwargs = match options {
        Some(o) => o.copy()?,
        None => PyDict::new(py),
    };
    let [issuer, auth, key_id, key_secret, base_url, token_url] = named;
    let issuer = match issuer.filter(|i| !i.is_none()) {
        Some(i) => i.clone(),
        None => PyString::new(py, cxone_cdp_core::auth::discovery::DEFAULT_ISSUER).into_any(),
    };
    kwargs.set_item("issuer", issuer)?;
    for (k, v) in [
        ("auth", auth),
        ("access_key_id", key_id),
        ("access_key_secret", key_secret),
        ("token_url", token_url),
    ] {
        if let Some(v) = v.filter(|v| !v.is_none()) {
            kwargs.set_item(k, v)?;
        }
    }
    let base = match base_url {
        Some(b) => b.clone(),
        None => py.None().into_bound(py),
    };
    cls.call(
        PyTuple::new(py, [base, client_id.clone(), client_secret.clone()])?,
        Some(&kwargs),
    )
}

/// A serde struct of numbers (and nulls) as a Python dict.
fn flat_dict<'py, T: serde::Serialize>(py: Python<'py>, value: &T) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    if let Ok(serde_json::Value::Object(map)) = serde_json::to_value(value) {
        for (k, v) in map {
            match v {
                serde_json::Value::Number(n) => match n.as_u64() {
                    Some(u) => d.set_item(k, u)?,
                    None => d.set_item(k, n.as_f64())?,
                },
                serde_json::Value::Bool(b) => d.set_item(k, b)?,
                serde_json::Value::String(s) => d.set_item(k, s)?,
                _ => d.set_item(k, py.None())?,
            }
        }
    }
    Ok(d)
}

/// Waits (GIL released) until no completion callback is being delivered,
/// at most `timeout` seconds; returns whether all were done. Registered
/// with `atexit` so a script that exits right after a listing still sends
/// its callback.
#[pyfunction]
#[pyo3(signature = (timeout=5.0))]
fn _wait_for_callbacks(py: Python<'_>, timeout: f64) -> PyResult<bool> {
    let timeout = Duration::try_from_secs_f64(timeout.max(0.0)).unwrap_or(Duration::from_secs(5));
    if cxone_cdp_core::completion::callbacks_in_flight() == 0 {
        return Ok(true);
    }
    block_on(py, async move {
        Ok(cxone_cdp_core::completion::wait_for_callbacks(timeout).await)
    })
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<Querier>()?;
    m.add_function(wrap_pyfunction!(_wait_for_callbacks, m)?)?;
    crate::iter::register(m)?;
    Ok(())
}
