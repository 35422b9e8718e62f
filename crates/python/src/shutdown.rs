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

use std::sync::atomic::{AtomicBool, AtomicU32, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use pyo3::prelude::*;

use cxone_cdp_core::error::{Error, ErrorKind};

static CLOSING: AtomicBool = AtomicBool::new(false);
static INSIDE: AtomicUsize = AtomicUsize::new(0);
/// The process the counters belong to: a forked child inherits the parent's
/// counts but none of its threads, so it starts again from zero.
static OWNER: AtomicU32 = AtomicU32::new(0);

/// How long the exit hook waits for threads inside Python to leave.
const EXIT_WAIT: Duration = Duration::from_secs(2);

fn this_process() {
    let pid = std::process::id();
    if OWNER.load(Ordering::Acquire) != pid {
        OWNER.store(pid, Ordering::Release);
        INSIDE.store(0, Ordering::Release);
        CLOSING.store(false, Ordering::Release);
    }
}

/// A permit to enter Python from a runtime thread; leaving drops it.
pub struct Permit(());

impl Drop for Permit {
    fn drop(&mut self) {
        INSIDE.fetch_sub(1, Ordering::AcqRel);
    }
}

/// A permit, or `None` once the interpreter is exiting.
pub fn permit() -> Option<Permit> {
    this_process();
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
    this_process();
    CLOSING.store(true, Ordering::Release);
    py.detach(|| {
        let start = Instant::now();
        while INSIDE.load(Ordering::Acquire) > 0 && start.elapsed() < EXIT_WAIT {
            std::thread::sleep(Duration::from_millis(1));
        }
    });
}

/// Registers the exit hook.
pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let hook = wrap_pyfunction!(_close_gate, m)?;
    m.py().import("atexit")?.call_method1("register", (hook,))?;
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
