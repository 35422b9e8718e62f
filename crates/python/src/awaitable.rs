//! The one awaitable factory: what every async twin and every `__anext__`
//! returns.
//!
//! [`awaitable`] wraps a core future in a real Python coroutine that binds
//! lazily: nothing starts until it is awaited, and then the future is
//! spawned on this process's runtime (so a forked child uses its own, see
//! `crate::runtime`) and awaited through an asyncio future of the loop that
//! awaits it. So `asyncio.run(q.count_async(aud))`, `asyncio.gather(...)`,
//! `loop.create_task(...)` and `await` in a running loop all work, and an
//! awaitable made before any loop runs is fine. Cancelling the awaiting task
//! aborts the core task; a panic in it becomes a Python exception.

use std::future::Future;
use std::pin::Pin;
use std::sync::Mutex;

use pyo3::exceptions::PyRuntimeError;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::IntoPyObjectExt;

use crate::errors::CdpError;
use crate::runtime::{flatten, spawn, CdpRuntime};

type Started = Pin<Box<dyn Future<Output = PyResult<Py<PyAny>>> + Send>>;

/// The coroutine function every awaitable is an instance of: it awaits the
/// asyncio future that `start()` makes on the running loop.
static DRIVE: PyOnceLock<Py<PyAny>> = PyOnceLock::new();

fn drive(py: Python<'_>) -> PyResult<&Bound<'_, PyAny>> {
    DRIVE
        .get_or_try_init(py, || {
            let code = c"async def cxone_cdp_call(start):\n    return await start()\n";
            let m = PyModule::from_code(py, code, c"<cxone_cdp>", c"cxone_cdp._awaitable")?;
            Ok(m.getattr("cxone_cdp_call")?.unbind())
        })
        .map(|f| f.bind(py))
}

/// The core future of one awaitable, until it is awaited.
#[pyclass(module = "cxone_cdp._native", frozen)]
pub struct Start {
    fut: Mutex<Option<Started>>,
}

#[pymethods]
impl Start {
    /// Spawns the core future and returns the asyncio future of the running
    /// loop that completes with its result.
    fn __call__<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let fut = self
            .fut
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take()
            .ok_or_else(|| PyRuntimeError::new_err("this awaitable was already awaited"))?;
        pyo3_async_runtimes::generic::future_into_py::<CdpRuntime, _, Py<PyAny>>(py, fut)
    }
}

/// A Python coroutine that runs `fut` when awaited.
pub fn awaitable<'py, T, F>(py: Python<'py>, fut: F) -> PyResult<Bound<'py, PyAny>>
where
    F: Future<Output = Result<T, CdpError>> + Send + 'static,
    T: for<'a> IntoPyObject<'a> + Send + 'static,
{
    let run = async move {
        // Its own task: a panic is a JoinError (an exception), not a hang.
        let task = spawn(async move {
            match fut.await {
                Ok(v) => Ok(Ok(v)),
                Err(CdpError::Core(e)) => Err(e),
                Err(CdpError::Python(e)) => Ok(Err(e)),
            }
        });
        let value = flatten(task.await).map_err(|e| PyErr::from(CdpError::Core(e)))??;
        crate::shutdown::attach(|py| value.into_py_any(py))
            .map_err(|e| PyErr::from(CdpError::Core(e)))?
    };
    let start = Start {
        fut: Mutex::new(Some(Box::pin(run))),
    };
    drive(py)?.call1((start,))
}
