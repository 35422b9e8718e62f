//! The Arrow path for Python: `Querier.iter_batches()` (one record batch per
//! page, sync and async, a background walk at most three pages ahead of
//! the one being read) and
//! `Querier.members_arrow()` (one table). Pages go through the same core
//! pagination as the dict path (`Client::pages_with`), decoded by an
//! [`ArrowLayout`] built from the attribute schema in the endpoint's order.
//! The iterator is also an Arrow C stream (`crate::stream`).

use std::sync::Arc;

use arrow_array::RecordBatch;
use arrow_schema::SchemaRef;
use futures_util::StreamExt;
use pyo3::exceptions::PyStopAsyncIteration;
use pyo3::prelude::*;

use crate::arrow::{batch_to_py, table_to_py};
use crate::awaitable::awaitable_then;
use crate::bridge::block_on;
use crate::errors::{CdpError, CdpResult};
use crate::iter::{iterator_protocol, Feed, Progress};
use crate::runtime::runtime;
use crate::stream::{next_batch, Lane};
use cxone_cdp_core::api::{Client, Query};
use cxone_cdp_core::error::Result;
use cxone_cdp_core::page::arrow::ArrowLayout;
use cxone_cdp_core::page::PageOf;

pub(crate) type BatchFeed = Feed<PageOf<RecordBatch>>;

/// The layout for a query's attribute schema (fetched once per client).
pub async fn layout_for(client: &Client) -> Result<ArrowLayout> {
    Ok(ArrowLayout::from_attributes(&*client.attributes().await?))
}

/// Starts the background walk of the Arrow path.
fn start_feed(client: Client, query: Query, capacity: usize) -> Arc<BatchFeed> {
    let open = move |demand| async move {
        // A stream: read the response cache, never fill it.
        let prepared = client.prepare(query).await?.streaming();
        let layout = layout_for(&client).await?;
        Ok(client.pages_paced(prepared, None, Arc::new(layout), demand))
    };
    Arc::new(Feed::spawn(runtime().handle(), capacity, open, None, |_| 0))
}

/// Every page of a query as record batches (empty pages left out), with the
/// schema (so an empty listing is still a typed table).
pub async fn collect_batches(
    client: Client,
    query: Query,
) -> Result<(Vec<RecordBatch>, SchemaRef)> {
    let prepared = client.prepare(query).await?;
    let layout = Arc::new(layout_for(&client).await?);
    let schema = layout.schema();
    let mut pages = std::pin::pin!(client.pages_with(prepared, None, layout));
    let mut batches = Vec::new();
    while let Some(page) = pages.next().await {
        let page = page?;
        if page.items > 0 {
            batches.push(page.data);
        }
    }
    Ok((batches, schema))
}

/// The table `members_arrow()` returns.
pub fn members_table(py: Python<'_>, client: Client, query: Query) -> CdpResult<Py<PyAny>> {
    let (batches, schema) = block_on(py, collect_batches(client, query))?;
    Ok(table_to_py(py, batches, schema)?)
}

/// The awaitable `members_arrow_async()` returns.
pub fn members_table_async<'py>(
    py: Python<'py>,
    client: Client,
    query: Query,
) -> PyResult<Bound<'py, PyAny>> {
    let all = async move { Ok::<_, CdpError>(collect_batches(client, query).await?) };
    awaitable_then(py, all, |py, (batches, schema)| {
        Ok(table_to_py(py, batches, schema)?)
    })
}

/// Record batches, one per non-empty page (`for` or `async for`); each speaks
/// `__arrow_c_array__` (`pyarrow.record_batch(b)`, `polars.DataFrame(b)`).
/// Also an Arrow C stream (`__arrow_c_stream__`: DuckDB, pyarrow, polars).
/// From `Querier.iter_batches()`; `close()` (or dropping it) stops the fetch.
#[pyclass(module = "cxone_cdp._native", name = "BatchIterator", frozen)]
pub struct BatchIterator {
    pub(crate) feed: Arc<BatchFeed>,
    pub(crate) progress: Arc<Progress>,
    pub(crate) lane: Arc<Lane>,
}

impl BatchIterator {
    pub fn start(client: Client, query: Query) -> BatchIterator {
        let progress = Progress::new(&query.audience_id);
        BatchIterator {
            feed: start_feed(client, query, 1),
            progress,
            lane: Arc::default(),
        }
    }
}

#[pymethods]
impl BatchIterator {
    /// The next record batch; waits (GIL released) while it is fetched.
    fn __next__(&self, py: Python<'_>) -> CdpResult<Option<Py<PyAny>>> {
        match next_batch(py, &self.feed, &self.progress, &self.lane)? {
            None => Ok(None),
            Some(batch) => Ok(Some(batch_to_py(py, batch)?)),
        }
    }

    /// An awaitable of the next record batch (`async for`).
    fn __anext__<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let feed = self.feed.clone();
        let progress = self.progress.clone();
        let lane = self.lane.clone();
        let next = async move {
            if let Some(batch) = lane.ahead(&progress) {
                return Ok::<_, CdpError>(Some(batch));
            }
            loop {
                match lane.settle(&progress, feed.recv().await)? {
                    None => return Ok(None),
                    Some(page) if page.items == 0 => continue,
                    Some(page) => {
                        progress.page(page.items);
                        return Ok(Some(page.data));
                    }
                }
            }
        };
        awaitable_then(py, next, |py, batch| match batch {
            None => Err(PyStopAsyncIteration::new_err(()).into()),
            Some(batch) => Ok(batch_to_py(py, batch)?),
        })
    }
}

iterator_protocol!(BatchIterator, "rows");

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<BatchIterator>()?;
    Ok(())
}

/// Converts a table with `cxone_cdp._frames.<func>`: the optional dependency
/// is imported (with a clear ImportError naming the extra) before any request.
pub fn frame(
    py: Python<'_>,
    func: &str,
    table: impl FnOnce() -> CdpResult<Py<PyAny>>,
) -> CdpResult<Py<PyAny>> {
    let frames = py.import("cxone_cdp._frames")?;
    frames.call_method1("_check_extra", (func,))?;
    let table = table()?;
    Ok(frames.call_method1(func, (table,))?.unbind())
}
