//! Making a `Querier`: the checks the constructor's options need beyond
//! their types (nothing is sent), `from_env`'s environment variables, and
//! the keyword arguments `discover` passes on.

use std::time::Duration;

use pyo3::prelude::*;
use pyo3::types::{PyDict, PyString, PyTuple, PyType};

use crate::args::str_arg;
use crate::errors::CdpResult;

use cxone_cdp_core::error::{Error, Result};

/// `scopes` as a space-separated `str` or a sequence of `str`.
pub fn scopes(s: &Bound<'_, PyAny>) -> Result<Vec<String>> {
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

pub fn seconds(name: &str, v: f64) -> Result<Duration> {
    // try_from: a finite but huge value (1e300) must not panic.
    match Duration::try_from_secs_f64(v) {
        Ok(d) if v.is_finite() && v > 0.0 => Ok(d),
        _ => Err(Error::validation(format!(
            "{name} must be a positive number of seconds"
        ))),
    }
}

/// An optional str argument (`None` stays `None`).
pub fn opt_str(v: Option<&Bound<'_, PyAny>>, name: &str) -> Result<Option<String>> {
    match v {
        Some(v) if !v.is_none() => str_arg(v, name).map(Some),
        _ => Ok(None),
    }
}

/// The `proxy` option: `None` (the standard proxy variables apply) or a
/// checked `http://` / `https://` URL (a refusal never quotes it).
pub fn proxy(v: Option<&Bound<'_, PyAny>>) -> Result<Option<cxone_cdp_core::config::ProxyUrl>> {
    opt_str(v, "proxy")?
        .filter(|p| !p.is_empty())
        .map(|p| cxone_cdp_core::config::ProxyUrl::parse(&p))
        .transpose()
}

/// The environment variables `from_env` reads, by keyword: the three
/// positional ones first.
const ENV: [(&str, &str); 12] = [
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
    ("ca_bundle", "CXONE_CDP_CA_BUNDLE"),
    ("proxy", "CXONE_CDP_PROXY"),
];
const ISSUER_ENV: (&str, &str) = ("issuer", "CXONE_CDP_ISSUER");

fn env(var: &str) -> Option<String> {
    std::env::var(var).ok().filter(|v| !v.trim().is_empty())
}

/// A copy of the caller's keyword arguments (never changed in place).
fn copy_or_new<'py>(
    py: Python<'py>,
    d: Option<&Bound<'py, PyDict>>,
) -> PyResult<Bound<'py, PyDict>> {
    d.map_or_else(|| Ok(PyDict::new(py)), |d| d.copy())
}

/// `cls(...)` from the `CXONE_CDP_*` environment, keyword arguments winning.
/// With an issuer the base URL may be left out: it is discovered.
pub fn from_env<'py>(
    cls: &Bound<'py, PyType>,
    overrides: Option<&Bound<'py, PyDict>>,
) -> CdpResult<Bound<'py, PyAny>> {
    let py = cls.py();
    let kwargs = copy_or_new(py, overrides)?;
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
    let kwargs = copy_or_new(py, options)?;
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
