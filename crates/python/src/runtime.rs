//! The shared tokio runtime, and core futures run as tasks on it ([`spawn`]:
//! a panic becomes an error, dropping the handle aborts the task). Python
//! waits on them in exactly two ways: the sync bridge (`crate::bridge`) and
//! the awaitable factory (`crate::awaitable`).
//!
//! Fork safety: a forked child inherits the runtime's memory but none of its
//! worker threads, so anything spawned on the parent's runtime would never
//! run (a hang). `runtime()` is therefore keyed by process id: the first use
//! in a process builds a runtime for that process (in the original process
//! it is also handed to pyo3-async-runtimes, so there is one runtime, not
//! two). Python awaitables spawn on `runtime()` too ([`CdpRuntime`]) (pyo3-async-runtimes' own global runtime cannot be replaced
//! in a child). Objects that hold connections from the parent (a `Querier`'s
//! reqwest pool) must not be used in the child: `check_same_process` gives
//! them the clear error to raise.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicPtr, AtomicU32, Ordering};
use std::task::{Context, Poll};

use pyo3_async_runtimes::generic::{ContextExt, Runtime as GenericRuntime};
use pyo3_async_runtimes::TaskLocals;
use tokio::runtime::Runtime;
use tokio::task::{JoinError, JoinHandle};

use cxone_cdp_core::error::{Error, ErrorKind, Result};

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
        runtime().spawn_blocking(crate::shutdown::guard_blocking(f))
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

/// A task handle that aborts the task when dropped.
pub struct Task<T>(JoinHandle<T>);

impl<T> Task<T> {
    /// Asks the task to stop (it ends at its next await).
    pub fn abort(&self) {
        self.0.abort();
    }
}

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
        Error::panicked(e.into_panic().as_ref())
    } else {
        Error::new(ErrorKind::Other, "the operation was cancelled").with_code("cancelled")
    }
}

/// A finished task's result, a panic or cancellation as an error.
pub fn flatten<T>(r: Result<Result<T>, JoinError>) -> Result<T> {
    r.map_err(join_error).and_then(|x| x)
}
