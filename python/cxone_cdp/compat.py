"""Tutorial-compatible API on the native engine.

Code written against the CXone CDP tutorial's ``CXoneAudienceQuerier`` keeps
working with only the base URL (and credentials) changed::

    from cxone_cdp.compat import AttributeFilter, AudienceQueryPayload, CXoneAudienceQuerier

    querier = CXoneAudienceQuerier(
        org_name="acme",
        client_id="...",
        client_secret="...",
        webhook_url="https://analytics.example.com/api/v1/callbacks",
        base_url="https://cdp.example.com",  # the only change
    )
    payload = AudienceQueryPayload(
        audience_id="a1b2c3d4-e5f6-7890-abcd-ef1234567890",
        filters=[
            AttributeFilter(attribute_name="lifecycle_stage", operator="eq", value="customer"),
            AttributeFilter(attribute_name="last_purchase_date", operator="gt", value="2023-01-01"),
        ],
        limit=250,
    )
    members = await querier.validate_and_query(payload, query_id="QRY-001")
    print(querier.metrics)  # {"total": 1, "success": 1, "failed": 0, "latency_sum": ...}

Differences from the tutorial, all fixes required by the API contract:

* An unknown operator is a :class:`~cxone_cdp.errors.ValidationError` raised
  before any request (the tutorial silently used ``=``).
* Filter values are percent-encoded correctly, every page is fetched (empty
  and short pages do not end the listing), and errors are typed
  (:mod:`cxone_cdp.errors`; validation failures are still ``ValueError``).
* ``offset`` skips that many members at the start of the result (the tutorial
  accepted it and ignored it). The API has no offset, so the members are
  still fetched and then dropped; the completion callback's ``memberCount``
  counts the whole listing.
* Caching, retries, token refresh, the completion callback (``webhook_url``)
  and the audit log are done by the native :class:`cxone_cdp.Querier`.

Pydantic is not needed: :class:`AttributeFilter` and
:class:`AudienceQueryPayload` are dataclasses, and any object with the same
attributes (for instance the tutorial's own pydantic models) is accepted.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import cxone_cdp
from cxone_cdp._native import filter_operator
from cxone_cdp.errors import ValidationError

__all__ = ["AttributeFilter", "AudienceQueryPayload", "CXoneAudienceQuerier"]

logger = logging.getLogger("cxone_cdp.compat")

MAX_LIMIT = 1000
MAX_FILTER_CONDITIONS = 50


def _invalid(message: str) -> ValidationError:
    return ValidationError(message, code="validation_error")


@dataclass
class AttributeFilter:
    """One filter condition: ``attribute_name operator value``.

    ``operator`` is ``eq``, ``neq``, ``gt``, ``lt`` or ``contains`` (or the
    wire symbols ``=``, ``!=``, ``>``, ``<``, ``~``); anything else raises
    :class:`~cxone_cdp.errors.ValidationError`.
    """

    attribute_name: str
    operator: str
    value: Any

    def __post_init__(self) -> None:
        if not isinstance(self.attribute_name, str) or not self.attribute_name.strip():
            raise _invalid("attribute_name must be a non-empty string")
        filter_operator(self.operator)

    @classmethod
    def coerce(cls, obj: object) -> AttributeFilter:
        """An ``AttributeFilter`` from itself, any object with the attributes
        ``attribute_name``, ``operator`` and ``value``, a mapping with those
        keys, or an ``(attribute, operator, value)`` tuple."""
        if isinstance(obj, cls):
            return obj
        if isinstance(obj, Mapping):
            try:
                return cls(obj["attribute_name"], obj["operator"], obj["value"])
            except KeyError as e:
                raise _invalid(f"filter mapping lacks the key {e.args[0]!r}") from None
        if isinstance(obj, tuple) and len(obj) == 3:
            return cls(*obj)
        try:
            return cls(obj.attribute_name, obj.operator, obj.value)  # type: ignore[attr-defined]
        except AttributeError:
            raise _invalid(
                f"a filter must have attribute_name, operator and value; got {type(obj).__name__}"
            ) from None


@dataclass
class AudienceQueryPayload:
    """What to list: an audience, filters (ANDed), a page size and an offset.

    ``limit`` is the page size (1..1000, default 100). ``offset`` (>= 0,
    default 0) skips that many members at the start of the result; the members
    are fetched anyway, because the API pages by cursor and has no offset.
    """

    audience_id: str
    filters: list[AttributeFilter] = field(default_factory=list)
    limit: int = 100
    offset: int = 0

    def __post_init__(self) -> None:
        if not isinstance(self.audience_id, str) or not self.audience_id.strip():
            raise _invalid("audience_id must be a non-empty string")
        if isinstance(self.filters, (str, bytes)) or not isinstance(self.filters, Iterable):
            raise _invalid("filters must be a list of filters")
        self.filters = [AttributeFilter.coerce(f) for f in self.filters]
        if isinstance(self.limit, bool) or not isinstance(self.limit, int):
            raise _invalid(f"limit must be an int, got {type(self.limit).__name__}")
        if not 1 <= self.limit <= MAX_LIMIT:
            raise _invalid(f"limit must be between 1 and {MAX_LIMIT}, got {self.limit}")
        if isinstance(self.offset, bool) or not isinstance(self.offset, int):
            raise _invalid(f"offset must be an int, got {type(self.offset).__name__}")
        if self.offset < 0:
            raise _invalid(f"offset must be >= 0, got {self.offset}")

    @classmethod
    def coerce(cls, obj: object) -> AudienceQueryPayload:
        """An ``AudienceQueryPayload`` from itself or any object (such as the
        tutorial's pydantic model) or mapping with the same fields."""
        if isinstance(obj, cls):
            return obj
        if isinstance(obj, Mapping):
            get = obj.get
        else:

            def get(name: str, default: Any = None) -> Any:
                return getattr(obj, name, default)

        audience_id = get("audience_id")
        if audience_id is None:
            raise _invalid(f"a payload must have an audience_id; got {type(obj).__name__}")
        return cls(
            audience_id=audience_id,
            filters=get("filters", None) or [],  # checked (and listed) by __post_init__
            limit=get("limit", 100),
            offset=get("offset", 0),
        )


def _coerce_value(value: Any, attr_type: str | None) -> Any:
    """Strings the tutorial would have sent verbatim for number and boolean
    attributes (``"250"``, ``"true"``) become typed values; anything else is
    passed on unchanged for the native layer to check."""
    if not isinstance(value, str):
        return value
    text = value.strip()
    if attr_type == "number":
        try:
            return int(text)
        except ValueError:
            pass
        try:
            number = float(text)
        except ValueError:
            return value
        return number if math.isfinite(number) else value
    if attr_type == "boolean" and text.lower() in ("true", "false"):
        return text.lower() == "true"
    return value


class CXoneAudienceQuerier:
    """The tutorial's querier, on :class:`cxone_cdp.Querier`.

    ``base_url`` defaults to the tutorial's ``https://{org_name}.mypurecloud.com``
    (a warning is logged on the ``cxone_cdp.compat`` logger naming the derived
    host, so it is never chosen silently); pass ``base_url`` (and ``token_url``
    if the token endpoint is not ``{base_url}/oauth/token``) for any other
    deployment. ``webhook_url`` receives the completion callback of every
    query (``None`` or ``""`` disables it). Further keyword arguments
    (``webhook_secret``, ``audit_path``, ``cache_size``, ``cache_ttl``,
    ``max_retries``, ...) are passed to :class:`cxone_cdp.Querier`.

    ``metrics`` is the tutorial's dict: ``total``, ``success``, ``failed``
    and ``latency_sum`` (milliseconds, successful queries only, as in the
    tutorial). ``querier.querier.metrics()`` has the full native figures.
    """

    MAX_FILTER_CONDITIONS = MAX_FILTER_CONDITIONS
    MAX_COMPLEXITY_SCORE = 100

    def __init__(
        self,
        org_name: str,
        client_id: str,
        client_secret: str,
        webhook_url: str | None,
        *,
        base_url: str | None = None,
        token_url: str | None = None,
        **querier_options: Any,
    ) -> None:
        if not isinstance(org_name, str):
            raise _invalid("org_name must be a string")
        if base_url is None:
            if not org_name.strip() or any(c in org_name for c in "/:@?#% \t\r\n"):
                raise _invalid("org_name must be a plain host label when base_url is not given")
            base_url = f"https://{org_name}.mypurecloud.com"
            logger.warning(
                "no base_url given: using the tutorial's default %s (pass base_url=... "
                "for your deployment)",
                base_url,
            )
        self.org_name = org_name
        self.base_url = base_url
        self.webhook_url = webhook_url or None
        self.metrics: dict[str, float] = {
            "total": 0,
            "success": 0,
            "failed": 0,
            "latency_sum": 0.0,
        }
        self.querier = cxone_cdp.Querier(
            base_url,
            client_id,
            client_secret,
            token_url=token_url,
            webhook_url=self.webhook_url,
            **querier_options,
        )

    def __repr__(self) -> str:
        return f"CXoneAudienceQuerier(org_name={self.org_name!r}, base_url={self.base_url!r})"

    async def validate_and_query(self, payload: Any, query_id: str) -> list[dict[str, Any]]:
        """Validates the query, then returns every matching member.

        Order as in the tutorial: operators are checked first (no request),
        then that every filter attribute exists in the CDP schema, that there
        are at most 50 filters, and that the count is not zero; each failure
        raises :class:`~cxone_cdp.errors.ValidationError` (a ``ValueError``).
        Then the members are listed (``payload.limit`` per page), and the
        first ``payload.offset`` of them are dropped.

        ``payload`` may be an :class:`AudienceQueryPayload`, the tutorial's
        pydantic model, or any object or mapping with the same fields.
        Every call counts in ``metrics``, success or failure.
        """
        start = time.perf_counter()
        try:
            query = AudienceQueryPayload.coerce(payload)
            for f in query.filters:  # fields may have been changed after construction
                filter_operator(f.operator)
            # Everything that needs no schema is refused before any request.
            if len(query.filters) > self.MAX_FILTER_CONDITIONS:
                raise _invalid(f"Filter count exceeds maximum {self.MAX_FILTER_CONDITIONS}")
            cxone_cdp.Querier._check_local(
                query.audience_id,
                [(f.attribute_name, f.operator, f.value) for f in query.filters],
                query.limit,
            )
            schema = await self.querier.attributes_async()
            for f in query.filters:
                if f.attribute_name not in schema:
                    raise _invalid(f"Attribute '{f.attribute_name}' not found in CDP schema")
            if len(query.filters) > self.MAX_FILTER_CONDITIONS:
                raise _invalid(f"Filter count exceeds maximum {self.MAX_FILTER_CONDITIONS}")
            filters = [
                (f.attribute_name, f.operator, _coerce_value(f.value, schema.get(f.attribute_name)))
                for f in query.filters
            ]
            await self.querier.validate_async(
                query.audience_id, filters, query.limit, require_nonzero=True
            )
            members = await self.querier.members_async(
                query.audience_id, filters, query.limit, query_id=query_id
            )
            if query.offset:
                del members[: query.offset]
        except Exception as e:
            self.metrics["total"] += 1
            self.metrics["failed"] += 1
            logger.error("Query %s failed: %s", query_id, e)
            raise
        latency_ms = (time.perf_counter() - start) * 1000.0
        self.metrics["total"] += 1
        self.metrics["success"] += 1
        self.metrics["latency_sum"] += latency_ms
        return members
