//! `BatchIterator.__arrow_c_stream__`: the listing as an Arrow C stream
//! (the PyCapsule interface), so DuckDB, pyarrow and polars read it lazily
//! with memory bounded by the core's one prefetch (a page being read and at
//! most one waiting).
//!
//! The stream and the iterator share one listing ([`Lane`]): every batch is
//! handed out once, to whichever asks first. `__arrow_c_stream__` may be
//! called more than once (DuckDB asks for a stream to learn the schema, then
//! for another to scan): each stream reads on from where the listing is, and
//! once the listing is exhausted a new stream is empty (the schema only). A
//! listing that failed raises its error again rather than look empty.
//!
//! Getting the first stream waits for the first page (to learn the schema),
//! so a bad filter or an unknown audience raises its typed error right there.
//! Afterwards a failure reaches the consumer as an Arrow stream error whose
//! message names the typed error. Each `next()` waits through the one sync
//! bridge: the GIL is released while waiting and Ctrl-C is honoured (the
//! stream ends with an "interrupted" error and the interrupt is raised again
//! for the consumer's own signal check).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use arrow_array::{RecordBatch, RecordBatchReader};
use arrow_schema::{ArrowError, SchemaRef};
use pyo3::exceptions::{PyKeyboardInterrupt, PyRuntimeError};
use pyo3::prelude::*;
use pyo3::types::PyCapsule;
use pyo3_arrow::PyRecordBatchReader;

use crate::batches::{BatchFeed, BatchIterator};
use crate::bridge::Bridge;
use crate::errors::{CdpError, CdpResult};
use crate::iter::Progress;
use cxone_cdp_core::error::Result;
use cxone_cdp_core::page::PageOf;

/// What the iterator and its streams share beyond the feed: a batch read
/// ahead to learn the schema, the schema once known, and whether the
/// listing failed.
#[derive(Default)]
pub(crate) struct Lane {
    peeked: Mutex<Option<RecordBatch>>,
    schema: OnceLock<SchemaRef>,
    failed: AtomicBool,
}

impl Lane {
    fn take_peeked(&self) -> Option<RecordBatch> {
        self.peeked.lock().unwrap_or_else(|p| p.into_inner()).take()
    }

    /// [`Progress::settle`], remembering the schema and a failure.
    pub(crate) fn settle(
        &self,
        progress: &Progress,
        next: Option<Result<PageOf<RecordBatch>>>,
    ) -> Result<Option<PageOf<RecordBatch>>> {
        let r = progress.settle(next);
        match &r {
            Ok(Some(page)) => {
                let _ = self.schema.set(page.data.schema());
            }
            Err(_) => self.failed.store(true, Ordering::SeqCst),
            Ok(None) => {}
        }
        r
    }

    /// A batch read ahead by [`Lane::schema`], handed out first.
    pub(crate) fn ahead(&self, progress: &Progress) -> Option<RecordBatch> {
        let b = self.take_peeked()?;
        progress.page(b.num_rows());
        Some(b)
    }
}

/// The next non-empty batch of the listing (`None` at its end), waiting
/// through the bridge.
pub(crate) fn next_batch(
    py: Python<'_>,
    feed: &Arc<BatchFeed>,
    progress: &Progress,
    lane: &Lane,
) -> CdpResult<Option<RecordBatch>> {
    if let Some(b) = lane.ahead(progress) {
        return Ok(Some(b));
    }
    let mut bridge = Bridge::resume(py, &progress.clock);
    loop {
        let f = feed.clone();
        let next = bridge.wait(async move { Ok(f.recv().await) })?;
        match lane.settle(progress, next)? {
            None => return Ok(None),
            Some(page) if page.items == 0 => continue,
            Some(page) => {
                progress.page(page.items);
                return Ok(Some(page.data));
            }
        }
    }
}

