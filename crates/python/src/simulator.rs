//! Python class `cxone_cdp._native.Simulator`: a thin wrapper over
//! `cxone_cdp_simulator::Simulator` running on its own runtime thread. The
//! friendly wrapper is `cxone_cdp.testing.Simulator`.
use std::time::Duration;

use pyo3::exceptions::{PyRuntimeError, PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyList};

use cxone_cdp_simulator::{
    Advance, SimConfig, Simulator, AUDIENCE_ID, EMPTY_AUDIENCE_ID, SUBSET_AUDIENCE_ID,
};

/// Field names accepted as fault keyword arguments.
const FIELDS: &[&str] = &[
    "client_id",
    "client_secret",
    "token_lifetime",
    "revoke_after",
    "token_delay",
    "rate_limit_every",
    "retry_after_secs",
    "unavailable_every",
    "latency",
    "empty_page_every",
    "short_pages",
    "drop_every",
    "repeat_cursor_after",
    "html_502_every",
    "truncated_every",
    "access_key_id",
    "access_key_secret",
    "tenant_id",
    "area",
    "broken_discovery",
    "missing_attribute_every",
];

fn seconds(name: &str, v: &Bound<'_, PyAny>) -> PyResult<Option<Duration>> {
    let x: Option<f64> = v.extract()?;
    match x {
        None => Ok(None),
        Some(s) if s.is_finite() && s >= 0.0 => Duration::try_from_secs_f64(s)
            .map(Some)
            .map_err(|_| PyValueError::new_err(format!("{name} is too large"))),
        Some(_) => Err(PyValueError::new_err(format!(
            "{name} must be a finite, non-negative number of seconds"
        ))),
    }
}

fn every(name: &str, v: &Bound<'_, PyAny>) -> PyResult<Option<u64>> {
    let n: Option<u64> = v
        .extract()
        .map_err(|_| PyValueError::new_err(format!("{name} must be a positive int or None")))?;
    if n == Some(0) {
        return Err(PyValueError::new_err(format!(
            "{name} must be positive (or None)"
        )));
    }
    Ok(n)
}

/// Applies keyword arguments named like `SimConfig` fields.
fn apply(cfg: &mut SimConfig, kwargs: Option<&Bound<'_, PyDict>>) -> PyResult<()> {
    let Some(kwargs) = kwargs else { return Ok(()) };
    for (k, v) in kwargs.iter() {
        let name: String = k.extract()?;
        let n = name.as_str();
        match n {
            "client_id" => cfg.client_id = v.extract()?,
            "client_secret" => cfg.client_secret = v.extract()?,
            "token_lifetime" => {
                cfg.token_lifetime = seconds(n, &v)?
                    .ok_or_else(|| PyValueError::new_err("token_lifetime may not be None"))?
            }
            "revoke_after" => cfg.revoke_after = seconds(n, &v)?,
            "token_delay" => cfg.token_delay = seconds(n, &v)?,
            "latency" => cfg.latency = seconds(n, &v)?,
            "retry_after_secs" => cfg.retry_after_secs = v.extract()?,
            "short_pages" => cfg.short_pages = v.extract()?,
            "rate_limit_every" => cfg.rate_limit_every = every(n, &v)?,
            "unavailable_every" => cfg.unavailable_every = every(n, &v)?,
            "empty_page_every" => cfg.empty_page_every = every(n, &v)?,
            "drop_every" => cfg.drop_every = every(n, &v)?,
            "repeat_cursor_after" => cfg.repeat_cursor_after = every(n, &v)?,
            "html_502_every" => cfg.html_502_every = every(n, &v)?,
            "truncated_every" => cfg.truncated_every = every(n, &v)?,
            "access_key_id" => cfg.access_key_id = v.extract()?,
            "access_key_secret" => cfg.access_key_secret = v.extract()?,
            "tenant_id" => cfg.tenant_id = v.extract()?,
            "area" => cfg.area = v.extract()?,
            "broken_discovery" => {
                let b: Option<String> = v.extract()?;
                if let Some(b) = &b {
                    if !cxone_cdp_simulator::valid_broken_discovery(b) {
                        return Err(PyValueError::new_err(format!(
                            "broken_discovery must be one of {} (optionally prefixed \
                             'openid:' or 'cxone:'), or None; got {b:?}",
                            cxone_cdp_simulator::BROKEN_DISCOVERY.join(", ")
                        )));
                    }
                }
                cfg.broken_discovery = b;
            }
            "missing_attribute_every" => cfg.missing_attribute_every = every(n, &v)?,
            _ => {
                return Err(PyTypeError::new_err(format!(
                    "unknown simulator option {n:?} (known: members, port, tls, {})",
                    FIELDS.join(", ")
                )))
            }
        }
    }
    Ok(())
}

