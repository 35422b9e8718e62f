//! The one sync bridge: how a sync Python call waits on the core.
//!
//! The core future runs as its own task on the shared runtime; the calling
//! thread waits for it with the GIL released and never touches Python's event
//! loop (so a sync call also works in a thread that runs one, as in Jupyter).
//! Signals are checked at least every [`SIGNAL_TICK`] of wall time for the
//! whole call: a [`Bridge`] keeps its clock across the waits of a listing and
//! the work between them (turning a page into dicts), so Ctrl-C stops a call
//! within a tick however fast the pages come. An iterator keeps a
//! [`SignalClock`] across its `__next__` calls for the same reason: C code
//! such as `list(iterator)` calls `__next__` back to back without running
//! Python's signal handlers in between. On a signal the task is aborted
//! (and given a moment to wind down) and the exception propagates.

use std::future::Future;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use pyo3::prelude::*;

use crate::errors::CdpResult;
use crate::runtime::{flatten, runtime, spawn};
use cxone_cdp_core::error::Result;

/// The longest a sync call goes without checking for signals.
pub const SIGNAL_TICK: Duration = Duration::from_millis(100);
/// How long an interrupted call waits for its aborted task to end.
const SETTLE: Duration = Duration::from_millis(200);

/// When signals were last checked, kept by an object across calls (an
/// iterator's `__next__`s).
#[derive(Debug)]
pub struct SignalClock(Mutex<Instant>);

impl Default for SignalClock {
    fn default() -> Self {
        SignalClock(Mutex::new(Instant::now()))
    }
}

impl SignalClock {
    fn get(&self) -> Instant {
        *self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn set(&self, at: Instant) {
        *self.0.lock().unwrap_or_else(|p| p.into_inner()) = at;
    }
}

/// One sync call's waits on the core, with one signal clock.
pub struct Bridge<'py, 'c> {
    py: Python<'py>,
    checked: Instant,
    clock: Option<&'c SignalClock>,
}

impl<'py> Bridge<'py, 'static> {
    pub fn new(py: Python<'py>) -> Self {
        Bridge {
            py,
            checked: Instant::now(),
            clock: None,
        }
    }
}

impl<'py, 'c> Bridge<'py, 'c> {
    /// A bridge that continues `clock` (and keeps it up to date).
    pub fn resume(py: Python<'py>, clock: &'c SignalClock) -> Self {
        Bridge {
            py,
            checked: clock.get(),
            clock: Some(clock),
        }
    }

    /// Runs `fut` to completion, GIL released; raises what a signal handler
    /// raises (the task is then aborted).
    pub fn wait<T, F>(&mut self, fut: F) -> CdpResult<T>
    where
        F: Future<Output = Result<T>> + Send + 'static,
        T: Send + 'static,
    {
        let mut task = spawn(fut);
        loop {
            let budget = SIGNAL_TICK.saturating_sub(self.checked.elapsed());
            if budget.is_zero() {
                if let Err(e) = self.check() {
                    task.abort();
                    let settle = async { tokio::time::timeout(SETTLE, &mut task).await };
                    let _ = self.py.detach(|| runtime().block_on(settle));
                    return Err(e.into());
                }
                continue;
            }
            let waited = self.py.detach(|| {
                runtime().block_on(async { tokio::time::timeout(budget, &mut task).await })
            });
            if let Ok(done) = waited {
                return Ok(flatten(done)?);
            }
        }
    }

    /// Between waits, with the GIL held: checks signals if a tick has passed.
    pub fn tick(&mut self) -> PyResult<()> {
        if self.checked.elapsed() >= SIGNAL_TICK {
            self.check()?;
        }
        Ok(())
    }

    fn check(&mut self) -> PyResult<()> {
        self.checked = Instant::now();
        if let Some(clock) = self.clock {
            clock.set(self.checked);
        }
        self.py.check_signals()
    }
}

/// Runs one core future from a sync call (a [`Bridge`] of one wait).
pub fn block_on<T, F>(py: Python<'_>, fut: F) -> CdpResult<T>
where
    F: Future<Output = Result<T>> + Send + 'static,
    T: Send + 'static,
{
    Bridge::new(py).wait(fut)
}
