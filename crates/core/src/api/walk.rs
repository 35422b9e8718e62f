//! The one pagination walk: every page of a prepared query, in order, for
//! every output form (dict tape, `Json` tree, Arrow, the export's formats).
//!
//! It follows `nextPageToken` until null, keeps going over empty and short
//! pages, and stops with a pagination error on a repeated cursor
//! ([`Paginator`]). Each page is fetched and decoded on its own task. When
//! the body of page k is in, the cursor it names is read without decoding
//! the page ([`cursor_hint`]), and page k+1 is requested on that cursor
//! while page k is decoded, so the decode of one page overlaps the network
//! time of the next. The walk still follows only the decoded page's cursor:
//! a request made on a hint that differs from it is dropped (aborted), and
//! the page is asked for again on the right cursor. At most [`AHEAD`] pages
//! are asked for beyond the one the walk hands over next; a walk that is
//! not polled asks for no more.
//!
//! The overlap is for a consumer that waits on the walk. A walk behind a
//! prefetch ([`Client::pages_paced`]) overlaps only while its consumer is
//! waiting for a page ([`Demand`]): when a hint comes in while the consumer
//! is busy, the page is decoded where it was fetched and the next one is
//! asked for after it, one page at a time, as a consumer slower than the
//! network needs. With Python building dicts on one of two cores, the
//! overlap's extra threads took CPU from it: paced, `members()` took 0.89x
//! and 0.97x the time (medians of 16 and 12 paired runs, two forms of the
//! pacing).

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use futures_util::future::{self, Either};
use futures_util::stream::{self, Stream};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use super::{Client, Prepared};
use crate::error::{Error, ErrorKind, Result};
use crate::page::envelope::cursor_hint;
use crate::page::{Decoded, PageDecoder, PageOf};
use crate::paginate::{Demand, Paginator};

/// Where a page fetch reports the cursor its body names, once, as soon as
/// the first body that answers it is in (see [`Client::get_page`]).
pub(crate) struct Hint {
    tx: Mutex<Option<oneshot::Sender<String>>>,
    demand: Demand,
}

impl Hint {
    /// Offers the cursor `body` names (nothing when it names none), then
    /// runs `decode`. While the consumer waits, on a multi-thread runtime,
    /// the decode gives its worker up as it runs
    /// ([`tokio::task::block_in_place`]): the walk, woken by the offer onto
    /// this worker, then asks for the next page at once instead of waiting
    /// for the decode to end.
    pub(crate) fn offer_then<T>(&self, body: &[u8], decode: impl FnOnce() -> T) -> T {
        let tx = self.tx.lock().ok().and_then(|mut slot| slot.take());
        let Some(tx) = tx else {
            return decode();
        };
        match cursor_hint(body) {
            Some(cursor) => drop(tx.send(cursor)),
            None => drop(tx),
        }
        let multi_thread = tokio::runtime::Handle::try_current()
            .is_ok_and(|h| h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread);
        if multi_thread && self.demand.waiting() {
            tokio::task::block_in_place(decode)
        } else {
            decode()
        }
    }
}

impl Client {
    /// Every page of a prepared query from `cursor` (or the start), decoded
    /// by `decoder`, in order (module doc), for a consumer that reads the
    /// stream itself. The stream ends after the last page or the first
    /// error. It must be polled inside a tokio runtime, where it spawns its
    /// page fetches.
    pub fn pages_with<D: PageDecoder>(
        &self,
        prepared: Prepared,
        cursor: Option<String>,
        decoder: Arc<D>,
    ) -> impl Stream<Item = Result<PageOf<D::Output>>> + Send + 'static {
        self.pages_paced(prepared, cursor, decoder, Demand::eager())
    }

    /// [`Client::pages_with`] for a consumer behind a prefetch: the walk
    /// overlaps decode and network only while `demand` says the consumer
    /// is waiting for a page.
    pub fn pages_paced<D: PageDecoder>(
        &self,
        prepared: Prepared,
        cursor: Option<String>,
        decoder: Arc<D>,
        demand: Demand,
    ) -> impl Stream<Item = Result<PageOf<D::Output>>> + Send + 'static {
        let walk = Walk {
            client: self.clone(),
            prepared: Arc::new(prepared),
            decoder,
            demand,
            pager: Paginator::new(cursor),
            ahead: VecDeque::new(),
        };
        stream::unfold(walk, |mut walk| async move {
            let page = walk.step().await?;
            Some((page, walk))
        })
    }
}

