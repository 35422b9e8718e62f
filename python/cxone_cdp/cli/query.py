"""A query's `--filter` expressions, read by the client's filter grammar:
every check that needs no request first, then the values typed by the
attribute schema."""

from __future__ import annotations

from typing import Any

from cxone_cdp import Querier
from cxone_cdp._native import parse_filter_expr, typed_filter_exprs


def check_local(exprs: list[str], audience: str | None = None, limit: int | None = None) -> None:
    """Every check of the query that needs no request: each expression parsed
    (the first malformed one is a ValidationError naming it), then the
    audience id, the filter count and complexity, the value texts and the
    limit, as the Querier checks them. Only what depends on an attribute's
    type (its value typed against the schema) is left for after the one
    schema request."""
    parsed = [parse_filter_expr(e) for e in exprs]
    Querier._check_local("-" if audience is None else audience, parsed, limit)


def typed_filters(q: Querier, exprs: list[str]) -> list[tuple[str, str, Any]]:
    """The expressions as Querier filters, values typed by the schema (one
    attributes request, none without filters)."""
    if not exprs:
        return []
    return list(typed_filter_exprs(exprs, q.attributes()))
