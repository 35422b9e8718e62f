//! Streaming iterators (obstore's stream pattern): a background task walks
//! the pages and hands them over a one-slot channel, taking a slot before it
//! fetches the next page, so at most four pages are held (the one being
//! consumed, the one waiting, and the two the core's walk asks for ahead on
//! their cursor hints, which it does only while the consumer waits for a
//! page). Each object is both a sync and an async iterator; dropping it
//! aborts the task.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use pyo3::exceptions::{PyStopAsyncIteration, PyStopIteration};
use pyo3::prelude::*;
use pyo3::types::PyString;

use crate::awaitable::awaitable_then;
use crate::bridge::{Bridge, SignalClock};
use crate::dicts::TapeBuilder;
use crate::errors::{CdpError, CdpResult};
use crate::runtime::runtime;
use cxone_cdp_core::api::{Client, Query};
use cxone_cdp_core::error::Result;
use cxone_cdp_core::page::tape::{Tape, TapePages};
use cxone_cdp_core::page::PageOf;
use cxone_cdp_core::paginate::Prefetch;

/// A page of the dict path: its tape (shared with the response cache).
pub(crate) type TapePage = PageOf<Arc<Tape>>;

/// A listing's pages, fetched ahead by the core's one bounded prefetch.
pub(crate) type Feed<T = TapePage> = Prefetch<T>;

/// Starts the background walk of the dict path (pages as tapes), from
/// `cursor` if given, `capacity` pages ahead (1 for the iterators: at most
/// four pages held, see the module doc), reported as one listing (metrics,
/// audit record, completion callback when `query_id` is set) once it ends
/// or fails.
/// `fill_cache` false (the iterators) reads the response cache without
/// storing what it fetches.
pub(crate) fn tape_feed(
    client: Client,
    query: Query,
    cursor: Option<String>,
    capacity: usize,
    query_id: Option<String>,
    fill_cache: bool,
) -> Arc<Feed> {
    let listing = client.start_listing(&query, query_id);
    let open = move |demand| async move {
        let prepared = client.prepare(query).await?;
        let prepared = if fill_cache {
            prepared
        } else {
            prepared.streaming()
        };
        Ok(client.pages_paced(prepared, cursor, Arc::new(TapePages), demand))
    };
    let items = |page: &TapePage| page.items;
    Arc::new(Prefetch::spawn(
        runtime().handle(),
        capacity,
        open,
        Some(listing),
        items,
    ))
}

/// What an iterator has handed out so far, for its repr (shared with the
/// futures of `__anext__`, hence atomics).
#[derive(Default)]
pub(crate) struct Progress {
    audience_id: String,
    /// Signals are checked across `__next__` calls too (see `crate::bridge`).
    pub(crate) clock: SignalClock,
    pages: AtomicU64,
    items: AtomicU64,
    done: AtomicBool,
}

impl Progress {
    pub(crate) fn new(audience_id: &str) -> Arc<Progress> {
        Arc::new(Progress {
            audience_id: audience_id.to_string(),
            ..Progress::default()
        })
    }

    /// A page (of `items` members) arrived.
    pub(crate) fn page(&self, items: usize) {
        self.pages.fetch_add(1, Ordering::Relaxed);
        self.items.fetch_add(items as u64, Ordering::Relaxed);
    }

    /// One member was handed out (iterators that count members, not pages).
    pub(crate) fn item(&self) {
        self.items.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn pages_only(&self) {
        self.pages.fetch_add(1, Ordering::Relaxed);
    }

    /// The listing ended (exhausted, failed or closed).
    pub(crate) fn finish(&self) {
        self.done.store(true, Ordering::Relaxed);
    }

    /// What the feed handed over, with the listing marked done when it is
    /// the end (`None`) or an error: `Ok(Some(page))` goes on.
    pub(crate) fn settle<T>(&self, next: Option<Result<T>>) -> Result<Option<T>> {
        match next {
            Some(Ok(page)) => Ok(Some(page)),
            Some(Err(e)) => {
                self.finish();
                Err(e)
            }
            None => {
                self.finish();
                Ok(None)
            }
        }
    }

    /// `Class(audience_id='...', pages=2, members=2000[, done])`.
    pub(crate) fn repr(&self, py: Python<'_>, class: &str, items: &str) -> String {
        let aud = PyString::new(py, &self.audience_id)
            .repr()
            .map(|r| r.to_string())
            .unwrap_or_default();
        format!(
            "{class}(audience_id={aud}, pages={}, {items}={}{})",
            self.pages.load(Ordering::Relaxed),
            self.items.load(Ordering::Relaxed),
            if self.done.load(Ordering::Relaxed) {
                ", done"
            } else {
                ""
            }
        )
    }
}

/// The protocol every listing iterator shares: `__iter__` and `__aiter__`
/// return the iterator, `close()` stops the background fetch, the repr shows
/// what was handed out so far. (Each type has its own `__next__` and
/// `__anext__`.)
macro_rules! iterator_protocol {
    ($ty:ident, $items:literal) => {
        #[pymethods]
        impl $ty {
            /// Returns itself.
            fn __iter__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
                slf
            }

            /// Returns itself.
            fn __aiter__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
                slf
            }

            /// Stops the background fetch (also done when the iterator is dropped).
            fn close(&self) {
                self.feed.close();
                self.progress.finish();
            }

            #[doc = concat!("`", stringify!($ty), "(audience_id=..., pages=..., ", $items, "=...)`: ")]
            #[doc = "what was handed out so far."]
            fn __repr__(&self, py: Python<'_>) -> String {
                self.progress.repr(py, stringify!($ty), $items)
            }
        }
    };
}
pub(crate) use iterator_protocol;

