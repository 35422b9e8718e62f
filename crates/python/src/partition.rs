//! Python side of partition planning: argument checks and the plan as a
//! list of plain dicts (`index`, `audience_id`, `filters` as
//! `(attribute, operator, value)` tuples, `expected_count`), ready to be
//! pickled into Spark input partitions. A plan never holds credentials.

use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyDict, PyList, PyTuple, PyType};

use crate::convert::{filters_from_py, int_arg, str_arg};
use cxone_cdp_core::api::check_audience_id;
use cxone_cdp_core::error::{Error, Result};
use cxone_cdp_core::filter::{Filter, Value};
use cxone_cdp_core::partition::{check_request, Plan};

/// Partitions when the caller names no number.
const DEFAULT_PARTITIONS: i64 = 8;

static DATE: PyOnceLock<Py<PyType>> = PyOnceLock::new();

/// The checked `(audience_id, filters, by, partitions)` arguments.
pub fn plan_args(
    audience_id: &Bound<'_, PyAny>,
    filters: Option<&Bound<'_, PyAny>>,
    by: &Bound<'_, PyAny>,
    partitions: Option<&Bound<'_, PyAny>>,
) -> Result<(String, Vec<Filter>, String, usize)> {
    let audience_id = str_arg(audience_id, "audience_id")?;
    check_audience_id(&audience_id)?;
    let filters = filters_from_py(filters)?;
    let by = str_arg(by, "by")?;
    let n = match partitions {
        Some(p) if !p.is_none() => int_arg(p, "partitions")?,
        _ => DEFAULT_PARTITIONS,
    };
    let n = usize::try_from(n)
        .map_err(|_| Error::validation(format!("partitions must be positive, got {n}")))?;
    check_request(&filters, &by, n)?;
    Ok((audience_id, filters, by, n))
}

fn value<'py>(py: Python<'py>, v: &Value) -> PyResult<Bound<'py, PyAny>> {
    use chrono::Datelike;
    Ok(match v {
        Value::Str(s) => s.into_pyobject(py)?.into_any(),
        Value::Int(i) => i.into_pyobject(py)?.into_any(),
        Value::Float(x) => x.into_pyobject(py)?.into_any(),
        Value::Bool(b) => b.into_pyobject(py)?.to_owned().into_any(),
        Value::Date(d) => {
            DATE.import(py, "datetime", "date")?
                .call1((d.year(), d.month(), d.day()))?
        }
    })
}

/// A plan as `list[dict]`.
pub struct PlanOut(pub Plan);

impl<'py> IntoPyObject<'py> for PlanOut {
    type Target = PyList;
    type Output = Bound<'py, PyList>;
    type Error = PyErr;

    fn into_pyobject(self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        let out = PyList::empty(py);
        for p in &self.0.partitions {
            let filters = PyList::empty(py);
            for f in &p.filters {
                let t = PyTuple::new(
                    py,
                    [
                        f.attribute.as_str().into_pyobject(py)?.into_any(),
                        f.op.name().into_pyobject(py)?.into_any(),
                        value(py, &f.value)?,
                    ],
                )?;
                filters.append(t)?;
            }
            let d = PyDict::new(py);
            d.set_item("index", p.index)?;
            d.set_item("audience_id", &self.0.audience_id)?;
            d.set_item("by", &self.0.by)?;
            d.set_item("filters", filters)?;
            d.set_item("expected_count", p.expected_count)?;
            out.append(d)?;
        }
        Ok(out)
    }
}
