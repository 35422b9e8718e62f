//! Measuring the dict path: how long the Python thread spends to
//! turn members page bodies into lists of dicts, per strategy. Used by
//! bench/bench_dict.py only (`_dict_bench`, built with the `dict-bench` cargo feature), not the Querier.
//!
//! - `tree`: the Querier's path. Bodies are parsed into `paginate::Json`
//!   trees off the GIL (in the real pipeline: in the background, while Python
//!   consumes the previous page), so only the build counts; trees are freed
//!   inline.
//! - `tree_dropper`: the same, trees freed on the dropper thread.
//! - `tape`: the Querier's path now: bodies decoded into `tape::Tape`s off
//!   the GIL, then dicts built from the tapes (only the build counts).
//! - `tree_parse` / `tape_parse`: the off-GIL decode alone (what the runtime
//!   thread spends per page), members counted from the result.
//! - `pythonize`: pythonize (serde to Python) over the page parsed to a
//!   `serde_json::Value` off the GIL (only the build counts), the crate the
//!   small conversions use: why the hot path does not.
//! - `jiter_keys` / `jiter_all`: jiter's `PythonParse` straight from bytes to
//!   Python objects, under the GIL (the whole parse counts), caching keys /
//!   all short strings.
use std::time::Instant;

use jiter::{PythonParse, StringCacheMode};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyBytes, PyDict, PyFloat, PyList, PyString};

use crate::dicts::{StrCache, TapeBuilder};
use crate::errors::to_pyerr;
use cxone_cdp_core::page::tape::decode_page;
use cxone_cdp_core::page::{parse_page, Json};

/// `(members, seconds the Python thread spent)` for one strategy over `bodies`.
#[pyfunction]
#[pyo3(name = "_dict_bench")]
fn dict_bench(
    py: Python<'_>,
    bodies: Vec<Bound<'_, PyBytes>>,
    mode: &str,
) -> PyResult<(usize, f64)> {
    let slices: Vec<&[u8]> = bodies.iter().map(|b| b.as_bytes()).collect();
    let out = PyList::empty(py);
    match mode {
        "tree" | "tree_dropper" => {
            let pages = py
                .detach(|| {
                    slices
                        .iter()
                        .map(|b| parse_page(b))
                        .collect::<Result<Vec<_>, _>>()
                })
                .map_err(to_pyerr)?;
            let t0 = Instant::now();
            for page in pages {
                Builder::new(py).extend(&out, &page.items)?;
                if mode == "tree" {
                    drop(page);
                } else {
                    drop_later(page);
                }
            }
            Ok((out.len(), t0.elapsed().as_secs_f64()))
        }
        "tape" => {
            let pages = py
                .detach(|| {
                    slices
                        .iter()
                        .map(|b| decode_page(b))
                        .collect::<Result<Vec<_>, _>>()
                })
                .map_err(to_pyerr)?;
            let t0 = Instant::now();
            for page in pages {
                TapeBuilder::new(py, &page.tape).extend(&out)?;
            }
            Ok((out.len(), t0.elapsed().as_secs_f64()))
        }
        "tree_parse" | "tape_parse" => py.detach(|| {
            let t0 = Instant::now();
            let mut n = 0;
            for b in &slices {
                n += if mode == "tree_parse" {
                    parse_page(b).map_err(to_pyerr)?.items.len()
                } else {
                    decode_page(b).map_err(to_pyerr)?.tape.items
                };
            }
            Ok((n, t0.elapsed().as_secs_f64()))
        }),
        "pythonize" => {
            let pages = py
                .detach(|| {
                    slices
                        .iter()
                        .map(|b| serde_json::from_slice::<serde_json::Value>(b))
                        .collect::<Result<Vec<_>, _>>()
                })
                .map_err(|e| PyValueError::new_err(e.to_string()))?;
            let t0 = Instant::now();
            for page in &pages {
                let items = pythonize::pythonize(py, &page["items"])?;
                for m in items.try_iter()? {
                    out.append(m?)?;
                }
            }
            Ok((out.len(), t0.elapsed().as_secs_f64()))
        }
        "jiter_keys" | "jiter_all" => {
            let parse = PythonParse {
                cache_mode: if mode == "jiter_keys" {
                    StringCacheMode::Keys
                } else {
                    StringCacheMode::All
                },
                ..Default::default()
            };
            let t0 = Instant::now();
            for body in &slices {
                let page = parse
                    .python_parse(py, body)
                    .map_err(|e| PyValueError::new_err(e.to_string()))?;
                let items = page.get_item("items")?;
                for m in items.try_iter()? {
                    out.append(m?)?;
                }
            }
            Ok((out.len(), t0.elapsed().as_secs_f64()))
        }
        _ => Err(PyValueError::new_err(format!("unknown mode {mode:?}"))),
    }
}

/// Frees `value` on a dedicated background thread (the `tree_dropper`
/// mode; the Querier's tape pages need no such thread): a page of parsed
/// members as a tree is many small allocations, and freeing them on the Python thread (holding
/// the GIL) costs a good part of the conversion. (One long-lived thread fed by
/// a small bounded channel: spawning a task per page costs more than it
/// saves, and when the thread falls behind the caller frees the value itself,
/// so garbage never piles up.)
fn drop_later<T: Send + 'static>(value: T) {
    type Garbage = Box<dyn Send>;
    static DROPPER: std::sync::OnceLock<
        Option<std::sync::Mutex<std::sync::mpsc::SyncSender<Garbage>>>,
    > = std::sync::OnceLock::new();
    let sender = DROPPER.get_or_init(|| {
        let (tx, rx) = std::sync::mpsc::sync_channel::<Garbage>(2);
        std::thread::Builder::new()
            .name("cxone-cdp-dropper".into())
            .spawn(move || {
                for garbage in rx {
                    drop(garbage)
                }
            })
            .ok()
            .map(|_| std::sync::Mutex::new(tx))
    });
    let value: Garbage = Box::new(value);
    if let Some(tx) = sender {
        let tx = tx.lock().unwrap_or_else(|p| p.into_inner());
        // Full (or the thread is gone): the value comes back and is dropped here.
        let _ = tx.try_send(value);
    }
}

/// The tree strategy: Python objects from a parsed [`Json`] tree, keys
/// interned (what the dict path did before page tapes).
pub struct Builder<'py, 'j> {
    py: Python<'py>,
    /// Keys seen so far (a handful per page: a linear scan beats hashing).
    keys: Vec<(&'j str, Bound<'py, PyString>)>,
    /// Short string values, shared (as on the tape path).
    values: StrCache<'py, 'j>,
}

impl<'py, 'j> Builder<'py, 'j> {
    pub fn new(py: Python<'py>) -> Self {
        Builder {
            py,
            keys: Vec::new(),
            values: StrCache::new(py),
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

    pub fn value(&mut self, v: &'j Json) -> PyResult<Bound<'py, PyAny>> {
        let py = self.py;
        Ok(match v {
            Json::Null => py.None().into_bound(py),
            Json::Bool(b) => PyBool::new(py, *b).to_owned().into_any(),
            Json::Int(i) => i.into_pyobject(py)?.into_any(),
            Json::UInt(u) => u.into_pyobject(py)?.into_any(),
            Json::Float(f) => PyFloat::new(py, *f).into_any(),
            Json::Str(s) => self.values.get(s).into_any(),
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
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(dict_bench, m)?)?;
    Ok(())
}