iterator_protocol!(MemberIterator, "members");
iterator_protocol!(PageIterator, "members");

/// An awaitable that is already done (for `__anext__` served from the buffer).
#[pyclass(module = "cxone_cdp._native", frozen)]
pub struct Ready {
    value: Mutex<Option<Py<PyAny>>>,
}

#[pymethods]
impl Ready {
    /// Returns itself: awaiting it yields the value at once.
    fn __await__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }
    /// Returns itself (the generator protocol behind `await`).
    fn __iter__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }
    /// Finishes at once with the value (`StopIteration(value)`).
    fn __next__(&self) -> PyResult<Py<PyAny>> {
        let v = self.value.lock().unwrap_or_else(|p| p.into_inner()).take();
        Err(PyStopIteration::new_err((v,)))
    }
}

/// Members (dicts) one at a time, `for` or `async for`, from
/// `Querier.iter_members()`. Pages are fetched in the background at most
/// three ahead, so memory stays at about four pages; `close()` (or dropping
/// the iterator) stops the fetch.
#[pyclass(module = "cxone_cdp._native", name = "MemberIterator", frozen)]
pub struct MemberIterator {
    feed: Arc<Feed>,
    buffer: Arc<Mutex<VecDeque<Py<PyAny>>>>,
    progress: Arc<Progress>,
}

impl MemberIterator {
    /// A listing reported under `query_id` (completion callback) when it
    /// is exhausted or fails.
    pub fn start(client: Client, query: Query, query_id: Option<String>) -> MemberIterator {
        let progress = Progress::new(&query.audience_id);
        MemberIterator {
            feed: tape_feed(client, query, None, 1, query_id, false),
            buffer: Arc::new(Mutex::new(VecDeque::new())),
            progress,
        }
    }

    fn pop(buffer: &Mutex<VecDeque<Py<PyAny>>>) -> Option<Py<PyAny>> {
        buffer.lock().unwrap_or_else(|p| p.into_inner()).pop_front()
    }

    /// Converts a page into the buffer and returns its first member.
    fn fill(
        py: Python<'_>,
        buffer: &Mutex<VecDeque<Py<PyAny>>>,
        page: TapePage,
    ) -> PyResult<Option<Py<PyAny>>> {
        let mut b = TapeBuilder::new(py, &page.data);
        let mut items = VecDeque::with_capacity(page.items);
        while let Some(x) = b.next_item()? {
            items.push_back(x.unbind());
        }
        let first = items.pop_front();
        let mut buf = buffer.lock().unwrap_or_else(|p| p.into_inner());
        buf.extend(items);
        Ok(first)
    }
}

#[pymethods]
impl MemberIterator {
    /// The next member; waits (GIL released) for the next page when needed.
    fn __next__(&self, py: Python<'_>) -> CdpResult<Option<Py<PyAny>>> {
        if let Some(x) = Self::pop(&self.buffer) {
            self.progress.item();
            return Ok(Some(x));
        }
        let mut bridge = Bridge::resume(py, &self.progress.clock);
        loop {
            let feed = self.feed.clone();
            let next = bridge.wait(async move { Ok(feed.recv().await) })?;
            let Some(page) = self.progress.settle(next)? else {
                return Ok(None);
            };
            self.progress.pages_only();
            if let Some(first) = Self::fill(py, &self.buffer, page)? {
                self.progress.item();
                return Ok(Some(first));
            }
        }
    }

