"""cxone-cdp: audience membership from the NICE CXone CDP API, on a Rust core."""

from cxone_cdp import _native, errors
from cxone_cdp._native import BatchIterator, MemberIterator, Page, PageIterator, Querier
from cxone_cdp.errors import (
    AuthenticationError,
    BadRequestError,
    ConnectionError,
    CxoneError,
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
]
