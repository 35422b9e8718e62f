"""No client secret and no access token in any repr/str, exception,
log record (any level), audit record or webhook callback.

Access tokens issued by the simulator look like ``sim_<32 hex>``; the tests
search every captured text for the secret, for that pattern and for a
``Bearer`` header value."""

from __future__ import annotations

import asyncio
import logging
import re
import traceback

import pytest
from _querier_support import querier
from cxone_cdp import Querier, errors
from cxone_cdp.compat import CXoneAudienceQuerier
from cxone_cdp.testing import AUDIENCE_ID, Simulator

SECRET = "S3cr3t-client-secret-do-not-leak"
WEBHOOK_SECRET = "whsec-do-not-leak-either"
TOKEN = re.compile(r"sim_[0-9a-f]{32}")


def assert_clean(text: str, *extra: str) -> None:
    assert SECRET not in text
    assert WEBHOOK_SECRET not in text
    assert not TOKEN.search(text), TOKEN.search(text)
    assert "Bearer " not in text
    for x in extra:
        assert x not in text


def exception_texts(e: BaseException) -> str:
    parts = [str(e), repr(e), "".join(traceback.format_exception(e))]
    for attr in ("message", "code", "detail", "correlation_id", "status", "retry_after"):
        parts.append(repr(getattr(e, attr, None)))
    parts.append(repr(e.args))
    parts.append(repr(getattr(e, "__dict__", {})))
    return "\n".join(parts)


@pytest.fixture
def sim():
    with Simulator(members=500, port=0, client_secret=SECRET) as s:
        yield s


def test_reprs_and_strs_hold_no_secret(sim):
    q = querier(sim, webhook_url=sim.callback_url, webhook_secret=WEBHOOK_SECRET)
    q.count(AUDIENCE_ID)  # a token is now held
    it = q.iter_members(AUDIENCE_ID, limit=10)
    next(it)
    pages = q.iter_pages(AUDIENCE_ID, limit=10)
    page = next(pages)
    compat = CXoneAudienceQuerier(
        "org",
        sim.client_id,
        SECRET,
        sim.callback_url,
        base_url=sim.base_url,
        token_url=sim.token_url,
        webhook_secret=WEBHOOK_SECRET,
    )
    objects = [q, it, pages, page, compat, compat.querier, sim]
    texts = [f"{repr(o)}\n{str(o)}\n{format(o)}" for o in objects]
    texts.append(repr(vars(compat)))
    assert_clean("\n".join(texts))


def _error_cases(sim):
    """(name, callable) pairs that each raise a different CxoneError kind."""
    wrong = Querier(sim.base_url, sim.client_id, SECRET + "-wrong", token_url=sim.token_url)
    return [
        ("validation", lambda q: q.members(AUDIENCE_ID, [("city", "like", SECRET)])),
        ("not found", lambda q: q.count("no-such-audience")),
        ("unknown attribute", lambda q: q.count(AUDIENCE_ID, [("nope", "eq", 1)])),
        ("authentication", lambda q: wrong.count(AUDIENCE_ID)),
        ("permission", lambda q: querier(sim, scopes=["cdp:read"]).count(AUDIENCE_ID)),
        (
            "closed port",
            lambda q: Querier("http://127.0.0.1:9", "id", SECRET, max_retries=0).count(AUDIENCE_ID),
        ),
    ]


def test_exceptions_hold_no_secret_or_token(sim, caplog):
    caplog.set_level(logging.DEBUG)
    q = querier(sim)
    q.count(AUDIENCE_ID)
    texts = []
    for name, bad in _error_cases(sim):
        with pytest.raises(errors.CxoneError) as ei:
            bad(q)
        texts.append(f"[{name}] " + exception_texts(ei.value))
    # Server-side faults, each as the final error after retries.
    for faults, kind in [
        ({"rate_limit_every": 1}, errors.RateLimitError),
        ({"unavailable_every": 1}, errors.ServerError),
        ({"html_502_every": 1}, errors.ServerError),
        ({"truncated_every": 1}, errors.ServerError),
        ({"drop_every": 1}, errors.ConnectionError),
        ({"repeat_cursor_after": 1}, errors.PaginationError),
        ({"latency": 0.5}, errors.TimeoutError),
    ]:
        sim.clear_faults()
        sim.set_faults(**faults)
        qq = querier(sim, max_retries=1, timeout=0.2)
        with pytest.raises(kind) as ei:
            qq.members(AUDIENCE_ID, limit=10)
        texts.append(f"[{faults}] " + exception_texts(ei.value))
    sim.clear_faults()
    assert len(texts) == 13
    assert_clean("\n".join(texts))
    assert_clean("\n".join(f"{r.name} {r.levelname} {r.getMessage()}" for r in caplog.records))


def test_log_records_at_debug_hold_no_secret(sim, caplog):
    """Every record on every logger at DEBUG, through a token revocation, a
    retry storm and compat failures. (Rust log records reach Python through
    pyo3-log, so this covers them too: they are ordinary records under the
    ``cxone_cdp`` logger.)"""
    caplog.set_level(logging.DEBUG)
    logging.getLogger("cxone_cdp").setLevel(logging.DEBUG)
    sim.set_faults(revoke_after=0.2, unavailable_every=3, rate_limit_every=5)
    q = querier(sim)
    for _ in range(3):
        q.members(AUDIENCE_ID, limit=50)
    compat = CXoneAudienceQuerier(
        "org",
        sim.client_id,
        SECRET,
        None,
        base_url=sim.base_url,
        token_url=sim.token_url,
        max_retries=6,
        backoff_base=0.01,
        backoff_max=0.05,
        retry_after_cap=0.05,
    )
    with pytest.raises(errors.ValidationError):
        asyncio.run(
            compat.validate_and_query(
                {"audience_id": AUDIENCE_ID, "filters": [("nope", "eq", 1)]}, "q1"
            )
        )
    members = asyncio.run(compat.validate_and_query({"audience_id": AUDIENCE_ID}, "q2"))
    assert len(members) == 500
    blob = "\n".join(
        f"{r.name} {r.levelname} {r.getMessage()} {r.args!r} {r.exc_text or ''}"
        for r in caplog.records
    )
    assert_clean(blob)


def test_audit_records_and_webhook_callbacks_hold_no_secret(sim, tmp_path):
    audit = tmp_path / "audit.jsonl"
    q = querier(
        sim, webhook_url=sim.callback_url, webhook_secret=WEBHOOK_SECRET, audit_path=str(audit)
    )
    q.members(AUDIENCE_ID, limit=100, query_id="q-1")
    with pytest.raises(errors.CxoneError):
        q.count("no-such-audience")
    texts = []
    if audit.exists():  # written when an audit path is set
        texts.append(audit.read_text())
    for cb in sim.callbacks():  # sent when a webhook URL is set
        texts.append(repr(cb["headers"]))
        texts.append(cb["body"].decode("utf-8", "replace"))
    assert_clean("\n".join(texts))
