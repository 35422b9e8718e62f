//! The one bounded prefetch: a background task walks a listing's page
//! stream and hands the pages over a channel of `capacity` slots. A slot is
//! reserved before each fetch, so while the consumer works on page k, page
//! k+1 is fetched and decoded, and never more than `capacity` pages wait
//! (plus the one the consumer holds). Dropping the prefetch (or `close`)
//! aborts the walk.
//!
//! The prefetch also tells the walk whether its consumer is waiting for a
//! page ([`Demand`]).
//!
//! Every consumer of a listing uses it: the Python `members()` family, the
//! member, page and batch iterators, and the export.

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use futures_util::{FutureExt, Stream, StreamExt};
use tokio::runtime::Handle;
use tokio::sync::{mpsc, Mutex};
use tokio::task::AbortHandle;

use crate::completion::Listing;
use crate::error::{check_same_process, Error, Result};

/// Whether a listing's consumer is waiting for its next page, as the walk
/// that fetches the pages sees it: the walk overlaps a page's decode with
/// the next fetches only while its consumer waits in [`Prefetch::recv`] with
/// no page to take (see `Client::pages_paced`). A consumer slower than the
/// walk (dicts built in Python, a slow writer) then gets a walk that fetches
/// and decodes one page at a time, which leaves the other cores to the
/// consumer; one that outruns the walk gets the overlap.
#[derive(Debug, Clone, Default)]
pub struct Demand(Option<Arc<AtomicUsize>>);

impl Demand {
    /// A consumer that reads the walk itself (nothing in between): it always
    /// waits for the next page.
    pub fn eager() -> Demand {
        Demand(None)
    }

    /// A count of consumers waiting, none yet (what a [`Prefetch`] keeps for
    /// its walk).
    pub fn counted() -> Demand {
        Demand(Some(Arc::new(AtomicUsize::new(0))))
    }

    /// A consumer is waiting for a page.
    pub fn waiting(&self) -> bool {
        self.0
            .as_ref()
            .is_none_or(|n| n.load(Ordering::Acquire) > 0)
    }

    /// Marks a consumer waiting until the guard is dropped.
    pub fn park(&self) -> Parked {
        if let Some(n) = &self.0 {
            n.fetch_add(1, Ordering::AcqRel);
        }
        Parked(self.0.clone())
    }
}

/// A consumer waiting (see [`Demand::park`]); dropped when it has its page
/// or gives up.
#[derive(Debug)]
pub struct Parked(Option<Arc<AtomicUsize>>);

impl Drop for Parked {
    fn drop(&mut self) {
        if let Some(n) = &self.0 {
            n.fetch_sub(1, Ordering::AcqRel);
        }
    }
}

/// A listing's pages, fetched ahead in the background.
pub struct Prefetch<T> {
    rx: Mutex<mpsc::Receiver<Result<T>>>,
    demand: Demand,
    task: AbortHandle,
    /// The process whose runtime runs `task` (after `fork()` the child gets
    /// an error instead of waiting forever on a task that never runs).
    pid: u32,
}

impl<T> Drop for Prefetch<T> {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl<T> std::fmt::Debug for Prefetch<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Prefetch").field("pid", &self.pid).finish()
    }
}

impl<T: Send + 'static> Prefetch<T> {
    /// Runs `open` (which prepares the query and returns its page stream,
    /// paced by the [`Demand`] it is given), then the stream, on `runtime`,
    /// at most `capacity` pages ahead (at least 1). When `listing` is given,
    /// the walk is reported as one listing (metrics, audit record,
    /// completion callback) once it ends or fails,
    /// before the consumer can see the end or the error, so a caller
    /// returning from a listing already has its audit record; `items` counts
    /// a page's members. A walk its consumer abandons reports nothing.
    pub fn spawn<S, F>(
        runtime: &Handle,
        capacity: usize,
        open: impl FnOnce(Demand) -> F,
        listing: Option<Listing>,
        items: fn(&T) -> usize,
    ) -> Prefetch<T>
    where
        F: Future<Output = Result<S>> + Send + 'static,
        S: Stream<Item = Result<T>> + Send + 'static,
    {
        let (tx, rx) = mpsc::channel::<Result<T>>(capacity.max(1));
        let panic_tx = tx.clone();
        let demand = Demand::counted();
        let walk = walk(tx, open(demand.clone()), listing, items);
        let task = runtime.spawn(async move {
            if let Err(payload) = AssertUnwindSafe(walk).catch_unwind().await {
                let _ = panic_tx.send(Err(Error::panicked(payload.as_ref()))).await;
            }
        });
        Prefetch {
            rx: Mutex::new(rx),
            demand,
            task: task.abort_handle(),
            pid: std::process::id(),
        }
    }

    /// The next page, `None` after the last one (or after an error was
    /// handed over). One consumer at a time; others wait their turn.
    pub async fn recv(&self) -> Option<Result<T>> {
        if let Err(e) = check_same_process(self.pid, "iterator") {
            return Some(Err(e));
        }
        let mut rx = self.rx.lock().await;
        match rx.try_recv() {
            Ok(page) => Some(page),
            Err(mpsc::error::TryRecvError::Disconnected) => None,
            Err(mpsc::error::TryRecvError::Empty) => {
                let _waiting = self.demand.park();
                rx.recv().await
            }
        }
    }

    /// The next page if one is already waiting (without waiting for one);
    /// `None` also while another consumer holds the channel, and in a
    /// forked child (whose `recv` then gives the error).
    pub fn try_recv(&self) -> Option<Result<T>> {
        check_same_process(self.pid, "iterator").ok()?;
        self.rx.try_lock().ok()?.try_recv().ok()
    }

    /// Stops the background walk (also done on drop).
    pub fn close(&self) {
        self.task.abort();
    }
}

