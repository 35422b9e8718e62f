"""Exceptions raised by cxone-cdp.

Every error derives from :class:`CxoneError` and carries ``status`` (HTTP
status or ``None``), ``code`` (API error code or ``None``), ``message`` and
``correlation_id`` (the server's ``correlationId`` where known).
:class:`RateLimitError` also has ``retry_after`` (seconds).

:class:`ValidationError` is raised on the client before any request is sent
(it is also a ``ValueError``); :class:`TimeoutError` and
:class:`ConnectionError` are also the builtin exceptions of the same name.
No message ever contains a client secret or a token.

Those two share their names with builtins, so ``__all__`` lists them as
:data:`CxoneTimeoutError` and :data:`CxoneConnectionError` (the same
classes): ``from cxone_cdp.errors import *`` never shadows the builtins.
``cxone_cdp.errors.TimeoutError`` and ``cxone_cdp.errors.ConnectionError``
stay importable by name, and are the classes' own names in tracebacks.
"""

from __future__ import annotations

import builtins
from typing import Any

__all__ = [
    "CxoneError",
    "ValidationError",
    "AuthenticationError",
    "PermissionDeniedError",
    "NotFoundError",
    "BadRequestError",
    "RateLimitError",
    "ServerError",
    "CxoneTimeoutError",
    "CxoneConnectionError",
    "PaginationError",
    "DiscoveryError",
]


class CxoneError(Exception):
    """Base class of every cxone-cdp error."""

    status: int | None
    code: str | None
    message: str
    correlation_id: str | None

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        code: str | None = None,
        correlation_id: str | None = None,
        detail: str | None = None,
    ) -> None:
        super().__init__(message if detail is None else detail)
        self.message = message
        self.status = status
        self.code = code
        self.correlation_id = correlation_id

    def _fields(self) -> dict[str, Any]:
        """The keyword arguments that build this error again."""
        return {
            "status": self.status,
            "code": self.code,
            "correlation_id": self.correlation_id,
            "detail": str(self),
        }

    def __reduce__(self) -> tuple[Any, ...]:  # keep attributes across pickling (multiprocessing)
        return (_rebuild, (type(self), self.message, self._fields()))


def _rebuild(cls: type[CxoneError], message: str, fields: dict[str, Any]) -> CxoneError:
    return cls(message, **fields)


class ValidationError(CxoneError, ValueError):
    """Bad input caught on the client; nothing was sent."""


class AuthenticationError(CxoneError):
    """Credentials rejected (``invalid_client``) or a 401 after one token refresh."""


class PermissionDeniedError(CxoneError):
    """403: the token lacks a scope."""


class NotFoundError(CxoneError):
    """404: unknown audience."""


class BadRequestError(CxoneError):
    """400 from the server (``invalid_filter``, ``invalid_cursor``, ...)."""


class RateLimitError(CxoneError):
    """429 after every retry was used; ``retry_after`` is the server's hint in seconds."""

    retry_after: float | None

    def __init__(self, message: str, *, retry_after: float | None = None, **fields: Any) -> None:
        """``fields`` are :class:`CxoneError`'s (``status``, ``code``, ...)."""
        super().__init__(message, **fields)
        self.retry_after = retry_after

    def _fields(self) -> dict[str, Any]:
        return {**super()._fields(), "retry_after": self.retry_after}


class ServerError(CxoneError):
    """5xx after every retry, or a response body that could not be understood."""


class TimeoutError(CxoneError, builtins.TimeoutError):  # noqa: A001
    """The request timed out after every retry."""


class ConnectionError(CxoneError, builtins.ConnectionError):  # noqa: A001
    """The connection failed (refused, reset, dropped) after every retry."""


class PaginationError(CxoneError):
    """The server broke the pagination contract (a repeated cursor)."""


class DiscoveryError(CxoneError):
    """API discovery failed: a ``.well-known`` document (OpenID or CXone
    configuration) answered with an HTTP error, was not JSON or lacked its
    field (``token_endpoint`` / ``api_endpoint``), or the ``id_token`` needed
    for the tenant id was missing or malformed. ``code`` is
    ``invalid_discovery_document``, ``invalid_id_token``, ``missing_id_token``,
    ``missing_tenant_id`` or the document's error code; an issuer that cannot
    be reached at all raises :class:`ConnectionError` / :class:`TimeoutError`."""


#: :class:`TimeoutError` by a name that does not shadow the builtin.
CxoneTimeoutError = TimeoutError
#: :class:`ConnectionError` by a name that does not shadow the builtin.
CxoneConnectionError = ConnectionError
