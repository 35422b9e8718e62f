"""Exit codes of the command line (documented in docs/cli.md) and the one
mapping from an error to its code."""

from __future__ import annotations

from cxone_cdp import errors

EXIT_OK = 0
EXIT_USAGE = 2  # bad arguments, bad filter, missing settings, validation errors
EXIT_AUTH = 3  # authentication or permission error
EXIT_API = 4  # any other API or network failure after retries
EXIT_INTERRUPTED = 130  # Ctrl-C


class UsageError(Exception):
    """A command-line mistake found before any request (exit 2)."""


def exit_code(e: BaseException) -> int:
    """The exit code for an error that ended a command."""
    if isinstance(e, (UsageError, errors.ValidationError)):
        return EXIT_USAGE
    if isinstance(e, (errors.AuthenticationError, errors.PermissionDeniedError)):
        return EXIT_AUTH
    return EXIT_API
