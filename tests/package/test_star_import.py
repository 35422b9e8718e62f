"""`from cxone_cdp import *` (and `from cxone_cdp.errors import *`) leave the
builtins `TimeoutError` and `ConnectionError` alone; the client's classes of
those names are exported as `CxoneTimeoutError` / `CxoneConnectionError`."""

from __future__ import annotations

import builtins

import cxone_cdp
import pytest
from cxone_cdp import errors


@pytest.mark.parametrize("module", ["cxone_cdp", "cxone_cdp.errors"])
def test_star_import_does_not_shadow_builtins(module: str) -> None:
    namespace: dict[str, object] = {}
    exec(f"from {module} import *", namespace)
    assert "ConnectionError" not in namespace and "TimeoutError" not in namespace
    # The names still resolve, in that namespace, to the builtins.
    assert eval("ConnectionError", namespace) is builtins.ConnectionError
    assert eval("TimeoutError", namespace) is builtins.TimeoutError
    # The client's classes come in under their non-shadowing names.
    assert namespace["CxoneConnectionError"] is errors.ConnectionError
    assert namespace["CxoneTimeoutError"] is errors.TimeoutError
    assert namespace["NotFoundError"] is errors.NotFoundError


def test_the_aliases_are_the_same_classes() -> None:
    assert cxone_cdp.CxoneTimeoutError is errors.TimeoutError is errors.CxoneTimeoutError
    assert cxone_cdp.CxoneConnectionError is errors.ConnectionError
    assert issubclass(cxone_cdp.CxoneTimeoutError, builtins.TimeoutError)
    assert issubclass(cxone_cdp.CxoneConnectionError, builtins.ConnectionError)
    # Old code reading the attributes keeps working; they are not exported.
    assert cxone_cdp.TimeoutError is errors.TimeoutError
    assert cxone_cdp.ConnectionError is errors.ConnectionError
    for shadowing in ("TimeoutError", "ConnectionError"):
        assert shadowing not in cxone_cdp.__all__
        assert shadowing not in errors.__all__


def test_every_exported_name_exists() -> None:
    for name in cxone_cdp.__all__:
        assert hasattr(cxone_cdp, name), name
    assert set(errors.__all__) <= set(cxone_cdp.__all__)
