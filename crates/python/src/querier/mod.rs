//! Python `Querier`: a thin shell over `cxone_cdp_core::api::Client`. Each
//! operation is one core async fn; its sync method waits on it through the
//! one sync bridge (`crate::bridge`), its `_async` twin returns the one kind
//! of awaitable (`crate::awaitable`). Arguments arrive typed and checked
//! (`crate::args`), results leave through pythonize (`out`) or the dict
//! builder (`listing`), errors through the one mapping (`crate::errors`).
//!
//! The methods are grouped by concept, one `#[pymethods]` block a file:
//! here the constructors, properties and local figures; the request and
//! answer calls in `calls`; the listings in `listing`.

mod build;
mod calls;
mod discover;
mod listing;
mod out;

use std::path::PathBuf;
use std::time::Duration;

use pyo3::prelude::*;
use pyo3::types::{PyDict, PyString, PyType};

use crate::args::{self, query, str_arg, AudienceId, Filters, Limit};
use crate::bridge::block_on;
use crate::errors::CdpResult;
use crate::runtime::{check_same_process, runtime};
use build::{opt_str, seconds};
use cxone_cdp_core::api::Client;
use cxone_cdp_core::config::{AuthMode, Config, RetryPolicy};
use cxone_cdp_core::error::Result;
use cxone_cdp_core::filter;
use out::{Counters, Pythonized};

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
    /// The process that made this Querier (its connection pool is that
    /// process's; see `runtime::check_same_process`).
    pub created_pid: u32,
}

impl Querier {
    /// The client, or after `os.fork()` a clear error (never the parent's
    /// connections).
    pub fn live_client(&self) -> Result<Client> {
        check_same_process(self.created_pid, "Querier")?;
        Ok(self.client.clone())
    }
}

