//! Core errors to the exception classes of `cxone_cdp.errors` (a plain Python
//! module, imported once; its classes cached).

use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::PyDict;

use cxone_cdp_core::error::{Error, ErrorKind};

const KINDS: [ErrorKind; 12] = [
    ErrorKind::Validation,
    ErrorKind::Authentication,
    ErrorKind::PermissionDenied,
    ErrorKind::NotFound,
    ErrorKind::BadRequest,
    ErrorKind::RateLimit,
    ErrorKind::Server,
    ErrorKind::Timeout,
    ErrorKind::Connection,
    ErrorKind::Pagination,
    ErrorKind::Other,
    ErrorKind::Discovery,
];

static CLASSES: PyOnceLock<Vec<(ErrorKind, Py<PyAny>)>> = PyOnceLock::new();

fn class_for<'py>(py: Python<'py>, kind: ErrorKind) -> PyResult<Bound<'py, PyAny>> {
    let classes = CLASSES.get_or_try_init(py, || -> PyResult<_> {
        let m = py.import("cxone_cdp.errors")?;
        KINDS
            .iter()
            .map(|k| Ok((*k, m.getattr(k.name())?.unbind())))
            .collect()
    })?;
    let (_, cls) = classes
        .iter()
        .find(|(k, _)| *k == kind)
        .expect("every ErrorKind has a class");
    Ok(cls.bind(py).clone())
}

fn build(py: Python<'_>, e: &Error) -> PyResult<PyErr> {
    let cls = class_for(py, e.kind)?;
    let kwargs = PyDict::new(py);
    kwargs.set_item("status", e.status)?;
    kwargs.set_item("code", e.code.as_deref())?;
    kwargs.set_item("correlation_id", e.correlation_id.as_deref())?;
    kwargs.set_item("detail", e.to_string())?;
    if e.kind == ErrorKind::RateLimit {
        kwargs.set_item("retry_after", e.retry_after)?;
    }
    let instance = cls.call((e.message.as_str(),), Some(&kwargs))?;
    Ok(PyErr::from_value(instance))
}

/// The Python exception for a core error.
pub fn to_pyerr(e: Error) -> PyErr {
    Python::attach(|py| build(py, &e).unwrap_or_else(|failure| failure))
}

/// A validation error as a Python exception.
pub fn validation(message: impl Into<String>) -> PyErr {
    to_pyerr(Error::validation(message))
}
