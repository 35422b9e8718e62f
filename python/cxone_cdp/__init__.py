"""cxone-cdp: audience membership from the NICE CXone CDP API, on a Rust core."""

from cxone_cdp import _native, errors
from cxone_cdp._native import BatchIterator, MemberIterator, Page, PageIterator, Querier
from cxone_cdp.errors import (
    AuthenticationError,
    BadRequestError,
    ConnectionError,
    CxoneError,
    DiscoveryError,
    NotFoundError,
    PaginationError,
    PermissionDeniedError,
    RateLimitError,
    ServerError,
    TimeoutError,
    ValidationError,
)

__version__: str = _native.__version__

__all__ = [
    "__version__",
    "errors",
    "Querier",
    "MemberIterator",
    "PageIterator",
    "BatchIterator",
    "Page",
    "CxoneError",
    "ValidationError",
    "AuthenticationError",
    "PermissionDeniedError",
    "NotFoundError",
    "BadRequestError",
    "RateLimitError",
    "ServerError",
    "TimeoutError",
    "ConnectionError",
    "PaginationError",
    "DiscoveryError",
]

# Completion callbacks are delivered in the background; give any still in
# flight a few seconds at interpreter exit so a script that ends right after
# a listing still sends its callback.
import atexit as _atexit  # noqa: E402

_atexit.register(_native._wait_for_callbacks, 5.0)
