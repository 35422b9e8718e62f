//! Argument extractors for the `Querier` constructor's option arguments
//! (`#[pyo3(from_py_with = ...)]`): a wrong type or range is a
//! `cxone_cdp.errors.ValidationError` (pyo3 adds a note naming the
//! argument), like every other bad input, instead of pyo3's `TypeError` /
//! `OverflowError`.

use std::path::PathBuf;

use pyo3::prelude::*;
use pyo3::types::{PyBool, PyFloat, PyInt, PyString};

use crate::errors::validation;

fn type_name(obj: &Bound<'_, PyAny>) -> String {
    obj.get_type()
        .name()
        .map(|n| n.to_string())
        .unwrap_or_else(|_| "?".to_string())
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
