//! The shared tokio runtime and the two ways Python waits on a core future:
//! `block_on` (sync methods: GIL released, Ctrl-C checked every 100 ms, the
//! task cancelled on a signal) and `into_awaitable` (async twins). Both run
//! the future as its own task, so a panic becomes a Python exception, and
//! both abort the task when the caller goes away.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use pyo3::prelude::*;
use tokio::runtime::Runtime;
use tokio::task::{JoinError, JoinHandle};

use crate::error::{Error, ErrorKind, Result};
use crate::py::errors::to_pyerr;

/// How often a blocked sync call wakes to check for signals.
pub const SIGNAL_TICK: Duration = Duration::from_millis(100);

/// The process-wide runtime (pyo3-async-runtimes' shared one).
pub fn runtime() -> &'static Runtime {
    pyo3_async_runtimes::tokio::get_runtime()
}

/// A task handle that aborts the task when dropped.
pub struct Task<T>(JoinHandle<T>);

impl<T> Drop for Task<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

impl<T> Future for Task<T> {
    type Output = Result<T, JoinError>;
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        Pin::new(&mut self.0).poll(cx)
    }
}

/// Spawns `fut` on the shared runtime.
pub fn spawn<F>(fut: F) -> Task<F::Output>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    Task(runtime().spawn(fut))
}

/// The core error for a task that panicked or was cancelled.
pub fn join_error(e: JoinError) -> Error {
    if e.is_panic() {
        let payload = e.into_panic();
        let msg = payload
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "unknown panic".to_string());
        log::error!(target: "cxone_cdp", "internal error (panic): {msg}");
        Error::new(ErrorKind::Other, format!("internal error (panic): {msg}")).with_code("panic")
    } else {
        Error::new(ErrorKind::Other, "the operation was cancelled").with_code("cancelled")
    }
}

fn flatten<T>(r: Result<Result<T>, JoinError>) -> Result<T> {
    r.map_err(join_error).and_then(|x| x)
}

/// Runs a core future to completion from a sync Python call: the GIL is
/// released while waiting; every `SIGNAL_TICK` the GIL is taken to run signal
/// handlers, and if one raises (Ctrl-C) the task is cancelled and that
/// exception propagated. Never touches Python's event loop, so it works in a
/// thread that runs one (Jupyter).
pub fn block_on<T, F>(py: Python<'_>, fut: F) -> PyResult<T>
where
    F: Future<Output = Result<T>> + Send + 'static,
    T: Send + 'static,
{
    let mut task = spawn(fut);
    loop {
        let waited = py.detach(|| {
            runtime().block_on(async { tokio::time::timeout(SIGNAL_TICK, &mut task).await })
        });
        match waited {
            Ok(done) => return flatten(done).map_err(to_pyerr),
            Err(_elapsed) => py.check_signals()?, // dropping `task` on `?` aborts it
        }
    }
}

/// The awaitable for an async twin: the core future runs as its own task;
/// cancelling the Python awaitable aborts it.
pub fn into_awaitable<'py, T, F>(py: Python<'py>, fut: F) -> PyResult<Bound<'py, PyAny>>
where
    F: Future<Output = Result<T>> + Send + 'static,
    T: for<'a> IntoPyObject<'a> + Send + 'static,
{
    let task = spawn(fut);
    pyo3_async_runtimes::tokio::future_into_py(
        py,
        async move { flatten(task.await).map_err(to_pyerr) },
    )
}

/// Frees `value` on a dedicated background thread: a page of parsed members
/// is many small allocations, and freeing them on the Python thread (holding
/// the GIL) costs a good part of the conversion. (One long-lived thread fed by
/// a small bounded channel: spawning a task per page costs more than it
/// saves, and when the thread falls behind the caller frees the value itself,
/// so garbage never piles up.)
pub fn drop_later<T: Send + 'static>(value: T) {
    type Garbage = Box<dyn Send>;
    static DROPPER: std::sync::OnceLock<
        Option<std::sync::Mutex<std::sync::mpsc::SyncSender<Garbage>>>,
    > = std::sync::OnceLock::new();
    let sender = DROPPER.get_or_init(|| {
        let (tx, rx) = std::sync::mpsc::sync_channel::<Garbage>(2);
        std::thread::Builder::new()
            .name("cxone-cdp-dropper".into())
            .spawn(move || {
                for garbage in rx {
                    drop(garbage)
                }
            })
            .ok()
            .map(|_| std::sync::Mutex::new(tx))
    });
    let value: Garbage = Box::new(value);
    if let Some(tx) = sender {
        let tx = tx.lock().unwrap_or_else(|p| p.into_inner());
        // Full (or the thread is gone): the value comes back and is dropped here.
        let _ = tx.try_send(value);
    }
}
