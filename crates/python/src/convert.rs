//! Conversions at the Python boundary: filters from Python (checked shape by
//! shape, so bad input is a `ValidationError`, never a `TypeError` from deep
//! inside), and parsed JSON to Python objects in one pass with the GIL held
//! (object keys interned per conversion: `memberId` is made once per page).
//!
//! Filter values: `str`, `int`, `float`, `bool` (checked before `int`) and
//! `datetime.date`. A `datetime.datetime` is refused (rather than silently
//! dropping its time and zone): pass `.date()` explicitly.

use chrono::NaiveDate;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyBool, PyBytes, PyDict, PyFloat, PyInt, PyList, PyString, PyType};

use cxone_cdp_core::error::{Error, Result};
use cxone_cdp_core::filter::{Filter, Operator, Value};
use cxone_cdp_core::page::tape::{Node, Tape};
use cxone_cdp_core::page::Json;

static DATETIME: PyOnceLock<Py<PyType>> = PyOnceLock::new();
static DATE: PyOnceLock<Py<PyType>> = PyOnceLock::new();

fn type_name(obj: &Bound<'_, PyAny>) -> String {
    obj.get_type()
        .name()
        .map(|n| n.to_string())
        .unwrap_or_else(|_| "?".to_string())
}

fn text(obj: &Bound<'_, PyAny>, what: &str) -> Result<String> {
    let s = obj
        .cast::<PyString>()
        .map_err(|_| Error::validation(format!("{what} must be a str, got {}", type_name(obj))))?;
    s.to_str()
        .map(str::to_string)
        .map_err(|_| Error::validation(format!("{what} is not valid text (lone surrogate?)")))
}

/// A `str` argument, or a validation error naming it.
pub fn str_arg(obj: &Bound<'_, PyAny>, what: &str) -> Result<String> {
    text(obj, what)
}

/// An `int` argument (not a bool), or a validation error naming it.
pub fn int_arg(obj: &Bound<'_, PyAny>, what: &str) -> Result<i64> {
    if obj.is_instance_of::<PyBool>() || !obj.is_instance_of::<PyInt>() {
        return Err(Error::validation(format!(
            "{what} must be an int, got {}",
            type_name(obj)
        )));
    }
    obj.extract::<i64>()
        .map_err(|_| Error::validation(format!("{what} is out of range")))
}

fn value(obj: &Bound<'_, PyAny>, i: usize) -> Result<Value> {
    let py = obj.py();
    let at = |m: String| Error::validation(format!("filter #{i}: {m}"));
    if obj.is_none() {
        return Err(at("value is None".into()));
    }
    if let Ok(b) = obj.cast::<PyBool>() {
        return Ok(Value::Bool(b.is_true()));
    }
    if obj.is_instance_of::<PyInt>() {
        return obj
            .extract::<i64>()
            .map(Value::Int)
            .map_err(|_| at("integer value does not fit in 64 bits".into()));
    }
    if let Ok(f) = obj.cast::<PyFloat>() {
        let x = f.value();
        if !x.is_finite() {
            return Err(at(format!("number value {x} is not finite")));
        }
        return Ok(Value::Float(x));
    }
    if obj.is_instance_of::<PyString>() {
        return text(obj, "value")
            .map(Value::Str)
            .map_err(|e| at(e.message));
    }
    let datetime = DATETIME
        .import(py, "datetime", "datetime")
        .map_err(|e| at(format!("cannot import datetime: {e}")))?;
    if obj.is_instance(datetime).unwrap_or(false) {
        return Err(at(
            "datetime.datetime is not accepted for date attributes; pass a datetime.date (e.g. value.date())".into(),
        ));
    }
    let date = DATE
        .import(py, "datetime", "date")
        .map_err(|e| at(format!("cannot import datetime: {e}")))?;
    if obj.is_instance(date).unwrap_or(false) {
        let part = |name: &str| -> Option<u32> { obj.getattr(name).ok()?.extract::<u32>().ok() };
        let d = match (part("year"), part("month"), part("day")) {
            (Some(y), Some(m), Some(d)) => NaiveDate::from_ymd_opt(y as i32, m, d),
            _ => None,
        };
        return d.map(Value::Date).ok_or_else(|| at("invalid date".into()));
    }
    Err(at(format!(
        "value of type {} is not supported (use str, int, float, bool or datetime.date)",
        type_name(obj)
    )))
}

