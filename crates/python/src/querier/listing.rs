//! The `Querier`'s listings: `members()` and `members_async()` (the whole
//! listing as one list of dicts), the streaming iterators, and the Arrow
//! forms. Pages come from the core's one bounded prefetch (fetched and
//! decoded ahead while this side turns the previous page into objects).

use std::sync::{Arc, Mutex};

use pyo3::prelude::*;
use pyo3::types::PyList;

use super::Querier;
use crate::args::{query, str_arg, AudienceId, Filters, Limit};
use crate::awaitable::{awaitable_steps, Finish, Step};
use crate::batches::{members_table, members_table_async, BatchIterator};
use crate::bridge::Bridge;
use crate::dicts::{GcPause, HiddenItems, TapeBuilder};
use crate::errors::{CdpError, CdpResult};
use crate::iter::{tape_feed, Feed, MemberIterator, PageIterator, TapePage};
use cxone_cdp_core::error::Error;

/// Pages `members()` lets the background walk run ahead of the conversion:
/// while Python turns page k into dicts, pages k+1 and k+2 are fetched and
/// decoded (a slot is taken before each fetch, so never more).
const MEMBERS_PREFETCH: usize = 2;

impl Querier {
    /// The prefetching walk behind `members()` and `members_async()` (it
    /// fills the response cache, unlike the streaming iterators).
    fn members_feed(
        &self,
        audience_id: AudienceId,
        filters: Option<Filters>,
        limit: Option<Limit>,
        query_id: Option<String>,
    ) -> CdpResult<Arc<Feed>> {
        let q = query(audience_id, filters, limit)?;
        let client = self.live_client()?;
        Ok(tape_feed(client, q, None, MEMBERS_PREFETCH, query_id, true))
    }
}

#[pymethods]
impl Querier {
    /// Every member matching the filters, as a list of dicts.
    #[pyo3(signature = (audience_id, filters=None, limit=None, *, query_id=None))]
    fn members(
        &self,
        py: Python<'_>,
        audience_id: AudienceId,
        filters: Option<Filters>,
        limit: Option<Limit>,
        query_id: Option<String>,
    ) -> CdpResult<Py<PyList>> {
        let feed = self.members_feed(audience_id, filters, limit, query_id)?;
        members(py, feed)
    }

    /// `await q.members_async(...)`: like `members()`, without blocking the loop.
    #[pyo3(signature = (audience_id, filters=None, limit=None, *, query_id=None))]
    fn members_async<'py>(
        &self,
        py: Python<'py>,
        audience_id: AudienceId,
        filters: Option<Filters>,
        limit: Option<Limit>,
        query_id: Option<String>,
    ) -> CdpResult<Bound<'py, PyAny>> {
        let feed = self.members_feed(audience_id, filters, limit, query_id)?;
        Ok(members_async(py, feed)?)
    }

    /// Members one at a time (`for` or `async for`), fetched page by page in
    /// the background.
    #[pyo3(signature = (audience_id, filters=None, limit=None, *, query_id=None))]
    fn iter_members(
        &self,
        audience_id: AudienceId,
        filters: Option<Filters>,
        limit: Option<Limit>,
        query_id: Option<String>,
    ) -> CdpResult<MemberIterator> {
        let q = query(audience_id, filters, limit)?;
        Ok(MemberIterator::start(self.live_client()?, q, query_id))
    }

    /// Pages (`Page(items, cursor, next_cursor)`), from `cursor` if given.
    #[pyo3(signature = (audience_id, filters=None, limit=None, *, cursor=None))]
    fn iter_pages(
        &self,
        audience_id: AudienceId,
        filters: Option<Filters>,
        limit: Option<Limit>,
        cursor: Option<&Bound<'_, PyAny>>,
    ) -> CdpResult<PageIterator> {
        let q = query(audience_id, filters, limit)?;
        let cursor = match cursor.filter(|c| !c.is_none()) {
            Some(c) => {
                let c = str_arg(c, "cursor")?;
                if c.is_empty() || c.chars().any(char::is_control) {
                    return Err(Error::validation("cursor must be a non-empty token").into());
                }
                Some(c)
            }
            None => None,
        };
        Ok(PageIterator::start(self.live_client()?, q, cursor))
    }

    /// Record batches, one per page (`for` or `async for`), fetched and
    /// decoded in the background at most three pages ahead of the one you hold.
    #[pyo3(signature = (audience_id, filters=None, limit=None))]
    fn iter_batches(
        &self,
        audience_id: AudienceId,
        filters: Option<Filters>,
        limit: Option<Limit>,
    ) -> CdpResult<BatchIterator> {
        let q = query(audience_id, filters, limit)?;
        Ok(BatchIterator::start(self.live_client()?, q))
    }

    /// `await q.members_arrow_async(...)`: like `members_arrow()`.
    #[pyo3(signature = (audience_id, filters=None, limit=None))]
    fn members_arrow_async<'py>(
        &self,
        py: Python<'py>,
        audience_id: AudienceId,
        filters: Option<Filters>,
        limit: Option<Limit>,
    ) -> CdpResult<Bound<'py, PyAny>> {
        let q = query(audience_id, filters, limit)?;
        Ok(members_table_async(py, self.live_client()?, q)?)
    }
}

