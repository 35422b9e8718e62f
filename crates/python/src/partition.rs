//! Python side of partition planning: the checked arguments, and the plan
//! as a list of plain dicts (`index`, `audience_id`, `by`, `filters` as
//! `(attribute, operator, value)` tuples, `expected_count`), ready to be
//! pickled into Spark input partitions. A plan never holds credentials.

use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList};

use crate::args::{filter_tuple, int_arg, str_arg, AudienceId, Filters};
use cxone_cdp_core::api::Client;
use cxone_cdp_core::error::{Error, Result};
use cxone_cdp_core::filter::Filter;
use cxone_cdp_core::partition::{check_request, plan_partitions, Plan};

/// Partitions when the caller names no number.
const DEFAULT_PARTITIONS: i64 = 8;

/// A checked planning request.
pub struct PlanArgs {
    audience_id: String,
    filters: Vec<Filter>,
    by: String,
    partitions: usize,
}

/// The checked `(audience_id, filters, by, partitions)` arguments.
pub fn plan_args(
    audience_id: AudienceId,
    filters: Option<Filters>,
    by: &Bound<'_, PyAny>,
    partitions: Option<&Bound<'_, PyAny>>,
) -> Result<PlanArgs> {
    let filters = filters.unwrap_or_default().0;
    let by = str_arg(by, "by")?;
    let n = match partitions {
        Some(p) if !p.is_none() => int_arg(p, "partitions")?,
        _ => DEFAULT_PARTITIONS,
    };
    let n = usize::try_from(n)
        .map_err(|_| Error::validation(format!("partitions must be positive, got {n}")))?;
    check_request(&filters, &by, n)?;
    Ok(PlanArgs {
        audience_id: audience_id.0,
        filters,
        by,
        partitions: n,
    })
}

impl PlanArgs {
    /// Plans with `client` (count requests only).
    pub async fn run(self, client: Client) -> Result<PlanOut> {
        let p = &self;
        plan_partitions(&client, &p.audience_id, &p.filters, &p.by, p.partitions)
            .await
            .map(PlanOut)
    }
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
                filters.append(filter_tuple(py, f)?)?;
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