/// Filters from Python: a sequence of `(attribute, operator, value)` tuples
/// (or 3-item lists); `None` means no filters.
pub fn filters_from_py(obj: Option<&Bound<'_, PyAny>>) -> Result<Vec<Filter>> {
    let Some(obj) = obj else {
        return Ok(Vec::new());
    };
    if obj.is_none() {
        return Ok(Vec::new());
    }
    let shape =
        || Error::validation("filters must be a sequence of (attribute, operator, value) tuples");
    if obj.is_instance_of::<PyString>()
        || obj.is_instance_of::<PyBytes>()
        || obj.is_instance_of::<PyDict>()
    {
        return Err(shape());
    }
    let iter = obj.try_iter().map_err(|_| shape())?;
    let mut out = Vec::new();
    for (i, item) in iter.enumerate() {
        let item = item.map_err(|e| Error::validation(format!("reading filters failed: {e}")))?;
        if out.len() > cxone_cdp_core::filter::MAX_FILTERS * 4 {
            // Refuse absurd inputs early; the limit check gives the real message.
            break;
        }
        let is_seq =
            item.is_instance_of::<pyo3::types::PyTuple>() || item.is_instance_of::<PyList>();
        let len = if is_seq { item.len().unwrap_or(0) } else { 0 };
        if !is_seq || len != 3 {
            return Err(Error::validation(format!(
                "filter #{i} must be an (attribute, operator, value) tuple, got {}",
                if is_seq {
                    format!("a {}-item {}", len, type_name(&item))
                } else {
                    format!("a {}", type_name(&item))
                }
            )));
        }
        let get = |k: usize| item.get_item(k).map_err(|_| shape());
        let attr = text(&get(0)?, "attribute")
            .map_err(|e| Error::validation(format!("filter #{i}: {}", e.message)))?;
        let op_text = text(&get(1)?, "operator")
            .map_err(|e| Error::validation(format!("filter #{i}: {}", e.message)))?;
        let op = Operator::parse(&op_text)
            .map_err(|e| Error::validation(format!("filter #{i}: {}", e.message)))?;
        let v = value(&get(2)?, i)?;
        out.push(Filter::new(attr, op, v));
    }
    Ok(out)
}

/// Pauses Python's cyclic garbage collector while a page of members is
/// turned into dicts, and restores it after (only if it was enabled). A page
/// makes about two thousand containers, none of them part of a cycle; without
/// the pause every 700 of them trigger a collection that also walks the
/// growing result list, which is a large part of `members()`'s time.
pub struct GcPause<'py> {
    gc: Option<Bound<'py, PyModule>>,
}

impl<'py> GcPause<'py> {
    pub fn new(py: Python<'py>) -> GcPause<'py> {
        let gc = py.import("gc").ok().filter(|gc| {
            gc.call_method0("isenabled")
                .and_then(|v| v.extract::<bool>())
                .unwrap_or(false)
        });
        if let Some(gc) = &gc {
            let _ = gc.call_method0("disable");
        }
        GcPause { gc }
    }
}

impl Drop for GcPause<'_> {
    fn drop(&mut self) {
        if let Some(gc) = &self.gc {
            let _ = gc.call_method0("enable");
        }
    }
}

