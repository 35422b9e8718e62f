//! The one awaitable factory: what every async twin and every `__anext__`
//! returns.
//!
//! An awaitable is a real Python coroutine that binds lazily: nothing starts
//! until it is awaited. It runs in *steps*: each step's core future is
//! spawned on this process's runtime (so a forked child uses its own, see
//! `crate::runtime`) and awaited through an asyncio future of the loop that
//! awaits it; what the future produced is then turned into Python objects
//! **on the loop thread**, by the coroutine itself. So a runtime worker never
//! waits for the GIL to build dicts, batches or exceptions (which stalled
//! every other task on that worker and forced a GIL hand-off per page when
//! many listings ran on one loop); it only holds the GIL for the moment it
//! takes to complete the asyncio future. A one-shot call is one step;
//! `members_async()` is one step per few pages ([`awaitable_steps`]), their
//! dicts built on the loop thread while the next pages are fetched; a step
//! whose pages are already waiting takes them there and then, and only
//! yields to the loop once (no runtime thread, no hand-off of the GIL).
//!
//! `asyncio.run(q.count_async(aud))`, `asyncio.gather(...)`,
//! `loop.create_task(...)` and `await` in a running loop all work, and an
//! awaitable made before any loop runs is fine. Cancelling the awaiting task
//! aborts the core task of the current step; a panic in it becomes a Python
//! exception.

use std::future::Future;
use std::pin::Pin;
use std::sync::Mutex;

use pyo3::exceptions::PyRuntimeError;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::IntoPyObjectExt;

use crate::errors::CdpError;
use crate::runtime::{join_error, spawn, CdpRuntime};

/// What a step hands to the loop thread: run there with the GIL, it gives
/// the awaitable's value (`Some`), or `None` to run the next step.
pub type Finish = Box<dyn for<'py> FnOnce(Python<'py>) -> PyResult<Option<Py<PyAny>>> + Send>;

/// One step's core future.
pub type StepFuture = Pin<Box<dyn Future<Output = Finish> + Send>>;

/// The next step: a core future to run on the runtime, or (when what it
/// needs is already there) its [`Finish`] at once.
pub enum Step {
    Run(StepFuture),
    Ready(Finish),
}

/// Makes the next step (with the GIL, on the loop thread), `None` when there
/// is none (the awaitable was already awaited).
type Steps = Box<dyn FnMut(Python<'_>) -> Option<Step> + Send>;

/// The coroutine function every awaitable is an instance of: it awaits each
/// step's asyncio future and finishes the step on the loop thread.
static DRIVE: PyOnceLock<Py<PyAny>> = PyOnceLock::new();

fn drive(py: Python<'_>) -> PyResult<&Bound<'_, PyAny>> {
    DRIVE
        .get_or_try_init(py, || {
            let code = c"async def cxone_cdp_call(start):
    while True:
        more, value = (await start())()
        if not more:
            return value
";
            let m = PyModule::from_code(py, code, c"<cxone_cdp>", c"cxone_cdp._awaitable")?;
            Ok(m.getattr("cxone_cdp_call")?.unbind())
        })
        .map(|f| f.bind(py))
}

/// The steps of one awaitable, until they are all run.
#[pyclass(module = "cxone_cdp._native", frozen)]
pub struct Start {
    steps: Mutex<Steps>,
}

#[pymethods]
impl Start {
    /// Spawns the next step's core future and returns the asyncio future of
    /// the running loop that completes with its [`Done`]. A step that is
    /// ready at once gives `asyncio.sleep(0, done)` instead: the loop runs
    /// its other tasks once, and no runtime thread is involved.
    fn __call__<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let step = (self.steps.lock().unwrap_or_else(|p| p.into_inner()))(py)
            .ok_or_else(|| PyRuntimeError::new_err("this awaitable was already awaited"))?;
        let fut = match step {
            Step::Run(fut) => fut,
            Step::Ready(finish) => {
                let done = Done(Mutex::new(Some(finish)));
                return asyncio_sleep(py)?.call1((0, done));
            }
        };
        let run = async move {
            // Its own task: a panic is a JoinError (an exception), not a hang.
            let finish = match spawn(fut).await {
                Ok(finish) => finish,
                Err(e) => fail(CdpError::Core(join_error(e))),
            };
            Ok(Done(Mutex::new(Some(finish))))
        };
        pyo3_async_runtimes::generic::future_into_py::<CdpRuntime, _, Done>(py, run)
    }
}

static SLEEP: PyOnceLock<Py<PyAny>> = PyOnceLock::new();

/// `asyncio.sleep`.
fn asyncio_sleep(py: Python<'_>) -> PyResult<&Bound<'_, PyAny>> {
    SLEEP
        .get_or_try_init(py, || {
            Ok::<_, PyErr>(py.import("asyncio")?.getattr("sleep")?.unbind())
        })
        .map(|f| f.bind(py))
}

/// A finished step, waiting to be turned into Python objects on the loop
/// thread: calling it gives `(more, value)`, or raises.
#[pyclass(module = "cxone_cdp._native", frozen)]
pub struct Done(Mutex<Option<Finish>>);

#[pymethods]
impl Done {
    fn __call__(&self, py: Python<'_>) -> PyResult<(bool, Py<PyAny>)> {
        let finish = self
            .0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take()
            .ok_or_else(|| PyRuntimeError::new_err("this step was already finished"))?;
        Ok(match finish(py)? {
            Some(value) => (false, value),
            None => (true, py.None()),
        })
    }
}

/// A step that raises `e` on the loop thread.
pub fn fail(e: CdpError) -> Finish {
    Box::new(move |_py| Err(PyErr::from(e)))
}

/// A Python coroutine that runs the steps `next` makes, one after another,
/// until a step's [`Finish`] gives the value.
pub fn awaitable_steps<'py, S>(py: Python<'py>, mut next: S) -> PyResult<Bound<'py, PyAny>>
where
    S: FnMut(Python<'_>) -> Step + Send + 'static,
{
    let steps: Steps = Box::new(move |py| Some(next(py)));
    drive(py)?.call1((Start {
        steps: Mutex::new(steps),
    },))
}

/// A Python coroutine that runs `fut` when awaited and turns its output into
/// the value with `finish`, on the loop thread.
pub fn awaitable_then<'py, T, F, G>(
    py: Python<'py>,
    fut: F,
    finish: G,
) -> PyResult<Bound<'py, PyAny>>
where
    F: Future<Output = Result<T, CdpError>> + Send + 'static,
    T: Send + 'static,
    G: FnOnce(Python<'_>, T) -> Result<Py<PyAny>, CdpError> + Send + 'static,
{
    let mut once = Some((fut, finish));
    let steps: Steps = Box::new(move |_py| {
        let (fut, finish) = once.take()?;
        let step: StepFuture = Box::pin(async move {
            let out = fut.await;
            Box::new(move |py: Python<'_>| match out {
                Ok(v) => Ok(Some(finish(py, v)?)),
                Err(e) => Err(PyErr::from(e)),
            }) as Finish
        });
        Some(Step::Run(step))
    });
    drive(py)?.call1((Start {
        steps: Mutex::new(steps),
    },))
}

/// A Python coroutine that runs `fut` when awaited; its output becomes a
/// Python object on the loop thread.
pub fn awaitable<'py, T, F>(py: Python<'py>, fut: F) -> PyResult<Bound<'py, PyAny>>
where
    F: Future<Output = Result<T, CdpError>> + Send + 'static,
    T: for<'a> IntoPyObject<'a> + Send + 'static,
{
    awaitable_then(py, fut, |py, v| Ok(v.into_py_any(py)?))
}
