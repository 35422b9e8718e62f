//! The PyO3 binding layer: thin wrappers over the core, registered in the
//! `cxone_cdp._native` module. Each area registers its own classes.
use pyo3::prelude::*;

pub mod arrow;
pub mod batches;
pub mod convert;
#[cfg(feature = "dict-bench")]
pub mod dictbench;
pub mod errors;
pub mod iter;
pub mod querier;
pub mod runtime;
pub mod simulator;

#[pymodule]
#[pyo3(name = "_native")]
fn native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    simulator::register(m)?;
    querier::register(m)?;
    arrow::register(m)?;
    batches::register(m)?;
    #[cfg(feature = "dict-bench")]
    dictbench::register(m)?;
    Ok(())
}
