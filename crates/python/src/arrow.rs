//! Arrow output for Python: record batches, tables and streams exported
//! through the Arrow PyCapsule interface (pyo3-arrow), so pyarrow, polars
//! and pandas read them without a copy.
//!
//! The helpers here are what the Querier's `iter_batches()` (one batch per
//! page) and `members_arrow()` (one table) return; `_decode_page_arrow` and
//! `_decode_pages_table` expose the decoder on raw bodies for tests and the
//! benchmark.
use arrow_array::{RecordBatch, RecordBatchReader};
use arrow_schema::SchemaRef;
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::PyBytes;
use pyo3_arrow::{PyRecordBatch, PyRecordBatchReader, PyTable};

use crate::errors::to_pyerr;
use cxone_cdp_core::error::Error;
use cxone_cdp_core::filter::AttrType;
use cxone_cdp_core::page::arrow::ArrowLayout;

/// `[(name, "string"|"number"|"boolean"|"date"), ...]` -> an [`ArrowLayout`].
pub fn layout_from_pairs(schema: &[(String, String)]) -> PyResult<ArrowLayout> {
    let attrs = schema
        .iter()
        .map(|(name, ty)| match AttrType::parse(ty) {
            Some(t) => Ok((name.clone(), t)),
            None => Err(PyValueError::new_err(format!(
                "attribute {name:?} has unknown type {ty:?} (expected string, number, boolean or date)"
            ))),
        })
        .collect::<PyResult<Vec<_>>>()?;
    Ok(ArrowLayout::new(&attrs))
}

/// A record batch as a Python object with `__arrow_c_array__`
/// (`pyarrow.record_batch(obj)`, `polars.DataFrame(obj)`).
pub fn batch_to_py(py: Python<'_>, batch: RecordBatch) -> PyResult<Py<PyAny>> {
    Ok(PyRecordBatch::new(batch)
        .into_pyobject(py)?
        .into_any()
        .unbind())
}

/// Batches of one schema as a Python table object with `__arrow_c_stream__`
/// (`pyarrow.table(obj)`, `polars.DataFrame(obj)`); no concatenation, no copy.
pub fn table_to_py(
    py: Python<'_>,
    batches: Vec<RecordBatch>,
    schema: SchemaRef,
) -> PyResult<Py<PyAny>> {
    Ok(PyTable::try_new(batches, schema)?
        .into_pyobject(py)?
        .into_any()
        .unbind())
}

/// A lazy stream of batches as a Python object with `__arrow_c_stream__`
/// (consumable once, e.g. `pyarrow.RecordBatchReader.from_stream(obj)`).
pub fn reader_to_py(
    py: Python<'_>,
    reader: Box<dyn RecordBatchReader + Send>,
) -> PyResult<Py<PyAny>> {
    Ok(PyRecordBatchReader::new(reader)
        .into_pyobject(py)?
        .into_any()
        .unbind())
}

/// Decodes one members page body; returns `(record_batch, next_page_token)`.
#[pyfunction]
#[pyo3(name = "_decode_page_arrow")]
fn decode_page_arrow(
    py: Python<'_>,
    body: &[u8],
    schema: Vec<(String, String)>,
) -> PyResult<(Py<PyAny>, Option<String>)> {
    let layout = layout_from_pairs(&schema)?;
    let page = py.detach(|| layout.decode_page(body)).map_err(to_pyerr)?;
    Ok((batch_to_py(py, page.batch)?, page.next_page_token))
}

/// Decodes several members page bodies into one table (one batch per page).
#[pyfunction]
#[pyo3(name = "_decode_pages_table")]
fn decode_pages_table(
    py: Python<'_>,
    bodies: Vec<Bound<'_, PyBytes>>,
    schema: Vec<(String, String)>,
) -> PyResult<Py<PyAny>> {
    let layout = layout_from_pairs(&schema)?;
    let slices: Vec<&[u8]> = bodies.iter().map(|b| b.as_bytes()).collect();
    let batches = py
        .detach(|| {
            slices
                .iter()
                .map(|body| layout.decode_page(body).map(|p| p.batch))
                .collect::<Result<Vec<_>, Error>>()
        })
        .map_err(to_pyerr)?;
    table_to_py(py, batches, layout.schema())
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(decode_page_arrow, m)?)?;
    m.add_function(wrap_pyfunction!(decode_pages_table, m)?)?;
    Ok(())
}
