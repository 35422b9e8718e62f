//! Making a `Querier`: the constructor's options into a checked core
//! `Config` (nothing is sent), `from_env`'s environment variables, and the
//! keyword arguments `discover` passes on.

use std::path::PathBuf;
use std::time::Duration;

use pyo3::prelude::*;
use pyo3::types::{PyDict, PyString, PyTuple, PyType};

use crate::args::str_arg;
use crate::errors::CdpResult;
use cxone_cdp_core::config::{AuthMode, Config, RetryPolicy};
use cxone_cdp_core::error::{Error, Result};

/// The constructor's arguments, as extracted (types already checked).
pub struct Options<'a, 'py> {
    pub base_url: &'a Bound<'py, PyAny>,
    pub client_id: &'a Bound<'py, PyAny>,
    pub client_secret: &'a Bound<'py, PyAny>,
    pub token_url: Option<&'a Bound<'py, PyAny>>,
    pub scopes: Option<&'a Bound<'py, PyAny>>,
    pub timeout: f64,
    pub connect_timeout: f64,
    pub retry: RetryPolicy,
    pub cache_size: usize,
    pub cache_ttl: f64,
    pub webhook_url: Option<String>,
    pub webhook_secret: Option<String>,
    pub audit_path: Option<PathBuf>,
    pub auth: Option<&'a Bound<'py, PyAny>>,
    pub access_key_id: Option<&'a Bound<'py, PyAny>>,
    pub access_key_secret: Option<&'a Bound<'py, PyAny>>,
    pub issuer: Option<&'a Bound<'py, PyAny>>,
}

impl Options<'_, '_> {
    /// The checked client configuration.
    pub fn config(&self) -> Result<Config> {
        let mut config = Config::new(
            opt_str(Some(self.base_url), "base_url")?.unwrap_or_default(),
            str_arg(self.client_id, "client_id")?,
            str_arg(self.client_secret, "client_secret")?,
        );
        config.token_url = opt_str(self.token_url, "token_url")?;
        if let Some(s) = self.scopes.filter(|s| !s.is_none()) {
            config.scopes = scopes(s)?;
        }
        config.timeout = seconds("timeout", self.timeout)?;
        config.connect_timeout = seconds("connect_timeout", self.connect_timeout)?;
        config.retry = self.retry;
        config.cache_size = self.cache_size;
        config.cache_ttl = cxone_cdp_core::cache::ttl_from_secs(self.cache_ttl)?;
        config.webhook_url = self.webhook_url.clone().filter(|u| !u.is_empty());
        config.webhook_secret = self.webhook_secret.clone().filter(|s| !s.is_empty());
        config.audit_path = self
            .audit_path
            .clone()
            .filter(|p| !p.as_os_str().is_empty());
        config.auth = AuthMode::parse(
            opt_str(self.auth, "auth")?.as_deref(),
            opt_str(self.access_key_id, "access_key_id")?,
            opt_str(self.access_key_secret, "access_key_secret")?,
        )?;
        config.issuer = opt_str(self.issuer, "issuer")?;
        Ok(config)
    }
}

