"""The options of the ``cxone_cdp`` Spark data source (documented in
:mod:`cxone_cdp.spark`), read without Spark: audiences, filter expressions,
partitioning, page size and the connection settings with the per-process
Querier they build. Filter expressions are read by the client's own filter
grammar (``cxone_cdp._native``); only the ``;`` separator is parsed here.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

from cxone_cdp import Querier
from cxone_cdp._native import filter_operator, parse_filter_expr, typed_filter_exprs
from cxone_cdp.errors import ValidationError

#: Sub-queries listed at once by one task, unless ``streamsPerPartition`` says.
DEFAULT_STREAMS = 4
#: Most ranges one audience's plan may have (the planner's limit).
MAX_SUBQUERIES = 1024


def _split_expressions(text: str) -> list[str]:
    """Splits at unescaped ``;`` (``\\;`` is a literal ``;``, ``\\\\`` a backslash)."""
    out: list[str] = []
    cur: list[str] = []
    i = 0
    while i < len(text):
        c = text[i]
        if c == "\\" and i + 1 < len(text) and text[i + 1] in ";\\":
            cur.append(text[i + 1])
            i += 2
            continue
        if c == ";":
            out.append("".join(cur))
            cur = []
        else:
            cur.append(c)
        i += 1
    out.append("".join(cur))
    return [e for e in out if e.strip()]


_V = TypeVar("_V")


def _symbols(filters: Iterable[tuple[str, str, _V]]) -> list[tuple[str, str, _V]]:
    """Filters with their operators as wire symbols (``gt`` -> ``>``)."""
    return [(a, filter_operator(op), v) for a, op, v in filters]


def parse_filters(text: str) -> list[tuple[str, str, str]]:
    """``"city=Rock & Roll;lifetime_value>100"`` -> ``[("city", "=", "Rock & Roll"),
    ("lifetime_value", ">", "100")]``: each expression read by the client's
    filter grammar, the CLI's ``--filter`` form (the attribute runs up to the
    first of ``= ! > < ~``, the value is the rest, untouched), operators as
    wire symbols, values still as text. Raises ValidationError."""
    return _symbols([parse_filter_expr(e) for e in _split_expressions(text)])


@dataclass(frozen=True)
class _Connection:
    """Connection settings given as options; the rest comes from the
    environment where the Querier is built. The secret is never shown."""

    base_url: str | None = None
    token_url: str | None = None
    client_id: str | None = None
    client_secret: str | None = field(default=None, repr=False)
    ca_bundle: str | None = None
    #: May hold credentials (``http://user:password@host:port``): never shown.
    proxy: str | None = field(default=None, repr=False)

    def querier(self) -> Querier:
        """This process's Querier for these settings (and the environment):
        Spark reuses its Python workers, so a worker's partitions share one
        connection pool, one token and one attribute schema."""
        key = (
            self,
            tuple(sorted((k, v) for k, v in os.environ.items() if k.startswith("CXONE_CDP_"))),
        )
        with _QUERIERS_LOCK:
            q = _QUERIERS.get(key)
            if q is None:
                given = {
                    "base_url": self.base_url,
                    "token_url": self.token_url,
                    "client_id": self.client_id,
                    "client_secret": self.client_secret,
                    "ca_bundle": self.ca_bundle,
                    "proxy": self.proxy,
                }
                q = Querier.from_env(**{k: v for k, v in given.items() if v})
                if len(_QUERIERS) >= 8:
                    _QUERIERS.clear()
                _QUERIERS[key] = q
            return q


_QUERIERS: dict[Any, Querier] = {}
_QUERIERS_LOCK = threading.Lock()


@dataclass(frozen=True)
class _Settings:
    audiences: tuple[str, ...]
    multi: bool
    filter_texts: tuple[str, ...]
    partition_by: str | None
    num_partitions: int
    streams: int
    limit: int
    connection: _Connection

    @staticmethod
    def from_options(options: Mapping[str, str]) -> _Settings:
        opts = {str(k).lower(): str(v) for k, v in options.items()}
        one, many = opts.get("audience"), opts.get("audiences")
        if (one is None) == (many is None):
            raise ValidationError("give exactly one of the options 'audience' or 'audiences'")
        if many is not None:
            auds = tuple(a.strip() for a in many.split(",") if a.strip())
            if not auds:
                raise ValidationError("option 'audiences' names no audience")
        else:
            auds = (str(one).strip(),)
        filters = [v for k, v in sorted(opts.items()) if k == "filter" or k.startswith("filter.")]

        def integer(name: str, default: int, lo: int, hi: int) -> int:
            raw = opts.get(name.lower())
            if raw is None:
                return default
            try:
                n = int(raw)
            except ValueError:
                raise ValidationError(f"option {name!r} must be an integer, got {raw!r}") from None
            if not lo <= n <= hi:
                raise ValidationError(f"option {name!r} must be between {lo} and {hi}, got {n}")
            return n

        by = opts.get("partitionby") or None
        n = integer("numPartitions", 8 if by else 1, 1, 1024)
        if by is None and n != 1:
            raise ValidationError(
                "option 'numPartitions' needs 'partitionBy' (the attribute to split on)"
            )
        streams = integer("streamsPerPartition", DEFAULT_STREAMS if by else 1, 1, 64)
        if by is None and streams != 1:
            raise ValidationError(
                "option 'streamsPerPartition' needs 'partitionBy' (the attribute to split on)"
            )
        if n * streams > MAX_SUBQUERIES:
            raise ValidationError(
                f"numPartitions x streamsPerPartition must be at most {MAX_SUBQUERIES}, "
                f"got {n} x {streams}"
            )
        return _Settings(
            audiences=auds,
            multi=many is not None,
            filter_texts=tuple(filters),
            partition_by=by,
            num_partitions=n,
            streams=streams,
            limit=integer("limit", 1000, 1, 1000),
            connection=_Connection(
                base_url=opts.get("base_url"),
                token_url=opts.get("token_url"),
                client_id=opts.get("client_id"),
                client_secret=opts.get("client_secret"),
                ca_bundle=opts.get("ca_bundle"),
                proxy=opts.get("proxy"),
            ),
        )

    def filters(self, types: Mapping[str, str]) -> list[tuple[str, str, Any]]:
        """Every filter option's expressions, typed by ``types`` (the
        attribute schema, ``name -> type``)."""
        exprs = [e for text in self.filter_texts for e in _split_expressions(text)]
        return _symbols(typed_filter_exprs(exprs, types))
