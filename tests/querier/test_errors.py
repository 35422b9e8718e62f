"""The exception hierarchy and the mapping of core errors onto it."""

import builtins
import pickle

import cxone_cdp
import pytest
from cxone_cdp import errors

CLASSES = [
    errors.ValidationError,
    errors.AuthenticationError,
    errors.PermissionDeniedError,
    errors.NotFoundError,
    errors.BadRequestError,
    errors.RateLimitError,
    errors.ServerError,
    errors.TimeoutError,
    errors.ConnectionError,
    errors.PaginationError,
]


@pytest.mark.parametrize("cls", CLASSES)
def test_every_class_is_a_cxone_error_with_fields(cls):
    e = cls("boom", status=400, code="x", correlation_id="c1", detail="HTTP 400 x: boom")
    assert isinstance(e, errors.CxoneError)
    assert (e.status, e.code, e.message, e.correlation_id) == (400, "x", "boom", "c1")
    assert str(e) == "HTTP 400 x: boom"
    back = pickle.loads(pickle.dumps(e))
    assert type(back) is cls
    assert (back.status, back.code, back.message, back.correlation_id) == (400, "x", "boom", "c1")
    assert str(back) == str(e)


def test_builtin_bases():
    assert issubclass(errors.ValidationError, ValueError)
    assert issubclass(errors.TimeoutError, builtins.TimeoutError)
    assert issubclass(errors.ConnectionError, builtins.ConnectionError)
    e = errors.RateLimitError("slow", status=429, retry_after=2.5)
    assert e.retry_after == 2.5
    assert pickle.loads(pickle.dumps(e)).retry_after == 2.5


def test_reexported_from_package():
    assert cxone_cdp.ValidationError is errors.ValidationError
    assert cxone_cdp.CxoneError is errors.CxoneError


def test_native_validation_error_is_mapped():
    q = cxone_cdp.Querier("http://127.0.0.1:9", "id", "secret-xyz", max_retries=0)
    with pytest.raises(errors.ValidationError) as ei:
        q.count("a/b")
    e = ei.value
    assert e.status is None and e.code == "validation_error"
    assert "secret-xyz" not in str(e)


def test_connection_error_is_mapped():
    # Nothing listens on port 9 of 127.0.0.1 (discard); connection refused.
    q = cxone_cdp.Querier(
        "http://127.0.0.1:9", "id", "secret-xyz", max_retries=1, backoff_base=0.01
    )
    with pytest.raises(errors.ConnectionError) as ei:
        q.count("aud")
    assert isinstance(ei.value, builtins.ConnectionError)
    assert "secret-xyz" not in str(ei.value)
    assert q._counters()["http_requests"] == 2


def test_constructor_checks():
    with pytest.raises(errors.ValidationError):
        cxone_cdp.Querier("ftp://x", "id", "s")
    with pytest.raises(errors.ValidationError):
        cxone_cdp.Querier("http://x", "", "s")
    with pytest.raises(errors.ValidationError):
        cxone_cdp.Querier("http://x", "id", "s", timeout=0)
    with pytest.raises(errors.ValidationError):
        cxone_cdp.Querier(123, "id", "s")
