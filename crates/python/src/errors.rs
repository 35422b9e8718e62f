//! The one error-to-exception mapping: core errors become the classes of
//! `cxone_cdp.errors` (a plain Python module, imported once, its classes
//! cached), carrying status, code, message and correlation id.
//!
//! Bindings return [`CdpResult`], so `?` works on core results and on pyo3
//! results alike (`impl From<Error> for PyErr` itself is not allowed here:
//! both types are foreign, hence the [`CdpError`] newtype).

use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::PyDict;

use cxone_cdp_core::error::{Error, ErrorKind};

/// A failure on its way to Python: a core error (mapped to its
/// `cxone_cdp.errors` class when raised) or a Python exception as is.
#[derive(Debug)]
pub enum CdpError {
    Core(Error),
    Python(PyErr),
}

/// The result type of every binding.
pub type CdpResult<T> = std::result::Result<T, CdpError>;

impl From<Error> for CdpError {
    fn from(e: Error) -> Self {
        CdpError::Core(e)
    }
}

impl From<PyErr> for CdpError {
    fn from(e: PyErr) -> Self {
        CdpError::Python(e)
    }
}

impl From<pythonize::PythonizeError> for CdpError {
    fn from(e: pythonize::PythonizeError) -> Self {
        CdpError::Python(e.into())
    }
}

impl From<CdpError> for PyErr {
    fn from(e: CdpError) -> PyErr {
        match e {
            CdpError::Core(e) => to_pyerr(e),
            CdpError::Python(e) => e,
        }
    }
}

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
    match crate::shutdown::attach(|py| build(py, &e).unwrap_or_else(|failure| failure)) {
        Ok(err) => err,
        // The interpreter is exiting: a plain error, made when it is raised.
        Err(_) => pyo3::exceptions::PyRuntimeError::new_err(e.to_string()),
    }
}

/// A validation error as a Python exception.
pub fn validation(message: impl Into<String>) -> PyErr {
    to_pyerr(Error::validation(message))
}
