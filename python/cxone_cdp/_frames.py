"""DataFrame conveniences for the Arrow output (optional extras).

`members_arrow()` returns a table and `iter_batches()` yields record batches
that speak the Arrow PyCapsule interface (`__arrow_c_stream__` /
`__arrow_c_array__`), so any Arrow-aware library reads them without a copy.
These helpers only import pandas, pyarrow or polars when called.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterable
from typing import Any, Protocol, runtime_checkable

__all__ = ["ArrowArrayExportable", "ArrowStreamExportable", "to_pandas", "to_polars", "to_pyarrow"]


@runtime_checkable
class ArrowArrayExportable(Protocol):
    """A record batch exported through `__arrow_c_array__` (e.g. one page)."""

    def __arrow_c_schema__(self) -> object: ...

    def __arrow_c_array__(
        self, requested_schema: object | None = None
    ) -> tuple[object, object]: ...


@runtime_checkable
class ArrowStreamExportable(Protocol):
    """A table or stream exported through `__arrow_c_stream__`."""

    def __arrow_c_schema__(self) -> object: ...

    def __arrow_c_stream__(self, requested_schema: object | None = None) -> object: ...


TableLike = ArrowStreamExportable | ArrowArrayExportable | Iterable[ArrowArrayExportable]


def _require(module: str, extra: str) -> Any:
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise ImportError(
            f"this needs the optional dependency {module!r}: "
            f"install it with `pip install cxone-cdp[{extra}]`"
        ) from exc


_EXTRAS = {
    "to_pandas": (("pyarrow", "pandas"), ("pandas", "pandas")),
    "to_polars": (("polars", "polars"),),
    "to_pyarrow": (("pyarrow", "arrow"),),
    "dlt": (("dlt", "dlt"), ("pyarrow", "dlt")),
}


def _check_extra(func: str) -> None:
    """Raises the clear ImportError of `func` before any request is sent."""
    for module, extra in _EXTRAS[func]:
        _require(module, extra)


def _pyarrow_table(pa: Any, data: Any) -> Any:
    if hasattr(data, "__arrow_c_stream__"):
        return pa.table(data)
    if hasattr(data, "__arrow_c_array__"):
        return pa.Table.from_batches([pa.record_batch(data)])
    if isinstance(data, Iterable):
        batches = [pa.record_batch(b) for b in data]
        if not batches:
            raise ValueError("no record batches to convert (an empty iterable has no schema)")
        return pa.Table.from_batches(batches)
    raise TypeError(
        f"expected an Arrow table, record batch or iterable of batches, got {type(data).__name__}"
    )


def to_pyarrow(data: TableLike) -> Any:
    """A `pyarrow.Table` of an Arrow table, record batch or iterable of batches (no copy)."""
    return _pyarrow_table(_require("pyarrow", "arrow"), data)


def to_pandas(data: TableLike, **kwargs: Any) -> Any:
    """A `pandas.DataFrame` of an Arrow table, record batch or iterable of batches.

    Keyword arguments go to `pyarrow.Table.to_pandas` (e.g. `types_mapper=pd.ArrowDtype`).
    """
    pa = _require("pyarrow", "pandas")
    _require("pandas", "pandas")
    return _pyarrow_table(pa, data).to_pandas(**kwargs)


def to_polars(data: TableLike) -> Any:
    """A `polars.DataFrame` of an Arrow table, record batch or iterable of batches (no copy)."""
    pl = _require("polars", "polars")
    if hasattr(data, "__arrow_c_stream__") or hasattr(data, "__arrow_c_array__"):
        return pl.DataFrame(data)
    if isinstance(data, Iterable):
        frames = [pl.DataFrame(b) for b in data]
        if not frames:
            raise ValueError("no record batches to convert (an empty iterable has no schema)")
        return pl.concat(frames, rechunk=False)
    raise TypeError(
        f"expected an Arrow table, record batch or iterable of batches, got {type(data).__name__}"
    )
