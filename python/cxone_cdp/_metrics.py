"""`Metrics`: what `Querier.metrics()` returns, a plain dict with views.

It is a real ``dict`` (``m["latency_p50_ms"]``, ``json.dumps(m)``, ``m == {...}``
all work); it only adds a compact ``repr`` and an HTML table for notebooks
(``_repr_html_``, used by Jupyter to display it).
"""

from __future__ import annotations

import html
from typing import Any

__all__ = ["Metrics"]

#: Sections of the HTML table: (title, keys). Keys not listed go under "Other".
_SECTIONS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("Queries", ("queries_total", "queries_succeeded", "queries_failed", "members_returned")),
    (
        "Latency (ms)",
        ("latency_avg_ms", "latency_p50_ms", "latency_p95_ms", "latency_p99_ms", "latency_sum_ms"),
    ),
    (
        "HTTP",
        (
            "http_requests",
            "retries",
            "rate_limited",
            "tokens_fetched",
            "auth_replays",
            "bytes_received",
        ),
    ),
    ("Cache", ("cache_hits", "cache_misses")),
    ("Delivery", ("webhook_deliveries", "webhook_failures", "audit_failures")),
)

#: The tutorial's keys: duplicates of queries_* / latency_sum_ms, left out of the views.
_TUTORIAL_KEYS = frozenset({"total", "success", "failed", "latency_sum"})

#: The figures the compact repr shows (when present).
_HEADLINE = (
    "queries_total",
    "queries_failed",
    "members_returned",
    "http_requests",
    "retries",
    "cache_hits",
    "latency_p50_ms",
    "latency_p95_ms",
)


def _fmt(value: Any) -> str:
    if value is None:
        return "None"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


class Metrics(dict[str, Any]):
    """The client's metrics: a ``dict`` of counters and latency figures.

    Keys: ``queries_total``, ``queries_succeeded``, ``queries_failed``,
    ``members_returned``, ``latency_{avg,p50,p95,p99}_ms`` (``None`` until a
    query finished), ``latency_sum_ms``, ``http_requests``, ``retries``,
    ``rate_limited``, ``tokens_fetched``, ``auth_replays``, ``bytes_received``,
    ``cache_hits``, ``cache_misses``, ``webhook_deliveries``,
    ``webhook_failures``, ``audit_failures``, and the tutorial's ``total``,
    ``success``, ``failed``, ``latency_sum``. A snapshot: it does not change
    after it was taken.
    """

    __slots__ = ()

    def __repr__(self) -> str:
        shown = [k for k in _HEADLINE if k in self]
        parts = [f"{k}={_fmt(self[k])}" for k in shown]
        rest = len([k for k in self if k not in shown and k not in _TUTORIAL_KEYS])
        if rest:
            parts.append(f"+{rest} more")
        return f"Metrics({', '.join(parts)})"

    def _repr_html_(self) -> str:
        """An HTML table of the figures, by section (Jupyter calls this)."""
        rows: list[str] = []
        listed: set[str] = set(_TUTORIAL_KEYS)
        sections = list(_SECTIONS)
        other = tuple(k for k in self if k not in {x for _, ks in _SECTIONS for x in ks})
        sections.append(("Other", tuple(k for k in other if k not in _TUTORIAL_KEYS)))
        for title, keys in sections:
            present = [k for k in keys if k in self and k not in listed]
            if not present:
                continue
            rows.append(
                f'<tr><th colspan="2" style="text-align:left">{html.escape(title)}</th></tr>'
            )
            for k in present:
                listed.add(k)
                rows.append(
                    f"<tr><td>{html.escape(str(k))}</td>"
                    f'<td style="text-align:right">{html.escape(_fmt(self[k]))}</td></tr>'
                )
        return (
            '<table class="cxone-cdp-metrics"><caption>cxone_cdp metrics</caption>'
            + "".join(rows)
            + "</table>"
        )
