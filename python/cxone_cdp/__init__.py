"""cxone-cdp: audience membership from the NICE CXone CDP API, on a Rust core.

    import cxone_cdp
    q = cxone_cdp.Querier(base_url, client_id, client_secret)  # or Querier.from_env()
    q.count(audience_id, [("lifetime_value", "gt", 100)])
    q.members(audience_id, filters)          # list of dicts; await q.members_async(...)
    for m in q.iter_members(audience_id): ...  # streamed; also `async for`
    q.members_arrow(audience_id)             # an Arrow table; q.to_pandas / q.to_polars

Errors are in :mod:`cxone_cdp.errors` (all :class:`CxoneError`) and here at
the top level under the same names, except the two that share a builtin's
name: the timeout and connection errors are ``CxoneTimeoutError`` and
``CxoneConnectionError`` here, so ``from cxone_cdp import *`` leaves the
builtins ``TimeoutError`` and ``ConnectionError`` alone. Old code that
reads ``cxone_cdp.TimeoutError`` / ``cxone_cdp.ConnectionError`` keeps
working (the same classes, not in ``__all__``); new code should use the
``Cxone`` names or :mod:`cxone_cdp.errors`. The embedded simulator for
tests is :mod:`cxone_cdp.testing`; the tutorial's API is
:mod:`cxone_cdp.compat`.
"""

from cxone_cdp import _native, errors
from cxone_cdp._metrics import Metrics
from cxone_cdp._native import BatchIterator, MemberIterator, Page, PageIterator, Querier
from cxone_cdp.errors import *  # noqa: F403  (every name of errors.__all__)

# Old code reads `cxone_cdp.ConnectionError`: kept as attributes, never in __all__.
from cxone_cdp.errors import ConnectionError as ConnectionError
from cxone_cdp.errors import TimeoutError as TimeoutError

__version__: str = _native.__version__

__all__ = [
    "__version__",
    "errors",
    "Querier",
    "MemberIterator",
    "PageIterator",
    "BatchIterator",
    "Page",
    "Metrics",
]
__all__ += errors.__all__

# Completion callbacks are delivered in the background; give any still in
# flight a few seconds at interpreter exit so a script that ends right after
# a listing still sends its callback.
import atexit as _atexit  # noqa: E402

_atexit.register(_native._wait_for_callbacks, 5.0)
