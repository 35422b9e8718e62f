//! Arguments from Python, checked once, here: each binding takes typed
//! arguments ([`AudienceId`], [`Filters`], [`Limit`], ...) that validate
//! themselves on extraction, so a wrong type or value is a
//! `cxone_cdp.errors.ValidationError` (pyo3 adds a note naming the argument)
//! raised before any request, never a `TypeError` from deep inside.
//!
//! Filter values: `str`, `int`, `float`, `bool` (checked before `int`) and
//! `datetime.date`. A `datetime.datetime` is refused (rather than silently
//! dropping its time and zone): pass `.date()` explicitly.

use std::path::PathBuf;

use chrono::NaiveDate;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyBool, PyBytes, PyDict, PyFloat, PyInt, PyList, PyString, PyTuple, PyType};

use crate::errors::{validation, CdpError};
use cxone_cdp_core::api::{check_audience_id, check_limit, Query, MAX_LIMIT};
use cxone_cdp_core::error::{Error, Result};
use cxone_cdp_core::filter::{Filter, Operator, Value};

/// An audience id: a `str` that is one path segment.
#[derive(Debug, Clone)]
pub struct AudienceId(pub String);

impl<'a, 'py> FromPyObject<'a, 'py> for AudienceId {
    type Error = CdpError;
    fn extract(obj: Borrowed<'a, 'py, PyAny>) -> std::result::Result<Self, CdpError> {
        let id = str_arg(&obj, "audience_id")?;
        check_audience_id(&id)?;
        Ok(AudienceId(id))
    }
}

/// Filters: a sequence of `(attribute, operator, value)` tuples (or 3-item
/// lists), shape-checked; `None` (the default) means none.
#[derive(Debug, Clone, Default)]
pub struct Filters(pub Vec<Filter>);

impl<'a, 'py> FromPyObject<'a, 'py> for Filters {
    type Error = CdpError;
    fn extract(obj: Borrowed<'a, 'py, PyAny>) -> std::result::Result<Self, CdpError> {
        Ok(Filters(filters_from_py(Some(&obj))?))
    }
}

/// A page size: an `int` in `1..=1000` (the default 1000).
#[derive(Debug, Clone, Copy)]
pub struct Limit(pub u32);

impl<'a, 'py> FromPyObject<'a, 'py> for Limit {
    type Error = CdpError;
    fn extract(obj: Borrowed<'a, 'py, PyAny>) -> std::result::Result<Self, CdpError> {
        let n = u32::try_from(int_arg(&obj, "limit")?).unwrap_or(0);
        check_limit(n)?;
        Ok(Limit(n))
    }
}

/// Webhook events: a list of `str` (a bare `str` is refused, not split
/// into characters).
#[derive(Debug, Clone)]
pub struct Events(pub Vec<String>);

impl<'a, 'py> FromPyObject<'a, 'py> for Events {
    type Error = CdpError;
    fn extract(obj: Borrowed<'a, 'py, PyAny>) -> std::result::Result<Self, CdpError> {
        if obj.is_instance_of::<PyString>() {
            return Err(Error::validation("events must be a list of str, not a str").into());
        }
        let bad = || Error::validation("events must be a list of str");
        let events = obj
            .try_iter()
            .map_err(|_| bad())?
            .map(|e| str_arg(&e.map_err(|_| bad())?, "each event"))
            .collect::<Result<Vec<_>>>()?;
        Ok(Events(events))
    }
}

/// A query from its typed parts, with every check that needs no request.
pub fn query(
    audience: AudienceId,
    filters: Option<Filters>,
    limit: Option<Limit>,
) -> Result<Query> {
    let limit = limit.map_or(MAX_LIMIT, |l| l.0);
    let q = Query::new(audience.0, filters.unwrap_or_default().0, limit);
    q.check_local()?;
    Ok(q)
}

static DATETIME: PyOnceLock<Py<PyType>> = PyOnceLock::new();
static DATE: PyOnceLock<Py<PyType>> = PyOnceLock::new();

fn type_name(obj: &Bound<'_, PyAny>) -> String {
    obj.get_type()
        .name()
        .map(|n| n.to_string())
        .unwrap_or_else(|_| "?".to_string())
}

fn text(obj: &Bound<'_, PyAny>, what: &str) -> Result<String> {
    let s = obj
        .cast::<PyString>()
        .map_err(|_| Error::validation(format!("{what} must be a str, got {}", type_name(obj))))?;
    s.to_str()
        .map(str::to_string)
        .map_err(|_| Error::validation(format!("{what} is not valid text (lone surrogate?)")))
}

