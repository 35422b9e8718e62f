//! Python glue for the command line: filter expressions (`city=Rock & Roll`)
//! parsed and typed by the core, and `export_members`, which runs the core
//! export loop (`cxone_cdp_core::export`) on this thread with the GIL released,
//! taking the GIL only to call the progress callback once per page and to
//! check for Ctrl-C.

use std::path::PathBuf;
use std::sync::Mutex;

use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList, PyTuple};

use crate::convert::{filters_from_py, str_arg};
use crate::errors::to_pyerr;
use crate::querier::Querier;
use crate::runtime::{block_on, runtime, SIGNAL_TICK};
use cxone_cdp_core::api::{check_limit, Query};
use cxone_cdp_core::error::Result;
use cxone_cdp_core::export::{self, ExportRequest, Flow, Format, Progress};
use cxone_cdp_core::filter::{self, Value};

/// `parse_filter_expr("city=Rock & Roll") -> ("city", "eq", "Rock & Roll")`:
/// the decoded wire form with readable operators; `ValidationError` naming
/// the expression when it is malformed. No request is made.
#[pyfunction]
fn parse_filter_expr(expr: &Bound<'_, PyAny>) -> PyResult<(String, &'static str, String)> {
    let parse = || -> Result<_> {
        let text = str_arg(expr, "filter expression")?;
        let w = filter::parse_wire(&text).map_err(|e| {
            cxone_cdp_core::error::Error::validation(format!("bad filter {text:?}: {}", e.message))
        })?;
        Ok((w.attribute, w.op.name(), w.value))
    };
    parse().map_err(to_pyerr)
}

fn value_to_py<'py>(py: Python<'py>, v: &Value) -> PyResult<Bound<'py, PyAny>> {
    Ok(match v {
        Value::Str(s) => s.into_pyobject(py)?.into_any(),
        Value::Int(i) => i.into_pyobject(py)?.into_any(),
        Value::Float(x) => x.into_pyobject(py)?.into_any(),
        Value::Bool(b) => b.into_pyobject(py)?.to_owned().into_any(),
        Value::Date(d) => {
            use chrono::Datelike;
            py.import("datetime")?
                .getattr("date")?
                .call1((d.year(), d.month(), d.day()))?
        }
    })
}

/// `typed_filters(querier, exprs) -> [(attribute, operator, value)]`: each
/// expression parsed (all of them first, so a malformed one fails before
/// any request), then its value typed against the attribute schema (fetched
/// once by the Querier): numbers to int/float, booleans, dates to
/// `datetime.date`.
#[pyfunction]
fn typed_filters<'py>(
    py: Python<'py>,
    querier: &Bound<'py, Querier>,
    exprs: Vec<String>,
) -> PyResult<Bound<'py, PyList>> {
    let wires = exprs
        .iter()
        .map(|e| {
            filter::parse_wire(e).map_err(|err| {
                cxone_cdp_core::error::Error::validation(format!(
                    "bad filter {e:?}: {}",
                    err.message
                ))
            })
        })
        .collect::<Result<Vec<_>>>()
        .map_err(to_pyerr)?;
    let out = PyList::empty(py);
    if wires.is_empty() {
        return Ok(out);
    }
    let client = querier.get().client.clone();
    let attrs = block_on(py, async move { client.attributes().await })?;
    for (w, e) in wires.iter().zip(&exprs) {
        let f = w
            .typed(&attrs.schema)
            .map_err(|err| {
                cxone_cdp_core::error::Error::validation(format!(
                    "bad filter {e:?}: {}",
                    err.message
                ))
            })
            .map_err(to_pyerr)?;
        let item = PyTuple::new(
            py,
            [
                f.attribute.into_pyobject(py)?.into_any(),
                f.op.name().into_pyobject(py)?.into_any(),
                value_to_py(py, &f.value)?,
            ],
        )?;
        out.append(item)?;
    }
    Ok(out)
}

