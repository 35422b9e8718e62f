//! Interpreter exit: the one gate for runtime threads that enter Python.
//!
//! While CPython finalizes, a thread that asks for the GIL is stopped where
//! it stands (`pthread_exit`), and a Rust frame that then releases the GIL
//! aborts the process ("PyGILState_Release: thread state must be current").
//! The window is real: an async twin delivers its result from a runtime
//! thread through `loop.call_soon_threadsafe`, whose write to the loop's
//! self-pipe releases the GIL; the loop wakes, `asyncio.run` returns, the
//! script ends, and the delivering thread wants the GIL back during
//! finalization. It crashed about one exit in five after `asyncio.run(
//! q.members_async(...))`.
//!
//! So every runtime-thread entry into Python goes through [`attach`] (and
//! pyo3-async-runtimes' deliveries through [`guard_blocking`], wired into
//! `crate::runtime::CdpRuntime`; log records through [`GuardedLogger`]). An
//! `atexit` hook ([`register`]) closes the gate and, with the GIL released,
//! waits for the threads already inside to leave; `atexit` runs before
//! CPython starts stopping threads. After it, a runtime thread gets
//! [`closing_error`] instead of the GIL.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use pyo3::prelude::*;

use cxone_cdp_core::error::{Error, ErrorKind};

static CLOSING: AtomicBool = AtomicBool::new(false);
static INSIDE: AtomicUsize = AtomicUsize::new(0);

/// How long the exit hook waits for threads inside Python to leave.
const EXIT_WAIT: Duration = Duration::from_secs(2);

/// A permit to enter Python from a runtime thread; leaving drops it.
pub struct Permit(());

impl Drop for Permit {
    fn drop(&mut self) {
        INSIDE.fetch_sub(1, Ordering::AcqRel);
    }
}

/// A permit, or `None` once the interpreter is exiting.
pub fn permit() -> Option<Permit> {
    if CLOSING.load(Ordering::Acquire) {
        return None;
    }
    INSIDE.fetch_add(1, Ordering::AcqRel);
    let p = Permit(());
    // The exit hook may have closed the gate between the two loads.
    (!CLOSING.load(Ordering::Acquire)).then_some(p)
}

/// The error a runtime thread gets instead of the GIL during exit.
pub fn closing_error() -> Error {
    Error::new(ErrorKind::Other, "the Python interpreter is shutting down").with_code("shutdown")
}

/// `Python::attach` for runtime threads: refused once the interpreter exits.
pub fn attach<R>(f: impl FnOnce(Python<'_>) -> R) -> Result<R, Error> {
    let _permit = permit().ok_or_else(closing_error)?;
    Ok(Python::attach(f))
}

/// Wraps a blocking task that enters Python (pyo3-async-runtimes' result
/// delivery): the permit is taken when it is spawned, so the exit hook
/// waits for a delivery that is queued but not yet running; after the gate
/// closes the task is skipped (its loop is gone).
pub fn guard_blocking<F: FnOnce() + Send + 'static>(f: F) -> impl FnOnce() + Send + 'static {
    let permit = permit();
    move || {
        if let Some(_p) = permit {
            f()
        }
    }
}

/// Closes the gate and waits, without the GIL, for the threads inside.
#[pyfunction]
fn _close_gate(py: Python<'_>) {
    CLOSING.store(true, Ordering::Release);
    py.detach(|| {
        let start = Instant::now();
        while INSIDE.load(Ordering::Acquire) > 0 && start.elapsed() < EXIT_WAIT {
            std::thread::sleep(Duration::from_millis(1));
        }
    });
}

/// A forked child inherits the parent's count but none of its threads: it
/// starts again from an open, empty gate.
#[pyfunction]
fn _reset_gate_in_child() {
    INSIDE.store(0, Ordering::Release);
    CLOSING.store(false, Ordering::Release);
}

/// Registers the exit hook and the reset after `os.fork()` (once, at import,
/// so the permit itself is two atomic operations and no system call).
pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    let hook = wrap_pyfunction!(_close_gate, m)?;
    py.import("atexit")?.call_method1("register", (hook,))?;
    let reset = wrap_pyfunction!(_reset_gate_in_child, m)?;
    let kwargs = pyo3::types::PyDict::new(py);
    kwargs.set_item("after_in_child", reset)?;
    py.import("os")?
        .call_method("register_at_fork", (), Some(&kwargs))?;
    Ok(())
}

/// A `log` logger that drops records once the interpreter is exiting
/// (pyo3-log takes the GIL for every record).
pub struct GuardedLogger(pub pyo3_log::Logger);

impl log::Log for GuardedLogger {
    fn enabled(&self, metadata: &log::Metadata<'_>) -> bool {
        permit().is_some_and(|_p| self.0.enabled(metadata))
    }

    fn log(&self, record: &log::Record<'_>) {
        if let Some(_p) = permit() {
            self.0.log(record)
        }
    }

    fn flush(&self) {
        if let Some(_p) = permit() {
            self.0.flush()
        }
    }
}
