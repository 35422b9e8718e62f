"""Every public module, class, method, property and function has a
docstring (what `help()` and a notebook's `?` show), and the native
methods carry a usable signature."""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Iterator
from typing import Any

import cxone_cdp
import pytest
from cxone_cdp import _native

MODULES = [
    "cxone_cdp",
    "cxone_cdp.errors",
    "cxone_cdp.testing",
    "cxone_cdp.compat",
    "cxone_cdp.pytest_plugin",
    "cxone_cdp._frames",
    "cxone_cdp._metrics",
    "cxone_cdp._native",
    "cxone_cdp.cli",
]


def _public_members(cls: type) -> Iterator[tuple[str, Any]]:
    """The public attributes `cls` defines itself, other than overrides of a
    base class's (e.g. `dict.items`, documented there)."""
    inherited = {n for base in cls.__mro__[1:] for n in dir(base)}
    for name, value in vars(cls).items():
        if name.startswith("_") or name in inherited:
            continue
        if isinstance(value, (int, str, float, tuple, frozenset)):
            continue  # class constants
        yield name, value


def _doc(obj: Any) -> str:
    return (getattr(obj, "__doc__", None) or "").strip()


def _api_classes() -> list[type]:
    from cxone_cdp import compat, errors, testing

    classes: list[type] = []
    for name in cxone_cdp.__all__:
        obj = getattr(cxone_cdp, name)
        if isinstance(obj, type):
            classes.append(obj)
    classes += [getattr(errors, n) for n in errors.__all__]
    classes += [testing.Simulator, _native.Simulator]
    classes += [
        getattr(compat, n)
        for n in dir(compat)
        if isinstance(getattr(compat, n), type)
        and getattr(compat, n).__module__ == compat.__name__
        and not n.startswith("_")
    ]
    return list(dict.fromkeys(classes))


@pytest.mark.parametrize("module", MODULES)
def test_module_docstring(module: str) -> None:
    assert _doc(importlib.import_module(module)), f"{module} has no docstring"


def test_every_public_class_method_and_property_is_documented() -> None:
    missing: list[str] = []
    classes = _api_classes()
    assert len(classes) > 20  # the walk found the API (guards against an empty walk)
    for cls in classes:
        if not _doc(cls) or _doc(cls) == _doc(type(cls)):
            missing.append(cls.__qualname__)
        for name, value in _public_members(cls):
            target = value.fget if isinstance(value, property) else value
            if isinstance(value, (staticmethod, classmethod)):
                target = value.__func__
            if not _doc(target):
                missing.append(f"{cls.__qualname__}.{name}")
    assert not missing, f"missing docstrings: {missing}"


def test_public_functions_are_documented() -> None:
    from cxone_cdp import _frames

    funcs = [
        getattr(_native, n)
        for n in dir(_native)
        if not n.startswith("_")
        and callable(getattr(_native, n))
        and not isinstance(getattr(_native, n), type)
    ]
    funcs += [getattr(_frames, n) for n in ("to_pandas", "to_polars", "to_pyarrow")]
    assert funcs
    missing = [f.__name__ for f in funcs if not _doc(f)]
    assert not missing, missing


@pytest.mark.parametrize(
    "name",
    [n for n, v in vars(_native.Querier).items() if not n.startswith("_") and callable(v)],
)
def test_querier_methods_have_signatures(name: str) -> None:
    """help() shows the parameters (pyo3's text_signature), not `(...)`."""
    sig = inspect.signature(getattr(_native.Querier, name))
    assert "/" not in str(sig).split("(", 1)[1][:2]  # not an opaque positional-only stub
    assert str(sig) != "(*args, **kwargs)"


def test_querier_constructor_signature_and_help() -> None:
    sig = inspect.signature(cxone_cdp.Querier)
    assert list(sig.parameters)[:3] == ["base_url", "client_id", "client_secret"]
    assert sig.parameters["cache_size"].kind is inspect.Parameter.KEYWORD_ONLY
    text = pydoc_text(cxone_cdp.Querier)
    for needle in ("members(self, /, audience_id, filters=None", "iter_members", "metrics"):
        assert needle in text


def test_members_signature_lists_keywords() -> None:
    sig = inspect.signature(cxone_cdp.Querier.members)
    assert list(sig.parameters) == ["self", "audience_id", "filters", "limit", "query_id"]
    assert sig.parameters["query_id"].kind is inspect.Parameter.KEYWORD_ONLY


def pydoc_text(obj: Any) -> str:
    import pydoc

    return pydoc.render_doc(obj, renderer=pydoc.plaintext)
