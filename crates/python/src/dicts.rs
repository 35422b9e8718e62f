//! Members into Python dicts, the hot path of the dict listings: a page
//! [`Tape`] (decoded off the GIL by the core) becomes dicts in one pass with
//! the GIL held. Each object key's `str` is made (interned) once per page and
//! then only indexed; short string values (cities, stages, dates repeat a
//! lot) go through a small direct-mapped cache, so a repeated value is one
//! shared Python `str`. `bench/bench_dict.py` measures this path against the
//! alternatives (jiter's `PythonParse`, pythonize, orjson).

use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyDict, PyFloat, PyList, PyString};

use cxone_cdp_core::page::tape::{Node, Tape};

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

/// The async counterpart of [`GcPause`]: an async listing's dicts, hidden
/// from the cyclic garbage collector until the list is handed over.
///
/// Between the pages of `members_async()` the event loop runs other code
/// with the collector enabled, so every page's two thousand containers are
/// then walked by young collections, and the growing lists by full ones (with
/// 16 listings of 50,000 members on one loop: 721, 65 and 5 collections, a
/// third of the CPU, against almost none for the same listings run with
/// `members()`). The list is private to the listing until it returns, so no
/// cycle can form through its items: each page's items are untracked as they
/// are appended ([`HiddenItems::hide`]) and tracked again, all at once, just
/// before the list is returned ([`HiddenItems::reveal`]). A dict holding only
/// atomic values is untracked by CPython itself; tracking it is allowed (a
/// collection may untrack it again).
#[derive(Default)]
pub struct HiddenItems {
    from: usize,
}

impl HiddenItems {
    /// Untracks the items appended to `list` since the last call.
    pub fn hide(&mut self, list: &Bound<'_, PyList>) {
        let len = list.len();
        for i in self.from..len {
            if let Ok(item) = list.get_item(i) {
                let p = item.as_ptr();
                // SAFETY: `p` is a live object (held by `list`, GIL held);
                // only an exact dict that is tracked is untracked.
                unsafe {
                    if item.is_exact_instance_of::<PyDict>() && ffi::PyObject_GC_IsTracked(p) == 1 {
                        ffi::PyObject_GC_UnTrack(p.cast());
                    }
                }
            }
        }
        self.from = len;
    }

    /// Tracks every item of `list` again (before it is handed over).
    pub fn reveal(self, list: &Bound<'_, PyList>) {
        for item in list.iter() {
            let p = item.as_ptr();
            // SAFETY: as in `hide`; an untracked exact dict is tracked.
            unsafe {
                if item.is_exact_instance_of::<PyDict>() && ffi::PyObject_GC_IsTracked(p) == 0 {
                    ffi::PyObject_GC_Track(p.cast());
                }
            }
        }
    }
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

/// Short strings seen recently, as Python `str`s (a direct-mapped cache).
pub struct StrCache<'py, 'j> {
    py: Python<'py>,
    slots: Vec<Option<(&'j str, Bound<'py, PyString>)>>,
}

impl<'py, 'j> StrCache<'py, 'j> {
    pub fn new(py: Python<'py>) -> Self {
        StrCache {
            py,
            slots: Vec::new(),
        }
    }

    pub fn py(&self) -> Python<'py> {
        self.py
    }

    /// `s` as a Python `str`, shared with an equal short string seen before.
    pub fn get(&mut self, s: &'j str) -> Bound<'py, PyString> {
        if s.len() > VALUE_CACHE_MAX_LEN {
            return PyString::new(self.py, s);
        }
        if self.slots.is_empty() {
            self.slots.resize_with(VALUE_CACHE, || None);
        }
        let slot = &mut self.slots[fx_hash(s) & (VALUE_CACHE - 1)];
        if let Some((k, v)) = slot {
            if *k == s {
                return v.clone();
            }
        }
        let v = PyString::new(self.py, s);
        *slot = Some((s, v.clone()));
        v
    }
}

/// Builds Python objects from a page [`Tape`]: each object key's `str` is
/// made (interned) once per page, then an object entry is an index; short
/// string values go through a [`StrCache`].
pub struct TapeBuilder<'py, 't> {
    tape: &'t Tape,
    keys: Vec<Bound<'py, PyString>>,
    strings: StrCache<'py, 't>,
    at: usize,
}

impl<'py, 't> TapeBuilder<'py, 't> {
    pub fn new(py: Python<'py>, tape: &'t Tape) -> Self {
        TapeBuilder {
            tape,
            keys: tape.keys.iter().map(|k| PyString::intern(py, k)).collect(),
            strings: StrCache::new(py),
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
        let py = self.strings.py();
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
                self.strings.get(s).into_any()
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
        let list = PyList::empty(self.strings.py());
        self.extend(&list)?;
        Ok(list)
    }
}