#[pymethods]
impl Querier {
    #[new]
    #[pyo3(signature = (base_url, client_id, client_secret, *, token_url=None, scopes=None,
        timeout=60.0, connect_timeout=10.0, max_retries=3, backoff_base=0.5, backoff_max=8.0,
        retry_after_cap=60.0, cache_size=50, cache_ttl=120.0, cache_max_bytes=8388608,
        webhook_url=None, webhook_secret=None, audit_path=None, auth=None, access_key_id=None,
        access_key_secret=None, issuer=None, ca_bundle=None, proxy=None))]
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
        #[pyo3(from_py_with = args::count_usize)] cache_max_bytes: usize,
        #[pyo3(from_py_with = args::opt_str)] webhook_url: Option<String>,
        #[pyo3(from_py_with = args::opt_str)] webhook_secret: Option<String>,
        #[pyo3(from_py_with = args::opt_path)] audit_path: Option<PathBuf>,
        auth: Option<&Bound<'_, PyAny>>,
        access_key_id: Option<&Bound<'_, PyAny>>,
        access_key_secret: Option<&Bound<'_, PyAny>>,
        issuer: Option<&Bound<'_, PyAny>>,
        #[pyo3(from_py_with = args::opt_path)] ca_bundle: Option<PathBuf>,
        proxy: Option<&Bound<'_, PyAny>>,
    ) -> CdpResult<Self> {
        let mut config = Config::new(
            opt_str(Some(base_url), "base_url")?.unwrap_or_default(),
            str_arg(client_id, "client_id")?,
            str_arg(client_secret, "client_secret")?,
        );
        config.token_url = opt_str(token_url, "token_url")?;
        if let Some(s) = scopes.filter(|s| !s.is_none()) {
            config.scopes = build::scopes(s)?;
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
        config.cache_max_bytes = cache_max_bytes;
        config.webhook_url = webhook_url.filter(|u| !u.is_empty());
        config.webhook_secret = webhook_secret.filter(|s| !s.is_empty());
        config.audit_path = audit_path.filter(|p| !p.as_os_str().is_empty());
        config.auth = AuthMode::parse(
            opt_str(auth, "auth")?.as_deref(),
            opt_str(access_key_id, "access_key_id")?,
            opt_str(access_key_secret, "access_key_secret")?,
        )?;
        config.issuer = opt_str(issuer, "issuer")?;
        config.ca_bundle = ca_bundle.filter(|p| !p.as_os_str().is_empty());
        config.proxy = build::proxy(proxy)?;
        let _guard = runtime().enter();
        Ok(Querier {
            client: Client::new(config)?,
            created_pid: std::process::id(),
        })
    }

    /// Builds a Querier from `CXONE_CDP_BASE_URL`, `CXONE_CDP_TOKEN_URL`,
    /// `CXONE_CDP_CLIENT_ID` and `CXONE_CDP_CLIENT_SECRET` (and the other
    /// `CXONE_CDP_*` settings: `CXONE_CDP_CA_BUNDLE`, `CXONE_CDP_PROXY`, ...);
    /// keyword arguments override.
    #[classmethod]
    #[pyo3(signature = (**overrides))]
    fn from_env<'py>(
        cls: &Bound<'py, PyType>,
        overrides: Option<&Bound<'py, PyDict>>,
    ) -> CdpResult<Bound<'py, PyAny>> {
        build::from_env(cls, overrides)
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

    /// The CA bundle trusted besides the platform's roots (its path as
    /// given), if any.
    #[getter]
    fn ca_bundle(&self) -> Option<String> {
        let path = self.client.config().ca_bundle.as_ref()?;
        Some(path.to_string_lossy().into_owned())
    }

    /// The explicit proxy as `scheme://host:port` (never its credentials);
    /// `None`: the standard proxy variables apply.
    #[getter]
    fn proxy(&self) -> Option<String> {
        self.client.config().proxy.as_ref().map(|p| p.shown())
    }

    /// `Querier(base_url=..., client_id=..., auth=..., cache=...)` (and the
    /// proxy's host, when one is set): never a secret.
    fn __repr__(&self, py: Python<'_>) -> PyResult<String> {
        let c = self.client.config();
        let text = |s: &str| -> PyResult<String> { Ok(PyString::new(py, s).repr()?.to_string()) };
        let base = match self.client.base_url() {
            Some(b) => text(&b)?,
            None => "None".to_string(),
        };
        let mode = match &c.auth {
            AuthMode::ClientCredentials => ", auth='client_credentials'".to_string(),
            AuthMode::AccessKey { access_key_id, .. } => {
                format!(
                    ", auth='access_key', access_key_id={}",
                    text(access_key_id)?
                )
            }
        };
        let cache = if c.cache_size > 0 && !c.cache_ttl.is_zero() {
            "on"
        } else {
            "off"
        };
        let proxy = match &c.proxy {
            Some(p) => format!(", proxy={}", text(&p.shown())?),
            None => String::new(),
        };
        Ok(format!(
            "Querier(base_url={base}, client_id={}{mode}, cache='{cache}'{proxy})",
            text(&c.client_id)?
        ))
    }

    /// The metrics as a `cxone_cdp.Metrics` (a flat dict with an HTML view
    /// for notebooks): the tutorial keys `total`, `success`, `failed`,
    /// `latency_sum` included; latencies in ms, `None` until a query finished.
    fn metrics<'py>(&self, py: Python<'py>) -> CdpResult<Bound<'py, PyAny>> {
        let d = pythonize::pythonize(py, &self.client.metrics_snapshot())?;
        Ok(py
            .import("cxone_cdp._metrics")?
            .getattr("Metrics")?
            .call1((d,))?)
    }

    /// The same figures (and the cache's) in the Prometheus text format.
    fn metrics_prometheus(&self) -> String {
        self.client.metrics_prometheus()
    }

    /// Response cache counters and sizes: hits, misses, evictions,
    /// expirations, entries, bytes, capacity, ttl_secs.
    fn cache_stats(&self) -> Pythonized<cxone_cdp_core::cache::CacheStats> {
        Pythonized(self.client.cache_stats())
    }

    /// Drops every cached answer (counters are kept).
    fn clear_cache(&self) {
        self.client.clear_cache()
    }

    /// Raw request counters (http_requests, retries, rate_limited,
    /// tokens_fetched, auth_replays, bytes_received), read from the same
    /// metrics as `metrics()`.
    fn _counters(&self) -> Pythonized<Counters> {
        Pythonized(Counters::from(&self.client.metrics_snapshot()))
    }

    /// Total complexity of filters (local; raises ValidationError on bad input).
    #[staticmethod]
    #[pyo3(signature = (filters=None))]
    fn _complexity(filters: Option<Filters>) -> u32 {
        filter::complexity(&filters.unwrap_or_default().0)
    }

    /// Every check of (audience_id, filters, limit) that needs no request
    /// (raises ValidationError); for layers that must refuse bad input before
    /// their first request (compat).
    #[staticmethod]
    #[pyo3(signature = (audience_id, filters=None, limit=None))]
    fn _check_local(
        audience_id: AudienceId,
        filters: Option<Filters>,
        limit: Option<Limit>,
    ) -> CdpResult<()> {
        query(audience_id, filters, limit)?;
        Ok(())
    }
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
    let waited = block_on(py, async move {
        Ok(cxone_cdp_core::completion::wait_for_callbacks(timeout).await)
    });
    waited.map_err(PyErr::from)
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<Querier>()?;
    m.add_function(wrap_pyfunction!(_wait_for_callbacks, m)?)?;
    Ok(())
}