async fn walk<T, S, F>(
    tx: mpsc::Sender<Result<T>>,
    open: F,
    mut listing: Option<Listing>,
    items: fn(&T) -> usize,
) where
    F: Future<Output = Result<S>>,
    S: Stream<Item = Result<T>>,
{
    let finish = |listing: Option<Listing>, ok: bool| {
        if let Some(l) = listing {
            l.finish(ok);
        }
    };
    let pages = match open.await {
        Ok(p) => p,
        Err(e) => {
            finish(listing, false);
            let _ = tx.send(Err(e)).await;
            return;
        }
    };
    let mut pages = std::pin::pin!(pages);
    loop {
        // Room first, then the fetch: never more than `capacity` pages wait.
        let Ok(permit) = tx.reserve().await else {
            return; // the consumer is gone
        };
        match pages.next().await {
            Some(Ok(page)) => {
                if let Some(l) = listing.as_mut() {
                    l.page(items(&page));
                }
                permit.send(Ok(page));
            }
            Some(Err(e)) => {
                finish(listing, false);
                permit.send(Err(e));
                return;
            }
            None => {
                finish(listing, true);
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorKind;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn holds_at_most_capacity_pages_ahead() {
        let fetched = Arc::new(AtomicUsize::new(0));
        let f = fetched.clone();
        let open = async move {
            Ok(futures_util::stream::iter(0..100).map(move |i| {
                f.fetch_add(1, Ordering::SeqCst);
                Ok::<_, Error>(i)
            }))
        };
        let p = Prefetch::spawn(&Handle::current(), 2, |_| open, None, |_| 1);
        assert_eq!(p.recv().await.unwrap().unwrap(), 0);
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        // One handed over, two waiting in the channel, none beyond.
        assert_eq!(fetched.load(Ordering::SeqCst), 3);
        let mut n = 1;
        while let Some(page) = p.recv().await {
            assert_eq!(page.unwrap(), n);
            n += 1;
        }
        assert_eq!(n, 100);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn try_recv_takes_only_what_is_waiting() {
        let (go_on, gate) = tokio::sync::oneshot::channel::<()>();
        let open = async move {
            let first = futures_util::stream::iter([Ok::<_, Error>(0), Ok(1)]);
            let after = futures_util::stream::once(async move {
                let _ = gate.await;
                Ok(2)
            });
            Ok(first.chain(after))
        };
        let p = Prefetch::spawn(&Handle::current(), 2, |_| open, None, |_| 1);
        assert_eq!(p.recv().await.unwrap().unwrap(), 0);
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        assert_eq!(p.try_recv().unwrap().unwrap(), 1);
        assert!(p.try_recv().is_none(), "page 2 is not there yet");
        go_on.send(()).unwrap();
        assert_eq!(p.recv().await.unwrap().unwrap(), 2);
        assert!(p.recv().await.is_none());
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_walk_sees_whether_its_consumer_is_waiting() {
        // The stream records, as it makes each page, what its demand says;
        // page 2 is made only once the gate opens.
        let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
        let (open_gate, gate) = tokio::sync::oneshot::channel::<()>();
        let s = seen.clone();
        let open = move |demand: Demand| async move {
            let gate = futures_util::FutureExt::shared(gate);
            Ok(futures_util::stream::iter(0..3).then(move |i| {
                let (s, demand, gate) = (s.clone(), demand.clone(), gate.clone());
                async move {
                    if i == 2 {
                        let _ = gate.await;
                    }
                    s.lock().unwrap().push(demand.waiting());
                    Ok::<_, Error>(i)
                }
            }))
        };
        let p = Arc::new(Prefetch::spawn(&Handle::current(), 1, open, None, |_| 1));
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        // Page 0 was made with nobody waiting; page 1 waits for room.
        assert_eq!(*seen.lock().unwrap(), [false]);
        // Taken without waiting: page 1 is made with nobody waiting either.
        assert_eq!(p.recv().await.unwrap().unwrap(), 0);
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        assert_eq!(*seen.lock().unwrap(), [false, false]);
        assert_eq!(p.recv().await.unwrap().unwrap(), 1);
        // A consumer waits in recv while page 2 is behind the gate.
        let waiter = tokio::spawn({
            let p = p.clone();
            async move { p.recv().await.unwrap().unwrap() }
        });
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        open_gate.send(()).unwrap();
        assert_eq!(waiter.await.unwrap(), 2);
        assert_eq!(*seen.lock().unwrap(), [false, false, true]);
        assert!(p.recv().await.is_none());
        assert!(Demand::eager().waiting());
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn an_open_error_and_a_panic_are_handed_over() {
        let open =
            async { Err::<futures_util::stream::Empty<Result<u8>>, _>(Error::validation("no")) };
        let p = Prefetch::spawn(&Handle::current(), 1, |_| open, None, |_| 1);
        assert_eq!(
            p.recv().await.unwrap().unwrap_err().kind,
            ErrorKind::Validation
        );
        assert!(p.recv().await.is_none());
        let open = async {
            Ok(futures_util::stream::iter([0u8]).map(|_| -> Result<u8> { panic!("boom") }))
        };
        let p = Prefetch::spawn(&Handle::current(), 1, |_| open, None, |_| 1);
        assert_eq!(
            p.recv().await.unwrap().unwrap_err().code.as_deref(),
            Some("panic")
        );
    }
}