/// A `str` argument, or a validation error naming it.
pub fn str_arg(obj: &Bound<'_, PyAny>, what: &str) -> Result<String> {
    text(obj, what)
}

/// An `int` argument (not a bool), or a validation error naming it.
pub fn int_arg(obj: &Bound<'_, PyAny>, what: &str) -> Result<i64> {
    if obj.is_instance_of::<PyBool>() || !obj.is_instance_of::<PyInt>() {
        return Err(Error::validation(format!(
            "{what} must be an int, got {}",
            type_name(obj)
        )));
    }
    obj.extract::<i64>()
        .map_err(|_| Error::validation(format!("{what} is out of range")))
}

fn value(obj: &Bound<'_, PyAny>, i: usize) -> Result<Value> {
    let py = obj.py();
    let at = |m: String| Error::validation(format!("filter #{i}: {m}"));
    if obj.is_none() {
        return Err(at("value is None".into()));
    }
    if let Ok(b) = obj.cast::<PyBool>() {
        return Ok(Value::Bool(b.is_true()));
    }
    if obj.is_instance_of::<PyInt>() {
        return obj
            .extract::<i64>()
            .map(Value::Int)
            .map_err(|_| at("integer value does not fit in 64 bits".into()));
    }
    if let Ok(f) = obj.cast::<PyFloat>() {
        let x = f.value();
        if !x.is_finite() {
            return Err(at(format!("number value {x} is not finite")));
        }
        return Ok(Value::Float(x));
    }
    if obj.is_instance_of::<PyString>() {
        return text(obj, "value")
            .map(Value::Str)
            .map_err(|e| at(e.message));
    }
    let datetime = DATETIME
        .import(py, "datetime", "datetime")
        .map_err(|e| at(format!("cannot import datetime: {e}")))?;
    if obj.is_instance(datetime).unwrap_or(false) {
        return Err(at(
            "datetime.datetime is not accepted for date attributes; pass a datetime.date (e.g. value.date())".into(),
        ));
    }
    let date = DATE
        .import(py, "datetime", "date")
        .map_err(|e| at(format!("cannot import datetime: {e}")))?;
    if obj.is_instance(date).unwrap_or(false) {
        let part = |name: &str| -> Option<u32> { obj.getattr(name).ok()?.extract::<u32>().ok() };
        let d = match (part("year"), part("month"), part("day")) {
            (Some(y), Some(m), Some(d)) => NaiveDate::from_ymd_opt(y as i32, m, d),
            _ => None,
        };
        return d.map(Value::Date).ok_or_else(|| at("invalid date".into()));
    }
    Err(at(format!(
        "value of type {} is not supported (use str, int, float, bool or datetime.date)",
        type_name(obj)
    )))
}

/// Filters from Python: a sequence of `(attribute, operator, value)` tuples
/// (or 3-item lists); `None` means no filters.
pub fn filters_from_py(obj: Option<&Bound<'_, PyAny>>) -> Result<Vec<Filter>> {
    let Some(obj) = obj else {
        return Ok(Vec::new());
    };
    if obj.is_none() {
        return Ok(Vec::new());
    }
    let shape =
        || Error::validation("filters must be a sequence of (attribute, operator, value) tuples");
    if obj.is_instance_of::<PyString>()
        || obj.is_instance_of::<PyBytes>()
        || obj.is_instance_of::<PyDict>()
    {
        return Err(shape());
    }
    let iter = obj.try_iter().map_err(|_| shape())?;
    let mut out = Vec::new();
    for (i, item) in iter.enumerate() {
        let item = item.map_err(|e| Error::validation(format!("reading filters failed: {e}")))?;
        if out.len() > cxone_cdp_core::filter::MAX_FILTERS * 4 {
            // Refuse absurd inputs early; the limit check gives the real message.
            break;
        }
        let is_seq =
            item.is_instance_of::<pyo3::types::PyTuple>() || item.is_instance_of::<PyList>();
        let len = if is_seq { item.len().unwrap_or(0) } else { 0 };
        if !is_seq || len != 3 {
            return Err(Error::validation(format!(
                "filter #{i} must be an (attribute, operator, value) tuple, got {}",
                if is_seq {
                    format!("a {}-item {}", len, type_name(&item))
                } else {
                    format!("a {}", type_name(&item))
                }
            )));
        }
        let get = |k: usize| item.get_item(k).map_err(|_| shape());
        let attr = text(&get(0)?, "attribute")
            .map_err(|e| Error::validation(format!("filter #{i}: {}", e.message)))?;
        let op_text = text(&get(1)?, "operator")
            .map_err(|e| Error::validation(format!("filter #{i}: {}", e.message)))?;
        let op = Operator::parse(&op_text)
            .map_err(|e| Error::validation(format!("filter #{i}: {}", e.message)))?;
        let v = value(&get(2)?, i)?;
        out.push(Filter::new(attr, op, v));
    }
    Ok(out)
}