/// The embedded CDP simulator, serving on 127.0.0.1 from a background thread
/// (HTTPS under a throwaway CA with `tls=True`).
#[pyclass(name = "Simulator", module = "cxone_cdp._native", frozen)]
pub struct PySimulator {
    inner: Simulator,
}

#[pymethods]
impl PySimulator {
    #[new]
    #[pyo3(signature = (*, members = 10_000, port = 0, tls = false, **faults))]
    fn new(
        py: Python<'_>,
        members: usize,
        port: u16,
        tls: bool,
        faults: Option<&Bound<'_, PyDict>>,
    ) -> PyResult<Self> {
        let mut cfg = SimConfig {
            members,
            tls,
            ..SimConfig::default()
        };
        if members > u32::MAX as usize {
            return Err(PyValueError::new_err("members must be below 2**32"));
        }
        apply(&mut cfg, faults)?;
        let inner = py
            .detach(|| Simulator::start_background(cfg, port))
            .map_err(|e| PyRuntimeError::new_err(format!("cannot start the simulator: {e}")))?;
        Ok(PySimulator { inner })
    }

    /// The API base URL, `http://127.0.0.1:{port}` (`https://` with `tls`).
    #[getter]
    fn base_url(&self) -> String {
        self.inner.base_url()
    }

    /// With `tls`: the path of the throwaway CA's PEM file (removed on
    /// shutdown); otherwise None.
    #[getter]
    fn ca_path(&self) -> Option<String> {
        self.inner
            .ca_path()
            .map(|p| p.to_string_lossy().into_owned())
    }

    /// The OAuth token endpoint (client credentials), `{base}/oauth/token`.
    #[getter]
    fn token_url(&self) -> String {
        self.inner.token_url()
    }

    /// Where completion callbacks can be sent (recorded in `callbacks()`).
    #[getter]
    fn callback_url(&self) -> String {
        self.inner.callback_url()
    }

    /// The TCP port on 127.0.0.1.
    #[getter]
    fn port(&self) -> u16 {
        self.inner.port()
    }

    /// Members of the main audience.
    #[getter]
    fn members(&self) -> usize {
        self.inner.config().members
    }

    /// The client id the token endpoint accepts.
    #[getter]
    fn client_id(&self) -> String {
        self.inner.config().client_id
    }

    /// The client secret the token endpoint accepts.
    #[getter]
    fn client_secret(&self) -> String {
        self.inner.config().client_secret
    }

    /// The access key id the password grant accepts.
    #[getter]
    fn access_key_id(&self) -> String {
        self.inner.config().access_key_id
    }

    /// The access key secret the password grant accepts.
    #[getter]
    fn access_key_secret(&self) -> String {
        self.inner.config().access_key_secret
    }

    /// The tenant id named by the id_token and the CXone configuration.
    #[getter]
    fn tenant_id(&self) -> String {
        self.inner.config().tenant_id
    }

    /// The area the CXone configuration names.
    #[getter]
    fn area(&self) -> String {
        self.inner.config().area
    }

    /// The issuer for discovery (the base URL).
    #[getter]
    fn issuer(&self) -> String {
        self.inner.issuer()
    }

    /// The CXone-style token endpoint (password grant), `{base}/auth/token`.
    #[getter]
    fn auth_token_url(&self) -> String {
        self.inner.auth_token_url()
    }

    /// The counters as a JSON object text.
    fn stats_json(&self) -> String {
        serde_json::to_string(&self.inner.stats()).unwrap_or_default()
    }

