"""Observability on the native Querier: response cache, metrics, completion
callbacks, webhook registration and the audit log, against the simulator."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import math
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from _querier_support import bare_querier as make
from _querier_support import page_requests
from cxone_cdp import Querier
from cxone_cdp.errors import NotFoundError, ValidationError
from cxone_cdp.testing import AUDIENCE_ID, Simulator

MEMBERS = 2500  # three pages of 1000
PAGES = 3
MISSING_AUDIENCE = "ffffffff-0000-0000-0000-000000000000"
#: An audit record's keys: the query, then its outcome.
AUDIT_FIELDS = {"auditId", "timestamp", "queryId", "audienceId", "filterCount"}
AUDIT_FIELDS |= {"status", "latencyMs", "recordCount", "complianceFlag"}
CALLBACK_FIELDS = {"queryId", "timestamp", "memberCount", "latencyMs", "status"}
HOOK_SECRET = "hook-signing-key-42"


@pytest.fixture(scope="module")
def sim():
    with Simulator(members=MEMBERS, port=0) as s:
        yield s


def arun(make_awaitable):
    """Runs an awaitable made inside a running event loop."""

    async def go():
        return await make_awaitable()

    return asyncio.run(go())


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(pred, timeout: float = 10.0):
    deadline = time.monotonic() + timeout
    while True:
        value = pred()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(0.05)


def callbacks_for(sim, query_id: str, timeout: float = 10.0) -> list[dict]:
    def mine():
        return [c for c in sim.callbacks() if json.loads(c["body"]).get("queryId") == query_id]

    return wait_for(mine, timeout)


# --- cache -------------------------------------------------------------------


def test_cached_rerun_sends_no_page_requests(sim):
    q = make(sim)
    sim.reset()
    first = q.members(AUDIENCE_ID, limit=1000)
    assert len(first) == MEMBERS
    assert page_requests(sim) == PAGES
    stats = q.cache_stats()
    assert (stats["misses"], stats["hits"], stats["entries"]) == (PAGES, 0, PAGES)
    assert stats["bytes"] > 0 and stats["capacity"] == 50 and stats["ttl_secs"] == 120.0

    sim.reset()
    assert q.members(AUDIENCE_ID, limit=1000) == first
    # shared by the async twin and the iterators
    assert arun(lambda: q.members_async(AUDIENCE_ID, limit=1000)) == first
    assert list(q.iter_members(AUDIENCE_ID, limit=1000)) == first
    assert page_requests(sim) == 0
    assert q.cache_stats()["hits"] == 3 * PAGES
    m = q.metrics()
    assert (m["cache_hits"], m["cache_misses"]) == (3 * PAGES, PAGES)

    # count answers are cached too; a different query is a different key
    sim.reset()
    n = q.count(AUDIENCE_ID, [("is_vip", "eq", True)])
    assert q.count(AUDIENCE_ID, [("is_vip", "eq", True)]) == n
    assert sim.stats()["by_endpoint"].get("count", 0) == 1
    q.members(AUDIENCE_ID, limit=999)
    assert page_requests(sim) == PAGES

    q.clear_cache()
    assert q.cache_stats()["entries"] == 0
    sim.reset()
    q.members(AUDIENCE_ID, limit=1000)
    assert page_requests(sim) == PAGES


def test_cache_ttl_expiry(sim):
    q = make(sim, cache_ttl=0.5)
    q.members(AUDIENCE_ID, limit=1000)
    sim.reset()
    q.members(AUDIENCE_ID, limit=1000)
    assert page_requests(sim) == 0, "within the TTL"
    time.sleep(0.7)
    sim.reset()
    q.members(AUDIENCE_ID, limit=1000)
    assert page_requests(sim) == PAGES, "expired: fetched again"
    assert q.cache_stats()["expirations"] == PAGES


def test_cache_lru_eviction(sim):
    # Count answers, one request each, show the order: the least recently
    # used entry is the one pushed out.
    q = make(sim, cache_size=2)
    over = [[("lifetime_value", "gt", v)] for v in (0, 10, 20)]
    for flt in over:
        q.count(AUDIENCE_ID, flt)
    stats = q.cache_stats()
    assert (stats["entries"], stats["evictions"], stats["capacity"]) == (2, 1, 2)
    sim.reset()
    q.count(AUDIENCE_ID, over[1])  # held: now the most recently used
    assert sim.stats()["by_endpoint"].get("count", 0) == 0
    q.count(AUDIENCE_ID, over[0])  # pushed out: asked for again, pushes out over[2]
    assert sim.stats()["by_endpoint"].get("count", 0) == 1
    q.count(AUDIENCE_ID, over[1])
    assert sim.stats()["by_endpoint"].get("count", 0) == 1
    q.count(AUDIENCE_ID, over[2])
    assert sim.stats()["by_endpoint"].get("count", 0) == 2
    assert q.cache_stats()["evictions"] == 3


def test_a_listing_larger_than_the_cache_keeps_the_cache_full(sim):
    q = make(sim, cache_size=2)
    q.members(AUDIENCE_ID, limit=1000)
    stats = q.cache_stats()
    assert (stats["entries"], stats["evictions"], stats["capacity"]) == (2, PAGES - 2, 2)
    sim.reset()
    assert len(q.members(AUDIENCE_ID, limit=1000)) == MEMBERS
    # Two of the three pages were held, so at least one is asked for again.
    # Which two depends on the order the overlapped pages were stored in;
    # either way each page asked for is stored and pushes one out.
    fetched = page_requests(sim)
    assert 1 <= fetched <= PAGES
    assert q.cache_stats()["evictions"] == PAGES - 2 + fetched
    assert q.cache_stats()["entries"] == 2


@pytest.mark.parametrize("kw", [{"cache_size": 0}, {"cache_ttl": 0}])
def test_cache_can_be_disabled(sim, kw):
    q = make(sim, **kw)
    q.members(AUDIENCE_ID, limit=1000)
    sim.reset()
    q.members(AUDIENCE_ID, limit=1000)
    assert page_requests(sim) == PAGES
    stats = q.cache_stats()
    assert (stats["hits"], stats["misses"], stats["entries"], stats["capacity"]) == (0, 0, 0, 0)


def test_bad_cache_settings_are_rejected(sim):
    for kw in ({"cache_ttl": -1.0}, {"cache_ttl": float("nan")}):
        with pytest.raises(ValidationError):
            make(sim, **kw)
    with pytest.raises((OverflowError, TypeError, ValueError)):
        make(sim, cache_size=-1)


def test_errors_are_never_cached(sim):
    q = make(sim, max_retries=0)
    sim.reset()
    with pytest.raises(NotFoundError):
        q.members(MISSING_AUDIENCE)
    with pytest.raises(NotFoundError):
        q.members(MISSING_AUDIENCE)
    assert page_requests(sim) == 2
    assert q.cache_stats()["entries"] == 0


# --- metrics -----------------------------------------------------------------


def parse_prometheus(text: str) -> dict[str, float]:
    """A strict reading of the text exposition format 0.0.4: HELP/TYPE
    comments, then `name{labels} value` samples of a declared family."""
    assert text.endswith("\n")
    name_re = r"[a-zA-Z_:][a-zA-Z0-9_:]*"
    sample_re = re.compile(
        rf'^({name_re})(\{{({name_re})="([^"\\]*)"(?:,{name_re}="[^"\\]*")*\}})? (\S+)$'
    )
    types: dict[str, str] = {}
    samples: dict[str, float] = {}
    for line in text.splitlines():
        assert line, "no blank lines"
        if line.startswith("# HELP "):
            assert re.match(rf"^# HELP {name_re} \S", line), line
            continue
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split(" ")
            assert kind in {"counter", "gauge", "summary", "histogram", "untyped"}, line
            assert name not in types, f"TYPE twice: {line}"
            types[name] = kind
            continue
        assert not line.startswith("#"), line
        m = sample_re.match(line)
        assert m, f"not a sample: {line!r}"
        name, labels, value = m.group(1), m.group(2) or "", m.group(5)
        family = name
        for suffix in ("_sum", "_count"):
            if name.endswith(suffix) and types.get(name[: -len(suffix)]) == "summary":
                family = name[: -len(suffix)]
        assert family in types, f"sample before its TYPE: {line}"
        if types[family] == "counter":
            assert name.endswith("_total"), line
        v = float(value)  # accepts NaN, +Inf
        assert math.isnan(v) or types[family] != "counter" or v >= 0
        samples[name + labels] = v
    return samples


def test_metrics_match_what_the_simulator_saw(sim):
    sim.reset()
    q = make(sim, cache_size=0)
    q.attributes()
    n = q.count(AUDIENCE_ID)
    members = q.members(AUDIENCE_ID, limit=1000)
    with pytest.raises(NotFoundError):
        q.members(MISSING_AUDIENCE)
    stats = sim.stats()
    m = q.metrics()
    assert m["http_requests"] == stats["token_requests"] + stats["api_requests"]
    assert m["tokens_fetched"] == stats["token_requests"] == 1
    assert (m["total"], m["success"], m["failed"]) == (3, 2, 1)
    assert (m["queries_total"], m["queries_succeeded"], m["queries_failed"]) == (3, 2, 1)
    assert m["members_returned"] == len(members) == n
    assert m["bytes_received"] > 0
    assert m["latency_sum"] == m["latency_sum_ms"] > 0
    assert m["latency_avg_ms"] == pytest.approx(m["latency_sum_ms"] / 3)
    assert 0 < m["latency_p50_ms"] <= m["latency_p95_ms"] <= m["latency_p99_ms"]
    assert (m["retries"], m["rate_limited"], m["cache_hits"]) == (0, 0, 0)
    assert q._counters()["http_requests"] == m["http_requests"], "one source of truth"


def test_retries_and_429s_are_counted_once(sim):
    sim.reset()
    sim.set_faults(rate_limit_every=2, retry_after_secs=0)
    try:
        q = make(sim, cache_size=0, backoff_base=0.01)
        q.members(AUDIENCE_ID, limit=1000)
        stats = sim.stats()
        m = q.metrics()
        assert m["rate_limited"] == stats["by_status"].get("429", 0) > 0
        assert m["retries"] == m["rate_limited"]
        assert m["http_requests"] == stats["token_requests"] + stats["api_requests"]
    finally:
        sim.clear_faults()


def test_prometheus_text_parses_and_matches(sim):
    q = make(sim)
    empty = parse_prometheus(q.metrics_prometheus())
    assert empty["cxone_cdp_queries_total"] == 0
    assert math.isnan(empty['cxone_cdp_query_latency_seconds{quantile="0.5"}'])
    q.members(AUDIENCE_ID, limit=1000)
    q.members(AUDIENCE_ID, limit=1000)
    m = q.metrics()
    p = parse_prometheus(q.metrics_prometheus())
    assert p["cxone_cdp_queries_total"] == m["total"] == 2
    assert p["cxone_cdp_http_requests_total"] == m["http_requests"]
    assert p["cxone_cdp_cache_hits_total"] == m["cache_hits"] == PAGES
    assert p["cxone_cdp_members_returned_total"] == 2 * MEMBERS
    assert p["cxone_cdp_cache_entries"] == q.cache_stats()["entries"] == PAGES
    assert p["cxone_cdp_query_latency_seconds_count"] == 2
    assert p["cxone_cdp_query_latency_seconds_sum"] == pytest.approx(m["latency_sum_ms"] / 1000)
    assert p['cxone_cdp_query_latency_seconds{quantile="0.99"}'] == pytest.approx(
        m["latency_p99_ms"] / 1000
    )


# --- webhooks ----------------------------------------------------------------


def check_signature(callback: dict, secret: str) -> dict:
    body = bytes(callback["body"])
    want = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    assert hmac.compare_digest(callback["headers"]["x-signature-256"], want)
    payload = json.loads(body)
    assert set(payload) == CALLBACK_FIELDS
    return payload


def test_completion_callback_is_signed(sim):
    q = make(sim, webhook_url=sim.callback_url, webhook_secret=HOOK_SECRET)
    members = q.members(AUDIENCE_ID, [("is_vip", "eq", True)], 1000, query_id="Q-SIGNED")
    [cb] = callbacks_for(sim, "Q-SIGNED")
    payload = check_signature(cb, HOOK_SECRET)
    assert payload["status"] == "completed"
    assert payload["memberCount"] == len(members) > 0
    assert payload["latencyMs"] > 0
    assert wait_for(lambda: q.metrics()["webhook_deliveries"] == 1)
    assert HOOK_SECRET not in repr(q)

    # no query id, no callback
    sim.reset()
    q.members(AUDIENCE_ID, limit=1000)
    time.sleep(0.3)
    assert sim.callbacks() == []


def test_callbacks_from_async_and_iterators(sim):
    q = make(sim, webhook_url=sim.callback_url, webhook_secret=HOOK_SECRET)
    members = arun(lambda: q.members_async(AUDIENCE_ID, limit=1000, query_id="Q-ASYNC"))
    assert check_signature(callbacks_for(sim, "Q-ASYNC")[0], HOOK_SECRET)["memberCount"] == len(
        members
    )
    it = q.iter_members(AUDIENCE_ID, limit=1000, query_id="Q-ITER")
    assert sum(1 for _ in it) == MEMBERS
    [cb] = callbacks_for(sim, "Q-ITER")
    assert json.loads(cb["body"])["memberCount"] == MEMBERS


def test_failed_query_sends_failed_callback(sim):
    q = make(sim, webhook_url=sim.callback_url, webhook_secret=HOOK_SECRET)
    with pytest.raises(NotFoundError):
        q.members(MISSING_AUDIENCE, query_id="Q-FAIL")
    [cb] = callbacks_for(sim, "Q-FAIL")
    payload = check_signature(cb, HOOK_SECRET)
    assert (payload["status"], payload["memberCount"]) == ("failed", 0)
    # an iterator that fails reports too
    with pytest.raises(NotFoundError):
        list(q.iter_members(MISSING_AUDIENCE, query_id="Q-FAIL-ITER"))
    assert json.loads(callbacks_for(sim, "Q-FAIL-ITER")[0]["body"])["status"] == "failed"


def test_unsigned_callback_without_secret(sim):
    q = make(sim, webhook_url=sim.callback_url)
    q.members(AUDIENCE_ID, limit=1000, query_id="Q-UNSIGNED")
    [cb] = callbacks_for(sim, "Q-UNSIGNED")
    assert "x-signature-256" not in cb["headers"]


def test_dead_callback_url_leaves_query_successful(sim):
    q = make(sim, webhook_url=f"http://127.0.0.1:{closed_port()}/cb", webhook_secret=HOOK_SECRET)
    t0 = time.monotonic()
    members = q.members(AUDIENCE_ID, limit=1000, query_id="Q-DEAD")
    assert len(members) == MEMBERS
    assert time.monotonic() - t0 < 10
    assert wait_for(lambda: q.metrics()["webhook_failures"] == 1, timeout=20)
    m = q.metrics()
    assert (m["success"], m["failed"], m["webhook_deliveries"]) == (1, 0, 0)


def test_sync_caller_exiting_right_away_still_sends_callback(sim):
    script = (
        "import cxone_cdp, sys\n"
        "q = cxone_cdp.Querier(sys.argv[1], sys.argv[2], sys.argv[3], token_url=sys.argv[4],"
        " webhook_url=sys.argv[5])\n"
        "q.members(sys.argv[6], limit=1000, query_id='Q-EXIT')\n"
    )
    args = [sim.base_url, sim.client_id, sim.client_secret, sim.token_url, sim.callback_url]
    subprocess.run([sys.executable, "-c", script, *args, AUDIENCE_ID], check=True, timeout=60)
    [cb] = callbacks_for(sim, "Q-EXIT", timeout=5)
    assert json.loads(cb["body"])["memberCount"] == MEMBERS


def test_register_webhook(sim):
    q = make(sim)
    sim.reset()
    out = q.register_webhook("done", "https://hooks.example.com/cb", ["audience.query.completed"])
    assert out["id"] and out["name"] == "done" and out["enabled"] is True
    assert sim.webhooks()[-1]["url"] == "https://hooks.example.com/cb"
    out = arun(
        lambda: q.register_webhook_async("off", "http://127.0.0.1/cb", ["e1", "e2"], enabled=False)
    )
    assert out["events"] == ["e1", "e2"] and out["enabled"] is False
    assert sim.stats()["by_endpoint"].get("webhooks", 0) == 2
    for name, url, events in [
        ("", "https://h/cb", ["e"]),
        ("n", "ftp://h/cb", ["e"]),
        ("n", "https://user:pw@/cb", ["e"]),
        ("n", "https://h/cb", []),
        ("n", "https://h/cb", [" "]),
    ]:
        with pytest.raises(ValidationError) as info:
            q.register_webhook(name, url, events)
        assert "pw@" not in str(info.value)
    with pytest.raises(ValidationError):
        q.register_webhook("n", "https://h/cb", "e")
    assert sim.stats()["by_endpoint"].get("webhooks", 0) == 2, "nothing sent"


def test_bad_webhook_url_setting_is_rejected(sim):
    with pytest.raises(ValidationError) as info:
        make(sim, webhook_url="ftp://user:topsecret@h/x", webhook_secret=HOOK_SECRET)
    assert "topsecret" not in str(info.value) and HOOK_SECRET not in str(info.value)


def test_from_env_reads_webhook_and_audit(sim, monkeypatch, tmp_path):
    path = tmp_path / "env-audit.jsonl"
    for k, v in {
        "CXONE_CDP_BASE_URL": sim.base_url,
        "CXONE_CDP_TOKEN_URL": sim.token_url,
        "CXONE_CDP_CLIENT_ID": sim.client_id,
        "CXONE_CDP_CLIENT_SECRET": sim.client_secret,
        "CXONE_CDP_WEBHOOK_URL": sim.callback_url,
        "CXONE_CDP_WEBHOOK_SECRET": HOOK_SECRET,
        "CXONE_CDP_AUDIT_PATH": str(path),
    }.items():
        monkeypatch.setenv(k, v)
    q = Querier.from_env()
    q.members(AUDIENCE_ID, limit=1000, query_id="Q-ENV")
    check_signature(callbacks_for(sim, "Q-ENV")[0], HOOK_SECRET)
    assert json.loads(path.read_text().splitlines()[-1])["queryId"] == "Q-ENV"


# --- audit -------------------------------------------------------------------


def attribute_texts(members: list[dict]) -> set[str]:
    """String attribute values long enough not to occur by chance."""
    out = set()
    for m in members:
        for v in m["attributes"].values():
            if isinstance(v, str) and len(v) >= 4:
                out.add(v)
    return out


def check_record(text: str, sim) -> dict:
    rec = json.loads(text)
    assert set(rec) == AUDIT_FIELDS
    assert rec["auditId"].startswith("AUD-")
    assert rec["complianceFlag"]
    assert sim.client_secret not in text and "Bearer" not in text and "access_token" not in text
    return rec


def audit_records(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "cxone_cdp.audit"]


def test_audit_records_via_logging_and_file(sim, caplog, tmp_path):
    path = tmp_path / "audit.jsonl"
    q = make(sim, audit_path=path, webhook_url=sim.callback_url, webhook_secret=HOOK_SECRET)
    filters = [("lifecycle_stage", "eq", "customer"), ("city", "~", "o")]
    with caplog.at_level(logging.INFO, logger="cxone_cdp.audit"):
        members = q.members(AUDIENCE_ID, filters, 1000, query_id="Q-AUDIT")
        with pytest.raises(NotFoundError):
            q.members(MISSING_AUDIENCE, query_id="Q-AUDIT-FAIL")
        q.members(AUDIENCE_ID, limit=1000)  # no query id: queryId null
    logged = audit_records(caplog)
    assert len(logged) == 3, logged
    filed = path.read_text().splitlines()
    assert filed == logged, "the file gets the same lines"
    ok, failed, anonymous = (check_record(t, sim) for t in logged)
    assert (ok["status"], ok["queryId"], ok["audienceId"]) == ("SUCCESS", "Q-AUDIT", AUDIENCE_ID)
    assert (ok["filterCount"], ok["recordCount"]) == (2, len(members))
    assert ok["latencyMs"] > 0
    assert (failed["status"], failed["queryId"], failed["recordCount"]) == (
        "FAILURE",
        "Q-AUDIT-FAIL",
        0,
    )
    assert anonymous["queryId"] is None and anonymous["recordCount"] == MEMBERS
    text = path.read_text()
    for value in attribute_texts(members) | {"customer", HOOK_SECRET}:
        assert value not in text, value
    assert len({r["auditId"] for r in (ok, failed, anonymous)}) == 3


def test_audit_follows_python_level_changes(sim, caplog):
    q = make(sim)
    with caplog.at_level(logging.WARNING, logger="cxone_cdp.audit"):
        q.members(AUDIENCE_ID, limit=1000)
    assert audit_records(caplog) == []
    with caplog.at_level(logging.INFO, logger="cxone_cdp.audit"):
        q.members(AUDIENCE_ID, limit=1000)
    assert len(audit_records(caplog)) == 1
    caplog.clear()
    with caplog.at_level(logging.ERROR, logger="cxone_cdp.audit"):
        q.members(AUDIENCE_ID, limit=1000)
    assert audit_records(caplog) == []


def test_audit_from_async_listing(sim, caplog):
    q = make(sim)
    with caplog.at_level(logging.INFO, logger="cxone_cdp.audit"):
        arun(lambda: q.members_async(AUDIENCE_ID, limit=1000, query_id="Q-AUDIT-ASYNC"))
    [rec] = [json.loads(t) for t in audit_records(caplog)]
    assert rec["queryId"] == "Q-AUDIT-ASYNC" and rec["recordCount"] == MEMBERS


def test_unwritable_audit_path_does_not_fail_the_query(sim, tmp_path):
    q = make(sim, audit_path=tmp_path)  # a directory cannot be appended to
    assert len(q.members(AUDIENCE_ID, limit=1000)) == MEMBERS
    assert q.metrics()["audit_failures"] == 1


def test_webhook_failure_is_logged_without_secrets(sim, caplog):
    url = f"http://hookuser:hookpass@127.0.0.1:{closed_port()}/cb?token=tok123"
    q = make(sim, webhook_url=url, webhook_secret=HOOK_SECRET)
    with caplog.at_level(logging.DEBUG, logger="cxone_cdp.webhook"):
        q.members(AUDIENCE_ID, limit=1000, query_id="Q-LOG")
        assert wait_for(lambda: q.metrics()["webhook_failures"] == 1, timeout=20)
        warned = wait_for(
            lambda: [
                r
                for r in caplog.records
                if r.name == "cxone_cdp.webhook" and r.levelno == logging.WARNING
            ]
        )
    assert warned and "Q-LOG" in warned[0].getMessage()
    for secret in ("hookpass", "tok123", HOOK_SECRET):
        assert secret not in caplog.text


def test_audit_path_accepts_pathlike(sim, tmp_path):
    q = make(sim, audit_path=Path(tmp_path) / "p.jsonl")
    q.members(AUDIENCE_ID, limit=1000)
    assert len((tmp_path / "p.jsonl").read_text().splitlines()) == 1