/// Builds Python objects from parsed JSON, interning object keys.
pub struct Builder<'py, 'j> {
    py: Python<'py>,
    /// Keys seen so far (a handful per page: a linear scan beats hashing).
    keys: Vec<(&'j str, Bound<'py, PyString>)>,
    /// Short string values (cities, stages, dates repeat a lot): a small
    /// direct-mapped cache, so a repeated value is one shared Python str.
    values: Vec<Option<(&'j str, Bound<'py, PyString>)>>,
}

/// Slots in the value cache (a power of two).
const VALUE_CACHE: usize = 1024;
/// Longest string value the cache considers, in bytes.
const VALUE_CACHE_MAX_LEN: usize = 24;

fn fx_hash(s: &str) -> usize {
    // FxHash over the bytes: cheap and good enough for a cache index.
    let mut h: u64 = 0;
    for chunk in s.as_bytes().chunks(8) {
        let mut w = [0u8; 8];
        w[..chunk.len()].copy_from_slice(chunk);
        h = (h.rotate_left(5) ^ u64::from_le_bytes(w)).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }
    (h ^ (h >> 29)) as usize
}

impl<'py, 'j> Builder<'py, 'j> {
    pub fn new(py: Python<'py>) -> Self {
        Builder {
            py,
            keys: Vec::new(),
            values: Vec::new(),
        }
    }

