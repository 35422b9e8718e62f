//! Python glue for the command line: filter expressions (`city=Rock & Roll`)
//! parsed and typed by the core, and `export_members`, which runs the core
//! export loop (`cxone_cdp_core::export`) on the runtime with the GIL released,
//! through the one sync bridge (Ctrl-C checked every tick), taking the GIL
//! only to call the progress callback once per page.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList};

use crate::args::{filter_tuple, filters_from_py, str_arg};
use crate::bridge::{block_on, Bridge};
use crate::errors::{CdpError, CdpResult};
use crate::querier::Querier;
use cxone_cdp_core::api::{check_limit, Query};
use cxone_cdp_core::error::{Error, Result};
use cxone_cdp_core::export::{self, ExportRequest, Flow, Format, Progress};
use cxone_cdp_core::filter;

/// `parse_filter_expr("city=Rock & Roll") -> ("city", "eq", "Rock & Roll")`:
/// the decoded wire form with readable operators; `ValidationError` naming
/// the expression when it is malformed. No request is made.
#[pyfunction]
fn parse_filter_expr(expr: &Bound<'_, PyAny>) -> CdpResult<(String, &'static str, String)> {
    let text = str_arg(expr, "filter expression")?;
    let w = wire(&text)?;
    Ok((w.attribute, w.op.name(), w.value))
}

/// A filter expression in its decoded wire form, or a validation error
/// naming it.
fn wire(text: &str) -> Result<filter::WireFilter> {
    filter::parse_wire(text)
        .map_err(|e| Error::validation(format!("bad filter {text:?}: {}", e.message)))
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
) -> CdpResult<Bound<'py, PyList>> {
    let wires = exprs.iter().map(|e| wire(e)).collect::<Result<Vec<_>>>()?;
    let out = PyList::empty(py);
    if wires.is_empty() {
        return Ok(out);
    }
    let client = querier.get().live_client()?;
    let attrs = block_on(py, async move { client.attributes().await })?;
    for (w, e) in wires.iter().zip(&exprs) {
        let f = w
            .typed(&attrs.schema)
            .map_err(|err| Error::validation(format!("bad filter {e:?}: {}", err.message)))?;
        out.append(filter_tuple(py, &f)?)?;
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
) -> CdpResult<Bound<'py, PyDict>> {
    let audience_id = str_arg(audience_id, "audience_id")?;
    let limit = u32::try_from(limit).unwrap_or(0);
    check_limit(limit)?;
    let query = Query::new(audience_id, filters_from_py(filters)?, limit);
    query.check_local()?;
    if resume && checkpoint.is_none() {
        return Err(Error::validation("resume needs a checkpoint file").into());
    }
    let req = ExportRequest {
        query,
        format: Format::parse(format)?,
        output: path.clone(),
        checkpoint: checkpoint.clone(),
        resume,
    };
    let client = querier.get().live_client()?;
    // An exception from `progress` stops the export and is what it raises.
    let raised: Arc<Mutex<Option<PyErr>>> = Arc::default();
    let on_page = {
        let raised = raised.clone();
        move |p: &Progress| {
            let Some(cb) = &progress else {
                return Flow::Continue;
            };
            let args = (p.members, p.pages, p.elapsed, p.run_members, p.run_pages);
            match Python::attach(|py| cb.call1(py, args).map(drop)) {
                Ok(()) => Flow::Continue,
                Err(e) => {
                    *raised.lock().unwrap_or_else(|p| p.into_inner()) = Some(e);
                    Flow::Stop
                }
            }
        }
    };
    let run = async move { export::export(&client, req, on_page).await };
    match Bridge::new(py).wait(run) {
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
                // Stopped mid-await (Ctrl-C): the loop's own clean-up may not have run.
                let _ = std::fs::remove_file(export::sibling(&path, ".part"));
            }
            let from_callback = raised.lock().unwrap_or_else(|p| p.into_inner()).take();
            Err(from_callback.map_or(e, CdpError::Python))
        }
    }
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(parse_filter_expr, m)?)?;
    m.add_function(wrap_pyfunction!(typed_filters, m)?)?;
    m.add_function(wrap_pyfunction!(export_members, m)?)?;
    Ok(())
}