/// The listing's schema: known once a page has passed, else the first page
/// is read ahead (kept for the next reader).
fn schema(py: Python<'_>, it: &BatchIterator) -> CdpResult<SchemaRef> {
    if let Some(s) = it.lane.schema.get() {
        return Ok(s.clone());
    }
    if it.lane.failed.load(Ordering::SeqCst) {
        return Err(failed().into());
    }
    let mut bridge = Bridge::resume(py, &it.progress.clock);
    let f = it.feed.clone();
    let next = bridge.wait(async move { Ok(f.recv().await) })?;
    match it.lane.settle(&it.progress, next)? {
        Some(page) => {
            if page.items > 0 {
                *it.lane.peeked.lock().unwrap_or_else(|p| p.into_inner()) = Some(page.data);
            }
            Ok(it.lane.schema.get().expect("set by settle").clone())
        }
        None => Err(PyRuntimeError::new_err(
            "the listing was closed before its first page: there is no stream to read",
        )
        .into()),
    }
}

fn failed() -> PyErr {
    PyRuntimeError::new_err(
        "this listing already failed (its error was raised); start a new iter_batches()",
    )
}

/// A `RecordBatchReader` over the shared listing.
struct LaneReader {
    feed: Arc<BatchFeed>,
    progress: Arc<Progress>,
    lane: Arc<Lane>,
    schema: SchemaRef,
}

impl LaneReader {
    fn error(py: Python<'_>, e: CdpError) -> ArrowError {
        let e = PyErr::from(e);
        if e.is_instance_of::<PyKeyboardInterrupt>(py) {
            // Raise it again for the consumer's own signal check (DuckDB,
            // or the interpreter once the consumer returns).
            // SAFETY: PyErr_SetInterrupt only sets a flag; the GIL is held.
            unsafe { pyo3::ffi::PyErr_SetInterrupt() };
            return ArrowError::ExternalError("interrupted (KeyboardInterrupt)".into());
        }
        ArrowError::ExternalError(e.to_string().into())
    }
}

impl Iterator for LaneReader {
    type Item = std::result::Result<RecordBatch, ArrowError>;

    fn next(&mut self) -> Option<Self::Item> {
        // Whoever calls (a consumer's worker thread, or Python's thread with
        // the GIL released or held): take the GIL for the bridge, which
        // releases it while waiting.
        // During interpreter exit the gate refuses: the stream ends in an error.
        let entered = crate::shutdown::attach(|py| {
            match next_batch(py, &self.feed, &self.progress, &self.lane) {
                Ok(b) => b.map(Ok),
                Err(e) => {
                    self.lane.failed.store(true, Ordering::SeqCst);
                    Some(Err(Self::error(py, e)))
                }
            }
        });
        entered.unwrap_or_else(|e| Some(Err(ArrowError::ExternalError(e.to_string().into()))))
    }
}

impl RecordBatchReader for LaneReader {
    fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }
}

#[pymethods]
impl BatchIterator {
    /// The rest of the listing as an Arrow C stream (PyCapsule interface):
    /// `duckdb.sql("select ... from it")`,
    /// `pyarrow.RecordBatchReader.from_stream(it)`, `polars.DataFrame(it)`.
    /// Lazy: pages are fetched as the consumer reads. Streams and `__next__`
    /// share the one listing (each batch goes to one of them); a stream
    /// taken after the end is empty, one taken after a failure raises.
    #[pyo3(signature = (requested_schema = None))]
    fn __arrow_c_stream__<'py>(
        &self,
        py: Python<'py>,
        requested_schema: Option<Bound<'py, PyCapsule>>,
    ) -> CdpResult<Bound<'py, PyAny>> {
        if self.lane.failed.load(Ordering::SeqCst) {
            return Err(failed().into());
        }
        let schema = schema(py, self)?;
        let reader = LaneReader {
            feed: self.feed.clone(),
            progress: self.progress.clone(),
            lane: self.lane.clone(),
            schema,
        };
        let reader = Bound::new(py, PyRecordBatchReader::new(Box::new(reader)))?;
        Ok(reader.call_method1("__arrow_c_stream__", (requested_schema,))?)
    }
}