    fn key(&mut self, k: &'j str) -> Bound<'py, PyString> {
        if let Some((_, s)) = self.keys.iter().find(|(x, _)| *x == k) {
            return s.clone();
        }
        let s = PyString::intern(self.py, k);
        if self.keys.len() < 64 {
            self.keys.push((k, s.clone()));
        }
        s
    }

    fn string(&mut self, s: &'j str) -> Bound<'py, PyString> {
        if s.len() > VALUE_CACHE_MAX_LEN {
            return PyString::new(self.py, s);
        }
        if self.values.is_empty() {
            self.values.resize_with(VALUE_CACHE, || None);
        }
        let slot = &mut self.values[fx_hash(s) & (VALUE_CACHE - 1)];
        if let Some((k, v)) = slot {
            if *k == s {
                return v.clone();
            }
        }
        let v = PyString::new(self.py, s);
        *slot = Some((s, v.clone()));
        v
    }

    pub fn value(&mut self, v: &'j Json) -> PyResult<Bound<'py, PyAny>> {
        let py = self.py;
        Ok(match v {
            Json::Null => py.None().into_bound(py),
            Json::Bool(b) => PyBool::new(py, *b).to_owned().into_any(),
            Json::Int(i) => i.into_pyobject(py)?.into_any(),
            Json::UInt(u) => u.into_pyobject(py)?.into_any(),
            Json::Float(f) => PyFloat::new(py, *f).into_any(),
            Json::Str(s) => self.string(s).into_any(),
            Json::Array(a) => {
                let list = PyList::empty(py);
                for x in a {
                    list.append(self.value(x)?)?;
                }
                list.into_any()
            }
            Json::Object(kv) => {
                let d = PyDict::new(py);
                for (k, x) in kv {
                    let key = self.key(k);
                    d.set_item(key, self.value(x)?)?;
                }
                d.into_any()
            }
        })
    }

    /// Appends converted items to `list`.
    pub fn extend(&mut self, list: &Bound<'py, PyList>, items: &'j [Json]) -> PyResult<()> {
        for x in items {
            list.append(self.value(x)?)?;
        }
        Ok(())
    }

    /// A list of converted items.
    pub fn list(&mut self, items: &'j [Json]) -> PyResult<Bound<'py, PyList>> {
        let objs = items
            .iter()
            .map(|x| self.value(x))
            .collect::<PyResult<Vec<_>>>()?;
        PyList::new(py_of(self), objs)
    }
}

/// Builds Python objects from a page [`Tape`]: each object key's `str` is
/// made (interned) once per page, then an object entry is an index; short
/// string values go through the same small cache as [`Builder`]'s.
pub struct TapeBuilder<'py, 't> {
    tape: &'t Tape,
    keys: Vec<Bound<'py, PyString>>,
    strings: Builder<'py, 't>,
    at: usize,
}

impl<'py, 't> TapeBuilder<'py, 't> {
    pub fn new(py: Python<'py>, tape: &'t Tape) -> Self {
        TapeBuilder {
            tape,
            keys: tape.keys.iter().map(|k| PyString::intern(py, k)).collect(),
            strings: Builder::new(py),
            at: 0,
        }
    }

    /// The next item, or `None` after the last.
    pub fn next_item(&mut self) -> PyResult<Option<Bound<'py, PyAny>>> {
        if self.at >= self.tape.nodes.len() {
            return Ok(None);
        }
        self.node().map(Some)
    }

    fn node(&mut self) -> PyResult<Bound<'py, PyAny>> {
        let py = self.strings.py;
        let node = self.tape.nodes[self.at];
        self.at += 1;
        Ok(match node {
            Node::Null => py.None().into_bound(py),
            Node::Bool(b) => PyBool::new(py, b).to_owned().into_any(),
            Node::Int(i) => i.into_pyobject(py)?.into_any(),
            Node::UInt(u) => u.into_pyobject(py)?.into_any(),
            Node::Float(f) => PyFloat::new(py, f).into_any(),
            Node::Str { start, len } => {
                let s: &'t str = self.tape.str_at(start, len);
                self.strings.string(s).into_any()
            }
            Node::Array { len } => {
                let list = PyList::empty(py);
                for _ in 0..len {
                    list.append(self.node()?)?;
                }
                list.into_any()
            }
            Node::Object { len } => {
                let d = PyDict::new(py);
                for _ in 0..len {
                    let Node::Key(k) = self.tape.nodes[self.at] else {
                        return Err(pyo3::exceptions::PyRuntimeError::new_err(
                            "internal error: malformed page tape",
                        ));
                    };
                    self.at += 1;
                    let v = self.node()?;
                    d.set_item(&self.keys[k as usize], v)?;
                }
                d.into_any()
            }
            Node::Key(_) => {
                return Err(pyo3::exceptions::PyRuntimeError::new_err(
                    "internal error: malformed page tape",
                ))
            }
        })
    }

    /// Appends every item to `list`.
    pub fn extend(mut self, list: &Bound<'py, PyList>) -> PyResult<()> {
        while let Some(x) = self.next_item()? {
            list.append(x)?;
        }
        Ok(())
    }

    /// Every item, as a list.
    pub fn list(self) -> PyResult<Bound<'py, PyList>> {
        let list = PyList::empty(self.strings.py);
        self.extend(&list)?;
        Ok(list)
    }
}

fn py_of<'py>(b: &Builder<'py, '_>) -> Python<'py> {
    b.py
}

/// A JSON value that converts into Python objects (for async results).
pub struct PyJson(pub Json);

impl<'py> IntoPyObject<'py> for PyJson {
    type Target = PyAny;
    type Output = Bound<'py, PyAny>;
    type Error = PyErr;
    fn into_pyobject(self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        Builder::new(py).value(&self.0)
    }
}

/// A list of JSON values that converts into a Python list.
pub struct PyJsonList(pub Vec<Json>);

impl<'py> IntoPyObject<'py> for PyJsonList {
    type Target = PyList;
    type Output = Bound<'py, PyList>;
    type Error = PyErr;
    fn into_pyobject(self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        Builder::new(py).list(&self.0)
    }
}

/// Name/value pairs that convert into a dict in their order.
pub struct PyPairs(pub Vec<(String, String)>);

impl<'py> IntoPyObject<'py> for PyPairs {
    type Target = PyDict;
    type Output = Bound<'py, PyDict>;
    type Error = PyErr;
    fn into_pyobject(self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let d = PyDict::new(py);
        for (k, v) in self.0 {
            d.set_item(k, v)?;
        }
        Ok(d)
    }
}
