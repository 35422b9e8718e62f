//! `Querier.discover()` and `discover_async()`: a Querier whose token
//! endpoint and API base URL come from discovery, resolved before it is
//! returned. The twins share one signature, written once (`twin!`).

use pyo3::prelude::*;
use pyo3::types::{PyDict, PyType};

use super::build::{self, DiscoverArgs};
use super::Querier;
use crate::awaitable::awaitable;
use crate::bridge::block_on;
use crate::errors::{CdpError, CdpResult};
use cxone_cdp_core::api::Client;

/// The new Querier (from the constructor's checks) and its client.
fn make<'py>(
    cls: &Bound<'py, PyType>,
    args: DiscoverArgs<'_, 'py>,
    options: Option<&Bound<'py, PyDict>>,
) -> CdpResult<(Bound<'py, PyAny>, Client)> {
    let q = build::for_discovery(cls, args, options)?;
    let client = q
        .cast::<Querier>()
        .map_err(PyErr::from)?
        .get()
        .client
        .clone();
    Ok((q, client))
}

macro_rules! twin {
    ($(#[$doc:meta])* $name:ident, |$cls:ident, $q:ident, $client:ident| $finish:block) => {
        #[pymethods]
        impl Querier {
            $(#[$doc])*
            #[classmethod]
            #[pyo3(signature = (issuer=None, *, client_id, client_secret, auth=None,
                access_key_id=None, access_key_secret=None, base_url=None, token_url=None,
                **options))]
            #[allow(clippy::too_many_arguments)]
            fn $name<'py>(
                $cls: &Bound<'py, PyType>,
                issuer: Option<&Bound<'py, PyAny>>,
                client_id: &Bound<'py, PyAny>,
                client_secret: &Bound<'py, PyAny>,
                auth: Option<&Bound<'py, PyAny>>,
                access_key_id: Option<&Bound<'py, PyAny>>,
                access_key_secret: Option<&Bound<'py, PyAny>>,
                base_url: Option<&Bound<'py, PyAny>>,
                token_url: Option<&Bound<'py, PyAny>>,
                options: Option<&Bound<'py, PyDict>>,
            ) -> CdpResult<Bound<'py, PyAny>> {
                let args = DiscoverArgs {
                    issuer,
                    client_id,
                    client_secret,
                    auth,
                    access_key_id,
                    access_key_secret,
                    base_url,
                    token_url,
                };
                let ($q, $client) = make($cls, args, options)?;
                $finish
            }
        }
    };
}

twin!(
    /// A Querier whose token endpoint and API base URL come from discovery
    /// against `issuer` (default: the usual CXone issuer), resolved now;
    /// explicit `base_url` / `token_url` win (their documents are not asked for).
    discover,
    |cls, q, client| {
        block_on(cls.py(), async move { client.discover().await })?;
        Ok(q)
    }
);

twin!(
    /// `await Querier.discover_async(...)`: like `discover`, without blocking.
    discover_async,
    |cls, q, client| {
        let q = q.unbind();
        Ok(awaitable(cls.py(), async move {
            client.discover().await?;
            Ok::<_, CdpError>(q)
        })?)
    }
);