/// `scopes` as a space-separated `str` or a sequence of `str`.
fn scopes(s: &Bound<'_, PyAny>) -> Result<Vec<String>> {
    if s.is_instance_of::<PyString>() {
        return Ok(str_arg(s, "scopes")?
            .split_whitespace()
            .map(str::to_string)
            .collect());
    }
    let bad = || Error::validation("scopes must be a sequence of str");
    s.try_iter()
        .map_err(|_| bad())?
        .map(|x| str_arg(&x.map_err(|_| bad())?, "each scope"))
        .collect()
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

/// An optional str argument (`None` stays `None`).
fn opt_str(v: Option<&Bound<'_, PyAny>>, name: &str) -> Result<Option<String>> {
    match v {
        Some(v) if !v.is_none() => str_arg(v, name).map(Some),
        _ => Ok(None),
    }
}

/// The environment variables `from_env` reads, by keyword: the three
/// positional ones first.
const ENV: [(&str, &str); 10] = [
    ("base_url", "CXONE_CDP_BASE_URL"),
    ("client_id", "CXONE_CDP_CLIENT_ID"),
    ("client_secret", "CXONE_CDP_CLIENT_SECRET"),
    ("token_url", "CXONE_CDP_TOKEN_URL"),
    ("webhook_url", "CXONE_CDP_WEBHOOK_URL"),
    ("webhook_secret", "CXONE_CDP_WEBHOOK_SECRET"),
    ("audit_path", "CXONE_CDP_AUDIT_PATH"),
    ("auth", "CXONE_CDP_AUTH"),
    ("access_key_id", "CXONE_CDP_ACCESS_KEY_ID"),
    ("access_key_secret", "CXONE_CDP_ACCESS_KEY_SECRET"),
];
const ISSUER_ENV: (&str, &str) = ("issuer", "CXONE_CDP_ISSUER");

fn env(var: &str) -> Option<String> {
    std::env::var(var).ok().filter(|v| !v.trim().is_empty())
}

/// `cls(...)` from the `CXONE_CDP_*` environment, keyword arguments winning.
/// With an issuer the base URL may be left out: it is discovered.
pub fn from_env<'py>(
    cls: &Bound<'py, PyType>,
    overrides: Option<&Bound<'py, PyDict>>,
) -> CdpResult<Bound<'py, PyAny>> {
    let py = cls.py();
    let kwargs = match overrides {
        Some(o) => o.copy()?,
        None => PyDict::new(py),
    };
    for (arg, var) in ENV.iter().skip(3).chain([&ISSUER_ENV]) {
        if !kwargs.contains(arg)? {
            if let Some(v) = env(var) {
                kwargs.set_item(arg, v)?;
            }
        }
    }
    if !kwargs.contains("base_url")?
        && env("CXONE_CDP_BASE_URL").is_none()
        && kwargs.get_item("issuer")?.is_some_and(|v| !v.is_none())
    {
        kwargs.set_item("base_url", py.None())?;
    }
    let mut positional = Vec::new();
    for (arg, var) in &ENV[..3] {
        match kwargs.get_item(arg)? {
            Some(v) => {
                kwargs.del_item(arg)?;
                positional.push(v);
            }
            None => match env(var) {
                Some(v) => positional.push(PyString::new(py, &v).into_any()),
                None => {
                    return Err(Error::validation(format!(
                        "{arg} not given and environment variable {var} is not set"
                    ))
                    .into())
                }
            },
        }
    }
    Ok(cls.call(PyTuple::new(py, positional)?, Some(&kwargs))?)
}

/// The keyword arguments of `Querier.discover` that are not options.
pub struct DiscoverArgs<'a, 'py> {
    pub issuer: Option<&'a Bound<'py, PyAny>>,
    pub client_id: &'a Bound<'py, PyAny>,
    pub client_secret: &'a Bound<'py, PyAny>,
    pub auth: Option<&'a Bound<'py, PyAny>>,
    pub access_key_id: Option<&'a Bound<'py, PyAny>>,
    pub access_key_secret: Option<&'a Bound<'py, PyAny>>,
    pub base_url: Option<&'a Bound<'py, PyAny>>,
    pub token_url: Option<&'a Bound<'py, PyAny>>,
}

/// `cls(base_url, client_id, client_secret, issuer=..., ...)` for
/// `discover`: the issuer defaults to the usual CXone issuer; `None` values
/// are left out.
pub fn for_discovery<'py>(
    cls: &Bound<'py, PyType>,
    a: DiscoverArgs<'_, 'py>,
    options: Option<&Bound<'py, PyDict>>,
) -> PyResult<Bound<'py, PyAny>> {
    let py = cls.py();
    let kwargs = match options {
        Some(o) => o.copy()?,
        None => PyDict::new(py),
    };
    let issuer = match a.issuer.filter(|i| !i.is_none()) {
        Some(i) => i.clone(),
        None => PyString::new(py, cxone_cdp_core::auth::discovery::DEFAULT_ISSUER).into_any(),
    };
    kwargs.set_item("issuer", issuer)?;
    for (k, v) in [
        ("auth", a.auth),
        ("access_key_id", a.access_key_id),
        ("access_key_secret", a.access_key_secret),
        ("token_url", a.token_url),
    ] {
        if let Some(v) = v.filter(|v| !v.is_none()) {
            kwargs.set_item(k, v)?;
        }
    }
    let base = match a.base_url {
        Some(b) => b.clone(),
        None => py.None().into_bound(py),
    };
    cls.call(
        PyTuple::new(py, [base, a.client_id.clone(), a.client_secret.clone()])?,
        Some(&kwargs),
    )
}