/// How many pages the walk asks for beyond the one it hands over next, each
/// on the cursor hint of the one before it. Two let two pages decode at
/// once while a third is fetched.
const AHEAD: usize = 2;

/// One page being fetched and decoded on its own task (aborted if dropped).
struct Fetch<T> {
    cursor: Option<String>,
    hint: oneshot::Receiver<String>,
    /// The hint was received (or will never come).
    hinted: bool,
    task: JoinHandle<Result<Decoded<T>>>,
}

impl<T> Drop for Fetch<T> {
    fn drop(&mut self) {
        self.task.abort();
    }
}

struct Walk<D: PageDecoder> {
    client: Client,
    prepared: Arc<Prepared>,
    decoder: Arc<D>,
    /// Whether the consumer waits for the next page (then the walk overlaps).
    demand: Demand,
    pager: Paginator,
    /// The pages asked for, in order: the first is the one to hand over
    /// next, each later one asked for on the hint of the one before it.
    ahead: VecDeque<Fetch<D::Output>>,
}

impl<D: PageDecoder> Walk<D> {
    fn start(&self, cursor: Option<String>) -> Fetch<D::Output> {
        let (tx, hint) = oneshot::channel();
        let (client, prepared, decoder) = (
            self.client.clone(),
            self.prepared.clone(),
            self.decoder.clone(),
        );
        let demand = self.demand.clone();
        let at = cursor.clone();
        let task = tokio::spawn(async move {
            let hint = Hint {
                tx: Mutex::new(Some(tx)),
                demand,
            };
            client
                .fetch_page_hinted(&prepared, at.as_deref(), &*decoder, Some(&hint))
                .await
        });
        Fetch {
            cursor,
            hint,
            hinted: false,
            task,
        }
    }

    /// The next page, or `None` after the last one (or after an error).
    async fn step(&mut self) -> Option<Result<PageOf<D::Output>>> {
        let cursor = self.pager.next_request()?.map(str::to_string);
        if self.ahead.front().is_some_and(|f| f.cursor != cursor) {
            self.ahead.clear(); // asked for on a wrong hint: dropped
        }
        if self.ahead.is_empty() {
            let first = self.start(cursor.clone());
            self.ahead.push_back(first);
        }
        let result = loop {
            let fetches = self.ahead.make_contiguous();
            let last = fetches.len() - 1;
            let (first, hint, hinted) = match fetches.split_at_mut(last) {
                ([], [only]) => (&mut only.task, &mut only.hint, &mut only.hinted),
                ([first, ..], [newest]) => (&mut first.task, &mut newest.hint, &mut newest.hinted),
                _ => unreachable!("the walk always has a page in flight"),
            };
            if *hinted || last >= AHEAD {
                break first.await;
            }
            // Wait for this page, or for the newest page's body to name the
            // page after it, which is then asked for at once (the hint first:
            // it is in before its page is decoded).
            match future::select(hint, first).await {
                Either::Right((done, _)) => break done,
                Either::Left((hint, _)) => {
                    *hinted = true;
                    if let Ok(next) = hint {
                        let known = self.pager.has_seen(&next)
                            || self
                                .ahead
                                .iter()
                                .any(|f| f.cursor.as_deref() == Some(&next));
                        if !known && self.demand.waiting() {
                            let fetch = self.start(Some(next));
                            self.ahead.push_back(fetch);
                        }
                    }
                }
            }
        };
        self.ahead.pop_front();
        let result = match result {
            Ok(r) => r,
            Err(e) if e.is_panic() => Err(Error::panicked(e.into_panic().as_ref())),
            Err(_) => Err(Error::new(ErrorKind::Other, "a page fetch was cancelled")),
        };
        let page = result.and_then(|page| {
            self.pager.advance(page.next_page_token.as_deref())?;
            Ok(PageOf {
                data: page.data,
                items: page.items,
                cursor,
                next_cursor: page.next_page_token,
            })
        });
        if page.is_err() {
            self.pager.stop();
            self.ahead.clear();
        }
        Some(page)
    }
}
