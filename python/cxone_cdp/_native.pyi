"""Type stubs for the native module `cxone_cdp._native`."""

from cxone_cdp._frames import ArrowArrayExportable, ArrowStreamExportable

__version__: str

# --- Arrow output (issue 6) ---

def _decode_page_arrow(
    body: bytes, schema: list[tuple[str, str]]
) -> tuple[ArrowArrayExportable, str | None]:
    """Decode one members page body into (record batch, nextPageToken)."""

def _decode_pages_table(
    bodies: list[bytes], schema: list[tuple[str, str]]
) -> ArrowStreamExportable:
    """Decode members page bodies into one table (one batch per page)."""