/// The whole listing as one table: `members_arrow` (an Arrow table) and
/// the frames made from it by `cxone_cdp._frames` (`to_pandas`,
/// `to_polars`; the optional dependency is checked before any request).
macro_rules! table {
    ($(#[$doc:meta])* $name:ident, $frame:expr) => {
        #[pymethods]
        impl Querier {
            $(#[$doc])*
            #[pyo3(signature = (audience_id, filters=None, limit=None))]
            fn $name(
                &self,
                py: Python<'_>,
                audience_id: AudienceId,
                filters: Option<Filters>,
                limit: Option<Limit>,
            ) -> CdpResult<Py<PyAny>> {
                let table = || {
                    let q = query(audience_id, filters, limit)?;
                    members_table(py, self.live_client()?, q)
                };
                match $frame {
                    Some(frame) => crate::batches::frame(py, frame, table),
                    None => table(),
                }
            }
        }
    };
}

table!(
    /// Every member as one Arrow table (`__arrow_c_stream__`).
    members_arrow,
    None
);
table!(
    /// `members_arrow(...)` as a pandas DataFrame (needs pyarrow and pandas).
    to_pandas,
    Some("to_pandas")
);
table!(
    /// `members_arrow(...)` as a polars DataFrame (needs polars).
    to_polars,
    Some("to_polars")
);

/// The listing on this thread: waits through one [`Bridge`] (so Ctrl-C is
/// checked every tick of the whole call), converts each page as it comes.
fn members(py: Python<'_>, feed: Arc<Feed>) -> CdpResult<Py<PyList>> {
    let mut bridge = Bridge::new(py);
    let list = PyList::empty(py);
    loop {
        let f = feed.clone();
        match bridge.wait(async move { Ok(f.recv().await) })? {
            None => return Ok(list.unbind()),
            Some(Err(e)) => return Err(e.into()),
            Some(Ok(page)) => {
                let _pause = GcPause::new(py);
                TapeBuilder::new(py, &page.data).extend(&list)?;
            }
        }
    }
}

/// Pages one `members_async()` step takes when they are already waiting:
/// fewer round trips through the event loop, and the loop is never held for
/// more than a few pages' worth of dict building.
const PAGES_A_STEP: usize = 4;

/// The listing as an awaitable of steps: a step takes the pages already
/// waiting (up to [`PAGES_A_STEP`]) at once, or else waits for one on the
/// runtime (and takes up to [`PAGES_A_STEP`] that are then waiting); their
/// dicts are built on the loop thread (never on a runtime worker, see
/// `crate::awaitable`) while the next pages are fetched and decoded.
fn members_async(py: Python<'_>, feed: Arc<Feed>) -> PyResult<Bound<'_, PyAny>> {
    let list: Py<PyList> = PyList::empty(py).unbind();
    let hidden = Arc::new(Mutex::new(Some(HiddenItems::default())));
    awaitable_steps(py, move |py| {
        let (list, hidden) = (list.clone_ref(py), hidden.clone());
        let mut waiting = Vec::new();
        take_waiting(&feed, &mut waiting);
        if !waiting.is_empty() {
            return Step::Ready(build(waiting, list, hidden));
        }
        let feed = feed.clone();
        Step::Run(Box::pin(async move {
            let mut pages = vec![feed.recv().await];
            take_waiting(&feed, &mut pages);
            build(pages, list, hidden)
        }))
    })
}

/// Adds the pages already waiting to `pages`, up to [`PAGES_A_STEP`], and
/// none after the end of the listing or an error.
fn take_waiting(feed: &Feed, pages: &mut Vec<Option<Result<TapePage, Error>>>) {
    while pages.len() < PAGES_A_STEP && pages.last().is_none_or(|p| matches!(p, Some(Ok(_)))) {
        match feed.try_recv() {
            Some(next) => pages.push(Some(next)),
            None => break,
        }
    }
}

/// A step's end on the loop thread: the pages' dicts appended to `list`
/// (`None`: the listing is over, and the list is the value).
fn build(
    pages: Vec<Option<Result<TapePage, Error>>>,
    list: Py<PyList>,
    hidden: Arc<Mutex<Option<HiddenItems>>>,
) -> Finish {
    Box::new(move |py: Python<'_>| {
        let mut hidden = hidden.lock().unwrap_or_else(|p| p.into_inner());
        let list = list.bind(py);
        // One pause of the collector for the step's pages, not one a page.
        let _pause = GcPause::new(py);
        for next in pages {
            match next {
                None => {
                    if let Some(h) = hidden.take() {
                        h.reveal(list);
                    }
                    return Ok(Some(list.clone().into_any().unbind()));
                }
                Some(Err(e)) => return Err(CdpError::from(e).into()),
                Some(Ok(page)) => {
                    TapeBuilder::new(py, &page.data).extend(list)?;
                    if let Some(h) = hidden.as_mut() {
                        h.hide(list);
                    }
                }
            }
        }
        Ok(None)
    })
}
