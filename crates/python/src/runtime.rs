//! The shared tokio runtime and the two ways Python waits on a core future:
//! `block_on` (sync methods: GIL released, Ctrl-C checked every 100 ms, the
//! task cancelled on a signal) and `into_awaitable` (async twins). Both run
//! the future as its own task, so a panic becomes a Python exception, and
//! both abort the task when the caller goes away.
//!
//! Fork safety: a forked child inherits the runtime's memory but none of its
//! worker threads, so anything spawned on the parent's runtime would never
//! run (a hang). `runtime()` is therefore keyed by process id: the first use
//! in a process builds a runtime for that process (in the original process
//! it is also handed to pyo3-async-runtimes, so there is one runtime, not
//! two). Python awaitables are made with `future_into_py`, which spawns on
//! `runtime()` too (pyo3-async-runtimes' own global runtime cannot be replaced
//! in a child). Objects that hold connections from the parent (a `Querier`'s
//! reqwest pool) must not be used in the child: `check_same_process` gives
//! them the clear error to raise.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicPtr, AtomicU32, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use pyo3::prelude::*;
use pyo3_async_runtimes::generic::{ContextExt, Runtime as GenericRuntime};
use pyo3_async_runtimes::TaskLocals;
use tokio::runtime::Runtime;
use tokio::task::{JoinError, JoinHandle};

use crate::errors::to_pyerr;
use cxone_cdp_core::error::{Error, ErrorKind, Result};

/// How often a blocked sync call wakes to check for signals.
pub const SIGNAL_TICK: Duration = Duration::from_millis(100);

static RT_PID: AtomicU32 = AtomicU32::new(0);
static RT_PTR: AtomicPtr<Runtime> = AtomicPtr::new(std::ptr::null_mut());
static RT_LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn build_runtime() -> Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("cxone-cdp-rt")
        .build()
        .expect("cannot start the tokio runtime")
}

/// The runtime of this process (a fresh one in a forked child).
pub fn runtime() -> &'static Runtime {
    let pid = std::process::id();
    if RT_PID.load(Ordering::Acquire) == pid {
        let p = RT_PTR.load(Ordering::Acquire);
        if !p.is_null() {
            // SAFETY: the pointer comes from `Box::leak` below and is never freed.
            return unsafe { &*p };
        }
    }
    let _guard = RT_LOCK.lock().unwrap_or_else(|p| p.into_inner());
    if RT_PID.load(Ordering::Acquire) == pid {
        let p = RT_PTR.load(Ordering::Acquire);
        if !p.is_null() {
            // SAFETY: as above.
            return unsafe { &*p };
        }
    }
    let first = RT_PTR.load(Ordering::Acquire).is_null();
    let rt: &'static Runtime = Box::leak(Box::new(build_runtime()));
    if first {
        // One runtime in the original process: let pyo3-async-runtimes (and
        // any code that calls it directly) use ours. Fails harmlessly if it
        // already made its own.
        let _ = pyo3_async_runtimes::tokio::init_with_runtime(rt);
    }
    RT_PTR.store(rt as *const Runtime as *mut Runtime, Ordering::Release);
    RT_PID.store(pid, Ordering::Release);
    rt
}

pub use cxone_cdp_core::error::check_same_process;

tokio::task_local! {
    static TASK_LOCALS: std::cell::OnceCell<TaskLocals>;
}

/// pyo3-async-runtimes' generic runtime over `runtime()` (fork-aware).
pub struct CdpRuntime;

impl GenericRuntime for CdpRuntime {
    type JoinError = JoinError;
    type JoinHandle = JoinHandle<()>;

    fn spawn<F>(fut: F) -> JoinHandle<()>
    where
        F: Future<Output = ()> + Send + 'static,
    {
        runtime().spawn(fut)
    }

    fn spawn_blocking<F>(f: F) -> JoinHandle<()>
    where
        F: FnOnce() + Send + 'static,
    {
        runtime().spawn_blocking(f)
    }
}

impl ContextExt for CdpRuntime {
    fn scope<F, R>(locals: TaskLocals, fut: F) -> Pin<Box<dyn Future<Output = R> + Send>>
    where
        F: Future<Output = R> + Send + 'static,
    {
        let cell = std::cell::OnceCell::new();
        let _ = cell.set(locals);
        Box::pin(TASK_LOCALS.scope(cell, fut))
    }

    fn get_task_locals() -> Option<TaskLocals> {
        TASK_LOCALS
            .try_with(|c| c.get().cloned())
            .unwrap_or_default()
    }
}

/// `pyo3_async_runtimes::tokio::future_into_py`, on `runtime()` (so it also
/// works in a forked child).
pub fn future_into_py<F, T>(py: Python<'_>, fut: F) -> PyResult<Bound<'_, PyAny>>
where
    F: Future<Output = PyResult<T>> + Send + 'static,
    T: for<'a> IntoPyObject<'a> + Send + 'static,
{
    pyo3_async_runtimes::generic::future_into_py::<CdpRuntime, _, T>(py, fut)
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
    future_into_py(py, async move { flatten(task.await).map_err(to_pyerr) })
}

/// TEST HOOK (private, not part of the API): panics inside a core task so the
/// tests can check that a Rust panic reaches Python as a `CxoneError` (code
/// `"panic"`), never an abort. `mode`: `"sync"` (through `block_on`) or
/// `"async"` (returns an awaitable, through `into_awaitable`).
#[pyfunction]
#[pyo3(signature = (mode="sync"))]
pub fn _panic_for_test<'py>(py: Python<'py>, mode: &str) -> PyResult<Bound<'py, PyAny>> {
    async fn boom() -> Result<u32> {
        panic!("deliberate test panic")
    }
    match mode {
        "async" => into_awaitable(py, boom()),
        _ => {
            let v = block_on(py, boom())?;
            Ok(v.into_pyobject(py)?.into_any())
        }
    }
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(pyo3::wrap_pyfunction!(_panic_for_test, m)?)?;
    Ok(())
}