/// Exports every member of a query to `path`; see `cxone_cdp_core::export`.
/// `progress(members, pages, elapsed, run_members, run_pages)` is called
/// after every written page (`members` and `pages` include a resumed run's;
/// `run_members` and `run_pages` count this run's). Returns `{"members", "pages", "bytes", "elapsed",
/// "resumed_members", "path"}`. Ctrl-C (or an exception from `progress`)
/// stops the export, keeping the partial output only when a checkpoint
/// can resume it.
#[pyfunction]
#[pyo3(signature = (querier, audience_id, filters=None, limit=1000, *, format, path,
    checkpoint=None, resume=false, progress=None))]
#[allow(clippy::too_many_arguments)]
fn export_members<'py>(
    py: Python<'py>,
    querier: &Bound<'py, Querier>,
    audience_id: &Bound<'py, PyAny>,
    filters: Option<&Bound<'py, PyAny>>,
    limit: i64,
    format: &str,
    path: PathBuf,
    checkpoint: Option<PathBuf>,
    resume: bool,
    progress: Option<Py<PyAny>>,
) -> PyResult<Bound<'py, PyDict>> {
    let build = || -> Result<ExportRequest> {
        let audience_id = str_arg(audience_id, "audience_id")?;
        let limit = u32::try_from(limit).unwrap_or(0);
        check_limit(limit)?;
        let query = Query::new(audience_id, filters_from_py(filters)?, limit);
        query.check_local()?;
        if resume && checkpoint.is_none() {
            return Err(cxone_cdp_core::error::Error::validation(
                "resume needs a checkpoint file",
            ));
        }
        Ok(ExportRequest {
            query,
            format: Format::parse(format)?,
            output: path.clone(),
            checkpoint: checkpoint.clone(),
            resume,
        })
    };
    let req = build().map_err(to_pyerr)?;
    let client = querier.get().client.clone();
    let pending: Mutex<Option<PyErr>> = Mutex::new(None);
    let stop_with = |e: PyErr| {
        *pending.lock().unwrap() = Some(e);
        Flow::Stop
    };
    let on_page = |p: &Progress| {
        Python::attach(|py| {
            if let Some(cb) = &progress {
                if let Err(e) = cb.call1(
                    py,
                    (p.members, p.pages, p.elapsed, p.run_members, p.run_pages),
                ) {
                    return stop_with(e);
                }
            }
            match py.check_signals() {
                Ok(()) => Flow::Continue,
                Err(e) => stop_with(e),
            }
        })
    };
    let result = py.detach(|| {
        runtime().block_on(async {
            let mut fut = std::pin::pin!(export::export(&client, req, on_page));
            loop {
                tokio::select! {
                    r = &mut fut => break r,
                    _ = tokio::time::sleep(SIGNAL_TICK) => {
                        if let Err(e) = Python::attach(|py| py.check_signals()) {
                            *pending.lock().unwrap() = Some(e);
                            break Err(export::interrupted());
                        }
                    }
                }
            }
        })
    });
    match result {
        Ok(s) => {
            let d = PyDict::new(py);
            d.set_item("members", s.members)?;
            d.set_item("pages", s.pages)?;
            d.set_item("bytes", s.bytes)?;
            d.set_item("elapsed", s.elapsed)?;
            d.set_item("resumed_members", s.resumed_members)?;
            d.set_item("path", s.path)?;
            Ok(d)
        }
        Err(e) => {
            if checkpoint.is_none() {
                // Stopped mid-await: the loop's own clean-up may not have run.
                let _ = std::fs::remove_file(export::sibling(&path, ".part"));
            }
            match pending.lock().unwrap().take() {
                Some(py_err) => Err(py_err),
                None => Err(to_pyerr(e)),
            }
        }
    }
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(parse_filter_expr, m)?)?;
    m.add_function(wrap_pyfunction!(typed_filters, m)?)?;
    m.add_function(wrap_pyfunction!(export_members, m)?)?;
    Ok(())
}
