//! The small results of the `Querier` as Python values, through pythonize
//! (serde to Python): the schema, a validation, a webhook registration,
//! metrics and cache figures. (The members hot path builds dicts from page
//! tapes instead: `crate::dicts`; `bench/bench_dict.py` measures why.)

use std::sync::Arc;

use pyo3::prelude::*;
use serde::ser::{Serialize, SerializeMap, Serializer};

use cxone_cdp_core::api::{Attributes, Validation};
use cxone_cdp_core::metrics::MetricsSnapshot;

/// A serde value that becomes a Python object (dict, list, str, ...).
pub struct Pythonized<T>(pub T);

impl<'py, T: Serialize> IntoPyObject<'py> for Pythonized<T> {
    type Target = PyAny;
    type Output = Bound<'py, PyAny>;
    type Error = PyErr;
    fn into_pyobject(self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        Ok(pythonize::pythonize(py, &self.0)?)
    }
}

/// The attribute schema as `{name: type}`, in the endpoint's order.
pub struct AttributeMap(pub Arc<Attributes>);

impl Serialize for AttributeMap {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(self.0.items.len()))?;
        for (name, ty) in &self.0.items {
            map.serialize_entry(name, ty)?;
        }
        map.end()
    }
}

/// `{"audience_id", "filters", "complexity", "count"}`.
#[derive(serde::Serialize)]
pub struct ValidationOut {
    audience_id: String,
    filters: usize,
    complexity: u32,
    count: u64,
}

impl From<Validation> for ValidationOut {
    fn from(v: Validation) -> Self {
        ValidationOut {
            audience_id: v.audience_id,
            filters: v.filters,
            complexity: v.complexity,
            count: v.count,
        }
    }
}

/// The raw request counters `_counters()` reports.
#[derive(serde::Serialize)]
pub struct Counters {
    http_requests: u64,
    retries: u64,
    rate_limited: u64,
    tokens_fetched: u64,
    auth_replays: u64,
    bytes_received: u64,
}

impl From<&MetricsSnapshot> for Counters {
    fn from(s: &MetricsSnapshot) -> Self {
        Counters {
            http_requests: s.http_requests,
            retries: s.retries,
            rate_limited: s.rate_limited,
            tokens_fetched: s.tokens_fetched,
            auth_replays: s.auth_replays,
            bytes_received: s.bytes_received,
        }
    }
}
