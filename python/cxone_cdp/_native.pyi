"""Type stubs for the native module `cxone_cdp._native`."""

__version__: str