    /// The stored webhook registrations as a JSON array text.
    fn webhooks_json(&self) -> String {
        serde_json::to_string(&self.inner.webhooks()).unwrap_or_default()
    }

    /// The completion callbacks received: `[{"headers": {...}, "body": bytes}]`.
    fn callbacks<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        let out = PyList::empty(py);
        for cb in self.inner.callbacks() {
            let d = PyDict::new(py);
            let h = PyDict::new(py);
            for (k, v) in &cb.headers {
                h.set_item(k, v)?;
            }
            d.set_item("headers", h)?;
            d.set_item("body", PyBytes::new(py, &cb.body))?;
            out.append(d)?;
        }
        Ok(out)
    }

    /// Zeroes the counters (fault counters too) and forgets callbacks.
    fn reset(&self) {
        self.inner.reset();
    }

    /// Changes fault switches (only the ones given); the member count stays.
    #[pyo3(signature = (**faults))]
    fn set_faults(&self, faults: Option<&Bound<'_, PyDict>>) -> PyResult<()> {
        if let Some(f) = faults {
            if f.contains("missing_attribute_every")? {
                return Err(PyValueError::new_err(
                    "missing_attribute_every shapes the data: it is fixed when the simulator starts",
                ));
            }
        }
        let mut cfg = self.inner.config();
        apply(&mut cfg, faults)?;
        self.inner.set_faults(cfg);
        Ok(())
    }

    /// Sets every fault switch back to off (credentials stay).
    fn clear_faults(&self) {
        let cur = self.inner.config();
        self.inner.set_faults(SimConfig {
            members: cur.members,
            client_id: cur.client_id,
            client_secret: cur.client_secret,
            access_key_id: cur.access_key_id,
            access_key_secret: cur.access_key_secret,
            tenant_id: cur.tenant_id,
            area: cur.area,
            ..SimConfig::default()
        });
    }

    /// Stops and starts again on the same port (state and cursors kept).
    fn restart(&self, py: Python<'_>) {
        py.detach(|| self.inner.restart());
    }

    /// Stops serving (idempotent).
    fn shutdown(&self, py: Python<'_>) {
        py.detach(|| self.inner.shutdown());
    }

    /// The members a complete listing returns, as a JSON array text.
    #[pyo3(signature = (audience_id, filters = Vec::new()))]
    fn expected_members_json(
        &self,
        py: Python<'_>,
        audience_id: &str,
        filters: Vec<String>,
    ) -> PyResult<String> {
        let refs: Vec<&str> = filters.iter().map(String::as_str).collect();
        let members = py
            .detach(|| self.inner.expected_members(audience_id, &refs))
            .map_err(|e| PyValueError::new_err(e.to_string()))?;
        Ok(serde_json::to_string(&members).unwrap_or_default())
    }

    /// Moves the membership clock on one epoch; returns
    /// `{"epoch", "joined", "left", "changed"}` (member ids) as JSON text.
    #[pyo3(signature = (*, joined = 0, left = 0, changed = 0))]
    fn advance_json(&self, joined: u64, left: u64, changed: u64) -> PyResult<String> {
        let moved = self
            .inner
            .advance(Advance {
                joined,
                left,
                changed,
            })
            .map_err(PyValueError::new_err)?;
        Ok(moved.to_json().to_string())
    }

    /// `(epoch, members)`: the membership clock's epoch (0 before any
    /// advance) and the main audience's size now.
    fn membership(&self) -> (u32, u64) {
        self.inner.membership()
    }

    /// `<Simulator http(s)://127.0.0.1:port members=n>`.
    fn __repr__(&self) -> String {
        format!(
            "<Simulator {} members={}>",
            self.inner.base_url(),
            self.inner.config().members
        )
    }
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PySimulator>()?;
    m.add("AUDIENCE_ID", AUDIENCE_ID)?;
    m.add("EMPTY_AUDIENCE_ID", EMPTY_AUDIENCE_ID)?;
    m.add("SUBSET_AUDIENCE_ID", SUBSET_AUDIENCE_ID)?;
    Ok(())
}
