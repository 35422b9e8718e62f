"""What the command line prints and creates: user values quoted for a
message, messages as one bounded line, and the files it will write checked
before any request."""

from __future__ import annotations

import logging
import os

from cxone_cdp.cli.exits import UsageError

#: Progress and log lines (stderr).
log = logging.getLogger("cxone_cdp.cli")

#: Longest excerpt of a user's value quoted in a message.
SHOW_MAX = 60
#: Longest error line printed (a server message or a path can be long).
LINE_MAX = 600


def show(value: str, limit: int = SHOW_MAX) -> str:
    """A value quoted for a message: repr (control characters and lone
    surrogates escaped), cut to `limit` characters."""
    if len(value) > limit:
        return repr(value[:limit]) + f"... ({len(value):,} characters)"
    return repr(value)


def one_line(message: str) -> str:
    """A message as one printable line of bounded length."""
    text = " ".join(message.splitlines())
    text = text.encode("utf-8", "backslashreplace").decode("utf-8")
    text = "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)
    if len(text) > LINE_MAX:
        text = text[:LINE_MAX] + f"... ({len(text):,} characters)"
    return text


def check_output(path: str, flag: str) -> None:
    """A file we will create (as PATH and PATH.part beside it): refused
    before any request when it cannot be."""
    shown = f"{flag} {show(path)}"
    if os.path.isdir(path):
        raise UsageError(f"{shown} is a directory")
    parent = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(parent):
        raise UsageError(f"{shown}: no such directory {show(parent)}")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise UsageError(f"{shown}: directory {show(parent)} is not writable")
    try:
        name_max = os.pathconf(parent, "PC_NAME_MAX")
    except (OSError, ValueError):
        name_max = 255
    if len(os.fsencode(os.path.basename(path) + ".part")) > name_max:
        raise UsageError(f"{shown}: file name too long (at most {name_max - 5} bytes)")


#: Export formats by file extension (for `export` and `diff`).
EXTENSIONS = {
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".json": "jsonl",
    ".csv": "csv",
    ".parquet": "parquet",
    ".pq": "parquet",
}


def format_of(path: str) -> str | None:
    """The export format PATH's extension names, if any."""
    return EXTENSIONS.get(os.path.splitext(path)[1].lower())
