"""No secret or token in a repr, an error message or a log line."""

import logging

import pytest
from _querier_support import querier
from cxone_cdp import Querier, errors
from cxone_cdp.testing import AUDIENCE_ID, Simulator

SECRET = "top-secret-value-42"


def test_repr_hides_secret():
    q = Querier("http://127.0.0.1:9", "my-client", SECRET)
    r = repr(q)
    assert r == (
        "Querier(base_url='http://127.0.0.1:9', client_id='my-client', "
        "auth='client_credentials', cache='on')"
    )
    assert SECRET not in r and SECRET not in str(q)


def test_no_secret_or_token_in_errors_or_logs(caplog):
    caplog.set_level(logging.DEBUG)
    with Simulator(members=200, port=0, client_secret=SECRET, unavailable_every=2) as sim:
        q = querier(sim)
        q.members(AUDIENCE_ID, limit=50)  # logs retries at debug level
        tok = None
        texts = []
        for bad in [
            lambda: q.count("no-such-audience"),
            lambda: q.members(AUDIENCE_ID, [("nope", "eq", 1)]),
            lambda: Querier(
                sim.base_url, sim.client_id, SECRET + "x", token_url=sim.token_url
            ).count(AUDIENCE_ID),
            lambda: querier(sim, scopes=["cdp:read"]).count(AUDIENCE_ID),
        ]:
            with pytest.raises(errors.CxoneError) as ei:
                bad()
            e = ei.value
            texts += [str(e), repr(e), e.message or "", str(e.code)]
        blob = "\n".join(texts) + "\n".join(r.getMessage() for r in caplog.records)
        assert SECRET not in blob
        assert "Bearer" not in blob
        del tok