/// A real number (int or float, not bool); range checks are the config's.
pub fn number(obj: &Bound<'_, PyAny>) -> PyResult<f64> {
    if obj.is_instance_of::<PyBool>()
        || !(obj.is_instance_of::<PyInt>() || obj.is_instance_of::<PyFloat>())
    {
        return Err(validation(format!(
            "expected a number, got {}",
            type_name(obj)
        )));
    }
    obj.extract::<f64>()
        .map_err(|_| validation("number out of range"))
}

fn int_in<T: TryFrom<i128>>(obj: &Bound<'_, PyAny>) -> PyResult<T> {
    if obj.is_instance_of::<PyBool>() || !obj.is_instance_of::<PyInt>() {
        return Err(validation(format!(
            "expected an int, got {}",
            type_name(obj)
        )));
    }
    obj.extract::<i128>()
        .ok()
        .and_then(|v| T::try_from(v).ok())
        .ok_or_else(|| validation("expected a non-negative int in range"))
}

/// A non-negative `u32` (`max_retries`).
pub fn count_u32(obj: &Bound<'_, PyAny>) -> PyResult<u32> {
    int_in::<u32>(obj)
}

/// A non-negative `usize` (`cache_size`).
pub fn count_usize(obj: &Bound<'_, PyAny>) -> PyResult<usize> {
    int_in::<usize>(obj)
}

/// `None` or a `str` (webhook url / secret).
pub fn opt_str(obj: &Bound<'_, PyAny>) -> PyResult<Option<String>> {
    if obj.is_none() {
        return Ok(None);
    }
    let s = obj
        .cast::<PyString>()
        .map_err(|_| validation(format!("expected a str or None, got {}", type_name(obj))))?;
    s.to_str()
        .map(|s| Some(s.to_string()))
        .map_err(|_| validation("text is not valid (lone surrogate?)"))
}

/// `None`, a `str` or an `os.PathLike` (audit path).
pub fn opt_path(obj: &Bound<'_, PyAny>) -> PyResult<Option<PathBuf>> {
    if obj.is_none() {
        return Ok(None);
    }
    obj.extract::<PathBuf>().map(Some).map_err(|_| {
        validation(format!(
            "expected a path (str or os.PathLike) or None, got {}",
            type_name(obj)
        ))
    })
}

/// A finite number of seconds >= 0 (`cache_ttl`).
pub fn non_negative_seconds(obj: &Bound<'_, PyAny>) -> PyResult<f64> {
    let v = number(obj)?;
    if v.is_finite() && v >= 0.0 {
        Ok(v)
    } else {
        Err(validation("expected a finite number of seconds >= 0"))
    }
}

/// A filter back as the `(attribute, operator, value)` tuple Python passes
/// in (a plan's sub-queries, the CLI's typed filters): readable operator
/// names, dates as `datetime.date`.
pub fn filter_tuple<'py>(py: Python<'py>, f: &Filter) -> PyResult<Bound<'py, PyTuple>> {
    use chrono::Datelike;
    let value = match &f.value {
        Value::Str(s) => s.into_pyobject(py)?.into_any(),
        Value::Int(i) => i.into_pyobject(py)?.into_any(),
        Value::Float(x) => x.into_pyobject(py)?.into_any(),
        Value::Bool(b) => b.into_pyobject(py)?.to_owned().into_any(),
        Value::Date(d) => {
            DATE.import(py, "datetime", "date")?
                .call1((d.year(), d.month(), d.day()))?
        }
    };
    PyTuple::new(
        py,
        [
            f.attribute.as_str().into_pyobject(py)?.into_any(),
            f.op.name().into_pyobject(py)?.into_any(),
            value,
        ],
    )
}