    /// An awaitable of the next member (`async for`).
    fn __anext__<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        if let Some(x) = Self::pop(&self.buffer) {
            self.progress.item();
            return Ok(Bound::new(
                py,
                Ready {
                    value: Mutex::new(Some(x)),
                },
            )?
            .into_any());
        }
        let feed = self.feed.clone();
        let (buffer, buffered) = (self.buffer.clone(), self.buffer.clone());
        let (progress, counted) = (self.progress.clone(), self.progress.clone());
        // The page is waited for on the runtime; its dicts are built on the
        // loop thread (see `crate::awaitable`).
        let next = async move {
            loop {
                if let Some(x) = Self::pop(&buffer) {
                    return Ok::<_, CdpError>(Some(Ok(x)));
                }
                let Some(page) = progress.settle(feed.recv().await)? else {
                    return Ok(None);
                };
                progress.pages_only();
                if page.items > 0 {
                    return Ok(Some(Err(page)));
                }
            }
        };
        awaitable_then(py, next, move |py, next| {
            let first = match next {
                None => None,
                Some(Ok(x)) => Some(x),
                Some(Err(page)) => Self::fill(py, &buffered, page)?,
            };
            match first {
                Some(x) => {
                    counted.item();
                    Ok(x)
                }
                None => Err(PyStopAsyncIteration::new_err(()).into()),
            }
        })
    }
}

/// One page of a listing (from `Querier.iter_pages()`): `items` (the
/// members, dicts), `cursor` (the token that fetched it; `None` for the
/// first page) and `next_cursor` (`None` on the last page). `len(page)` is
/// the number of members.
#[pyclass(module = "cxone_cdp._native", name = "Page", frozen)]
pub struct Page {
    /// The members on this page (a list of dicts).
    #[pyo3(get)]
    items: Py<pyo3::types::PyList>,
    /// The cursor this page was fetched with (`None` for the first page).
    #[pyo3(get)]
    cursor: Option<String>,
    /// The cursor of the next page (`None` on the last page).
    #[pyo3(get)]
    next_cursor: Option<String>,
}

impl Page {
    fn build(py: Python<'_>, page: TapePage) -> PyResult<Py<Page>> {
        let items = TapeBuilder::new(py, &page.data).list()?.unbind();
        Py::new(
            py,
            Page {
                items,
                cursor: page.cursor,
                next_cursor: page.next_cursor,
            },
        )
    }
}

#[pymethods]
impl Page {
    /// The number of members on the page.
    fn __len__(&self, py: Python<'_>) -> usize {
        self.items.bind(py).len()
    }

    /// `Page(items=<n members>, cursor=..., next_cursor=...)`.
    fn __repr__(&self, py: Python<'_>) -> String {
        format!(
            "Page(items=<{} members>, cursor={:?}, next_cursor={:?})",
            self.items.bind(py).len(),
            self.cursor,
            self.next_cursor
        )
    }
}

/// Pages (`Page`), `for` or `async for`, from `Querier.iter_pages()`: for
/// callers that checkpoint by cursor (resume with `iter_pages(...,
/// cursor=page.next_cursor)`). One page is fetched ahead in the background.
#[pyclass(module = "cxone_cdp._native", name = "PageIterator", frozen)]
pub struct PageIterator {
    feed: Arc<Feed>,
    progress: Arc<Progress>,
}

impl PageIterator {
    pub fn start(client: Client, query: Query, cursor: Option<String>) -> PageIterator {
        let progress = Progress::new(&query.audience_id);
        PageIterator {
            feed: tape_feed(client, query, cursor, 1, None, false),
            progress,
        }
    }

    fn step(progress: &Progress, next: Option<Result<TapePage>>) -> Result<Option<TapePage>> {
        let page = progress.settle(next)?;
        if let Some(page) = &page {
            progress.page(page.items);
        }
        Ok(page)
    }
}

#[pymethods]
impl PageIterator {
    /// The next page; waits (GIL released) while it is fetched.
    fn __next__(&self, py: Python<'_>) -> CdpResult<Option<Py<Page>>> {
        let feed = self.feed.clone();
        let next =
            Bridge::resume(py, &self.progress.clock).wait(async move { Ok(feed.recv().await) })?;
        match Self::step(&self.progress, next)? {
            None => Ok(None),
            Some(page) => Ok(Some(Page::build(py, page)?)),
        }
    }

    /// An awaitable of the next page (`async for`).
    fn __anext__<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let feed = self.feed.clone();
        let progress = self.progress.clone();
        let next = async move { Ok::<_, CdpError>(Self::step(&progress, feed.recv().await)?) };
        awaitable_then(py, next, |py, page| match page {
            None => Err(PyStopAsyncIteration::new_err(()).into()),
            Some(page) => Ok(Page::build(py, page)?.into_any()),
        })
    }
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<MemberIterator>()?;
    m.add_class::<PageIterator>()?;
    m.add_class::<Page>()?;
    m.add_class::<Ready>()?;
    Ok(())
}
