//! The client's one filter grammar (`cxone_cdp_core::filter`) for the Python
//! modules that take filters in other shapes (the tutorial layer, the Spark
//! options, the test helpers, the command line): operator spellings, the
//! decoded wire text of a tuple filter, and wire expressions typed against an
//! attribute schema. Nothing here is parsed or rendered in Python.

use pyo3::prelude::*;
use pyo3::types::PyList;

use crate::args::{filter_tuple, str_arg, Filters};
use crate::errors::CdpResult;
use cxone_cdp_core::error::{Error, Result};
use cxone_cdp_core::filter::{self, AttrType, Operator, Schema};

/// `filter_operator(op) -> str`: the wire symbol (`=`, `!=`, `>`, `<`, `~`)
/// of any spelling the client accepts (`eq`, `neq`, `gt`, `lt`, `contains`,
/// case-insensitive, `==`, `ne`, or the symbols themselves); anything else
/// is a `ValidationError`. No request is made.
#[pyfunction]
fn filter_operator(op: &Bound<'_, PyAny>) -> CdpResult<&'static str> {
    Ok(Operator::parse(&str_arg(op, "operator")?)?.wire())
}

/// `render_filters(filters) -> [str]`: each `(attribute, operator, value)`
/// filter as its decoded wire text, `("city", "eq", "Rock & Roll")` ->
/// `"city=Rock & Roll"`, the value rendered by its own type as the client
/// renders it (`True` -> `true`, `250.0` -> `250`, a date -> `YYYY-MM-DD`).
/// A filter the client would refuse to read is a `ValidationError`.
#[pyfunction]
fn render_filters(filters: Filters) -> CdpResult<Vec<String>> {
    Ok(filters
        .0
        .iter()
        .map(|f| f.wire(None))
        .collect::<Result<_>>()?)
}

/// `parse_filter_expr("city=Rock & Roll") -> ("city", "eq", "Rock & Roll")`:
/// the decoded wire form with readable operators; `ValidationError` naming
/// the expression when it is malformed. No request is made.
#[pyfunction]
fn parse_filter_expr(expr: &Bound<'_, PyAny>) -> CdpResult<(String, &'static str, String)> {
    let text = str_arg(expr, "filter expression")?;
    let w = wire(&text)?;
    Ok((w.attribute, w.op.name(), w.value))
}

/// A filter expression in its decoded wire form, or a validation error
/// naming it.
fn wire(expr: &str) -> Result<filter::WireFilter> {
    filter::parse_wire(expr).map_err(|e| bad_filter(expr, e))
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
) -> CdpResult<Bound<'py, PyList>> {
    let wires = exprs.iter().map(|e| wire(e)).collect::<Result<Vec<_>>>()?;
    let out = PyList::empty(py);
    if wires.is_empty() {
        return Ok(out);
    }
    let schema = schema_from_py(attributes)?;
    for (w, e) in wires.iter().zip(&exprs) {
        let f = w.typed(&schema).map_err(|err| bad_filter(e, err))?;
        out.append(filter_tuple(py, &f)?)?;
    }
    Ok(out)
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(parse_filter_expr, m)?)?;
    m.add_function(wrap_pyfunction!(filter_operator, m)?)?;
    m.add_function(wrap_pyfunction!(render_filters, m)?)?;
    m.add_function(wrap_pyfunction!(typed_filter_exprs, m)?)?;
    Ok(())
}
