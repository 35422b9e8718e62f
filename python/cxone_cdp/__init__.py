"""cxone-cdp: audience membership from the NICE CXone CDP API, on a Rust core."""

from cxone_cdp import _native

__version__: str = _native.__version__

__all__ = ["__version__"]
