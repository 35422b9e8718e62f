//! The PyO3 binding layer: thin wrappers over the core, registered in the
//! `cxone_cdp._native` module. Each area registers its own classes.
use pyo3::prelude::*;

pub mod args;
pub mod arrow;
pub mod awaitable;
pub mod batches;
pub mod bridge;
#[cfg(feature = "dict-bench")]
pub mod dictbench;
pub mod dicts;
pub mod errors;
pub mod export;
pub mod grammar;
pub mod iter;
pub mod partition;
pub mod querier;
pub mod runtime;
pub mod shutdown;
pub mod simulator;
pub mod stream;

static LOG_RESET: std::sync::OnceLock<pyo3_log::ResetHandle> = std::sync::OnceLock::new();

/// Bridges the `log` crate to Python `logging` (once per process): target
/// `cxone_cdp.audit` becomes the logger `cxone_cdp.audit`, `cxone_cdp::x`
/// becomes `cxone_cdp.x`. Logger objects are cached but levels are not
/// (`Caching::Loggers`), so a level changed later in Python (e.g. pytest's
/// `caplog.at_level`) takes effect at once. Only the project's own targets
/// reach Python: the client's (`cxone_cdp`, `cxone_cdp.audit`,
/// `cxone_cdp.webhook`) at debug and above, the embedded simulator's at warn;
/// every other crate's records (rustls, hyper, reqwest...) are off, so a
/// dependency never prints on a caller's stderr (an untrusted certificate is
/// reported once, as the typed error) and a hot path never takes the GIL to
/// ask Python about a debug line. A record logged on
/// a tokio thread takes the GIL for that call only; no lock of ours is held
/// while logging, and Python threads never hold the GIL while waiting on
/// the runtime (`py.detach`), so this cannot deadlock.
fn init_logging(py: Python<'_>) -> PyResult<()> {
    if LOG_RESET.get().is_some() {
        return Ok(());
    }
    use log::LevelFilter;
    // Targets match by `::` segments, so each dotted name is listed; the
    // crates' names cover a record logged without a target of its own
    // (this crate's lib is `cxone_cdp`, so `cxone_cdp::x` is covered too).
    let own = [
        ("cxone_cdp", LevelFilter::Debug),
        (cxone_cdp_core::audit::AUDIT_TARGET, LevelFilter::Debug),
        (cxone_cdp_core::webhook::WEBHOOK_TARGET, LevelFilter::Debug),
        ("cxone_cdp_core", LevelFilter::Debug),
        ("cxone_cdp_simulator", LevelFilter::Warn),
    ];
    let logger = own.into_iter().fold(
        pyo3_log::Logger::new(py, pyo3_log::Caching::Loggers)?.filter(LevelFilter::Off),
        |logger, (target, level)| logger.filter_target(target.to_owned(), level),
    );
    // Another `log` logger may already be installed (embedding): keep it.
    let handle = logger.reset_handle();
    if log::set_boxed_logger(Box::new(shutdown::GuardedLogger(logger))).is_ok() {
        log::set_max_level(LevelFilter::Debug);
        let _ = LOG_RESET.set(handle);
    }
    Ok(())
}

/// Forgets the cached Python logger objects (after replacing loggers in
/// `logging.Logger.manager`); levels are never cached.
#[pyfunction]
fn _reset_log_cache() {
    if let Some(h) = LOG_RESET.get() {
        h.reset();
    }
}

/// TEST HOOK (private, not part of the API): panics inside a core task so the
/// tests can check that a Rust panic reaches Python as a `CxoneError` (code
/// `"panic"`), never an abort. `mode`: `"sync"` (through the sync bridge) or
/// `"async"` (returns an awaitable, through the awaitable factory).
#[pyfunction]
#[pyo3(signature = (mode="sync"))]
fn _panic_for_test<'py>(py: Python<'py>, mode: &str) -> PyResult<Bound<'py, PyAny>> {
    async fn boom() -> cxone_cdp_core::error::Result<u32> {
        panic!("deliberate test panic")
    }
    match mode {
        "async" => awaitable::awaitable(py, async { Ok::<_, errors::CdpError>(boom().await?) }),
        _ => {
            let v = bridge::block_on(py, boom())?;
            Ok(v.into_pyobject(py)?.into_any())
        }
    }
}

/// The native core of cxone-cdp (Rust): `Querier`, its iterators, the
/// embedded `Simulator` and helpers. Import from `cxone_cdp` instead.
#[pymodule]
#[pyo3(name = "_native")]
fn native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    init_logging(m.py())?;
    shutdown::register(m)?;
    m.add_function(wrap_pyfunction!(_reset_log_cache, m)?)?;
    simulator::register(m)?;
    querier::register(m)?;
    arrow::register(m)?;
    export::register(m)?;
    grammar::register(m)?;
    m.add_function(wrap_pyfunction!(_panic_for_test, m)?)?;
    iter::register(m)?;
    batches::register(m)?;
    #[cfg(feature = "dict-bench")]
    dictbench::register(m)?;
    Ok(())
}
