//! The client's one filter grammar (`cxone_cdp_core::filter`) for the Python
//! modules that take filters in other shapes (the tutorial layer, the Spark
//! options, the test helpers, the command line): operator spellings, the
//! decoded wire text of a tuple filter, and wire expressions typed against an
//! attribute schema. Nothing here is parsed or rendered in Python.

use pyo3::prelude::*;
use pyo3::types::{PyList, PyTuple};

use crate::convert::{filters_from_py, str_arg};
use crate::errors::to_pyerr;
use cxone_cdp_core::error::{Error, Result};
use cxone_cdp_core::filter::{self, AttrType, Operator, Schema, Value};

/// `filter_operator(op) -> str`: the wire symbol (`=`, `!=`, `>`, `<`, `~`)
/// of any spelling the client accepts (`eq`, `neq`, `gt`, `lt`, `contains`,
/// case-insensitive, `==`, `ne`, or the symbols themselves); anything else
/// is a `ValidationError`. No request is made.
#[pyfunction]
fn filter_operator(op: &Bound<'_, PyAny>) -> PyResult<&'static str> {
    let parse = || -> Result<_> { Operator::parse(&str_arg(op, "operator")?) };
    parse().map(Operator::wire).map_err(to_pyerr)
}

/// `render_filters(filters) -> [str]`: each `(attribute, operator, value)`
/// filter as its decoded wire text, `("city", "eq", "Rock & Roll")` ->
/// `"city=Rock & Roll"`, the value rendered by its own type as the client
/// renders it (`True` -> `true`, `250.0` -> `250`, a date -> `YYYY-MM-DD`).
/// A filter the client would refuse to read is a `ValidationError`.
#[pyfunction]
fn render_filters(filters: &Bound<'_, PyAny>) -> PyResult<Vec<String>> {
    let render = || -> Result<Vec<String>> {
        filters_from_py(Some(filters))?
            .iter()
            .map(|f| f.wire(None))
            .collect()
    };
    render().map_err(to_pyerr)
}

fn bad_filter(expr: &str, e: Error) -> Error {
    Error::validation(format!("bad filter {expr:?}: {}", e.message))
}

fn schema_from_py(attributes: &Bound<'_, PyAny>) -> Result<Schema> {
    let shape = || Error::validation("attributes must be a mapping of attribute name to type");
    let items = attributes.call_method0("items").map_err(|_| shape())?;
    let mut schema = Schema::new();
    for item in items.try_iter().map_err(|_| shape())? {
        let (name, ty): (String, String) = item.and_then(|i| i.extract()).map_err(|_| shape())?;
        // Attributes of types the client does not know cannot be filtered on.
        if let Some(t) = AttrType::parse(&ty) {
            schema.insert(name, t);
        }
    }
    Ok(schema)
}

fn value_to_py<'py>(py: Python<'py>, v: &Value) -> PyResult<Bound<'py, PyAny>> {
    Ok(match v {
        Value::Str(s) => s.into_pyobject(py)?.into_any(),
        Value::Int(i) => i.into_pyobject(py)?.into_any(),
        Value::Float(x) => x.into_pyobject(py)?.into_any(),
        Value::Bool(b) => b.into_pyobject(py)?.to_owned().into_any(),
        Value::Date(d) => {
            use chrono::Datelike;
            py.import("datetime")?
                .getattr("date")?
                .call1((d.year(), d.month(), d.day()))?
        }
    })
}

/// `typed_filter_exprs(exprs, attributes) -> [(attribute, operator, value)]`:
/// each wire expression (`"lifetime_value>100"`) parsed, all of them first,
/// then its value typed by the attribute's type in `attributes` (`name ->
/// type`, as `Querier.attributes()` returns it): numbers to int/float,
/// booleans, dates to `datetime.date`. Operators come back as readable names
/// (`gt`). A malformed expression, an unknown attribute or a value that does
/// not fit its type is a `ValidationError` naming the expression.
#[pyfunction]
fn typed_filter_exprs<'py>(
    py: Python<'py>,
    exprs: Vec<String>,
    attributes: &Bound<'py, PyAny>,
) -> PyResult<Bound<'py, PyList>> {
    let typed = || -> Result<Vec<filter::Filter>> {
        let wires = exprs
            .iter()
            .map(|e| filter::parse_wire(e).map_err(|err| bad_filter(e, err)))
            .collect::<Result<Vec<_>>>()?;
        if wires.is_empty() {
            return Ok(Vec::new());
        }
        let schema = schema_from_py(attributes)?;
        wires
            .iter()
            .zip(&exprs)
            .map(|(w, e)| w.typed(&schema).map_err(|err| bad_filter(e, err)))
            .collect()
    };
    let out = PyList::empty(py);
    for f in typed().map_err(to_pyerr)? {
        let item = PyTuple::new(
            py,
            [
                f.attribute.into_pyobject(py)?.into_any(),
                f.op.name().into_pyobject(py)?.into_any(),
                value_to_py(py, &f.value)?,
            ],
        )?;
        out.append(item)?;
    }
    Ok(out)
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(filter_operator, m)?)?;
    m.add_function(wrap_pyfunction!(render_filters, m)?)?;
    m.add_function(wrap_pyfunction!(typed_filter_exprs, m)?)?;
    Ok(())
}
