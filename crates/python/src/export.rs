//! Python glue for the command line's export: `export_members` runs the core
//! export loop (`cxone_cdp_core::export`) on the runtime with the GIL released,
//! through the one sync bridge (Ctrl-C checked every tick), taking the GIL
//! only to call the progress callback once per page.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use pyo3::prelude::*;
use pyo3::types::PyDict;

use crate::args::{filters_from_py, str_arg};
use crate::bridge::Bridge;
use crate::errors::{CdpError, CdpResult};
use crate::querier::Querier;
use crate::shutdown;
use cxone_cdp_core::api::{check_limit, Query};
use cxone_cdp_core::error::Error;
use cxone_cdp_core::export::{self, ExportRequest, Flow, Format, Progress};

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
            // Refused only while the interpreter exits: nobody awaits the export then.
            let Ok(called) = shutdown::attach(|py| cb.call1(py, args).map(drop)) else {
                return Flow::Stop;
            };
            match called {
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
    m.add_function(wrap_pyfunction!(export_members, m)?)?;
    Ok(())
}
