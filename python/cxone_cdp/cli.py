"""The `cxone-cdp` command line."""

from __future__ import annotations

import argparse
import csv
import datetime
import itertools
import json
import logging
import math
import os
import re
import sys
import time
import traceback
from typing import Any

#: Progress and log lines (stderr).
log = logging.getLogger("cxone_cdp.cli")

# --------------------------------------------------------------------- simulate

# ------------------------------------------------------------ argument types
# argparse calls these on the flag's text; an ArgumentTypeError becomes a
# one-line usage error (exit 2) naming the flag, before anything else runs.

#: Upper bound of any duration flag (a year, in seconds).
_MAX_SECONDS = 365 * 24 * 3600.0


def _int_in(lo: int, hi: int) -> Any:
    def parse(text: str) -> int:
        try:
            n = int(text.strip(), 10)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a whole number: {_show(text)}") from None
        if not lo <= n <= hi:
            raise argparse.ArgumentTypeError(f"must be between {lo} and {hi}, got {n}")
        return n

    parse.__name__ = "whole number"
    return parse


def _seconds(*, positive: bool) -> Any:
    def parse(text: str) -> float:
        try:
            x = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a number of seconds: {_show(text)}") from None
        if not (math.isfinite(x) and (x > 0 if positive else x >= 0) and x <= _MAX_SECONDS):
            lo = "above 0" if positive else "at least 0"
            raise argparse.ArgumentTypeError(
                f"must be a finite number of seconds, {lo} and at most "
                f"{_MAX_SECONDS:.0f}, got {_show(text)}"
            )
        return x

    parse.__name__ = "seconds"
    return parse


#: Members of a simulated audience (the simulator holds at most 2**32 - 1).
_members_arg = _int_in(0, 2**32 - 1)

#: (flag, SimConfig field, type, help) for every fault switch.
_FAULT_FLAGS: list[tuple[str, Any, str]] = [
    (
        "token_lifetime",
        _seconds(positive=True),
        "expires_in of issued tokens, seconds (default 3600)",
    ),
    ("revoke_after", _seconds(positive=False), "tokens answer 401 this many seconds after issue"),
    ("token_delay", _seconds(positive=False), "seconds the token endpoint waits before answering"),
    ("rate_limit_every", _int_in(1, 2**63 - 1), "429 with Retry-After every N-th API call"),
    ("retry_after_secs", _int_in(0, 86_400), "Retry-After seconds of those 429s (default 1)"),
    ("unavailable_every", _int_in(1, 2**63 - 1), "503 every N-th API call"),
    ("latency", _seconds(positive=False), "seconds added to every API call"),
    (
        "empty_page_every",
        _int_in(1, 2**63 - 1),
        "every N-th members page is empty but carries a new cursor",
    ),
    (
        "drop_every",
        _int_in(1, 2**63 - 1),
        "drop the connection without a response every N-th API call",
    ),
    (
        "repeat_cursor_after",
        _int_in(1, 2**63 - 1),
        "after N pages, hand back an already-followed cursor",
    ),
    ("html_502_every", _int_in(1, 2**63 - 1), "502 with an HTML body every N-th API call"),
    (
        "truncated_every",
        _int_in(1, 2**63 - 1),
        "200 with a truncated JSON body every N-th members call",
    ),
]


def _add_simulate(sub: Any) -> None:
    p = sub.add_parser(
        "simulate",
        help="run the embedded CDP simulator in the foreground until Ctrl-C",
        description="Serve the CDP API contract on 127.0.0.1 from the embedded simulator.",
    )
    p.add_argument(
        "--port", type=_int_in(0, 65535), default=8080, help="port on 127.0.0.1 (0 = any free port)"
    )
    p.add_argument(
        "--members", type=_members_arg, default=10_000, help="members of the main audience"
    )
    p.add_argument("--client-id", type=_credential("--client-id"), default="sim-client")
    p.add_argument("--client-secret", type=_credential("--client-secret"), default="sim-secret")
    p.add_argument(
        "--tls",
        action="store_true",
        help="serve HTTPS under a throwaway CA (its PEM file is printed; removed on exit)",
    )
    faults = p.add_argument_group("fault switches")
    for name, typ, help_text in _FAULT_FLAGS:
        faults.add_argument("--" + name.replace("_", "-"), dest=name, type=typ, help=help_text)
    faults.add_argument(
        "--short-pages",
        action="store_true",
        help="members pages shorter than the limit while a cursor is set",
    )
    p.set_defaults(func=cmd_simulate)


def _fault_kwargs(args: argparse.Namespace) -> dict[str, Any]:
    kw: dict[str, Any] = {
        name: getattr(args, name)
        for name, _, _ in _FAULT_FLAGS
        if getattr(args, name, None) is not None
    }
    if getattr(args, "short_pages", False):
        kw["short_pages"] = True
    return kw


def cmd_simulate(args: argparse.Namespace) -> int:
    from cxone_cdp.testing import AUDIENCE_ID, EMPTY_AUDIENCE_ID, Simulator

    faults = _fault_kwargs(args)
    sim = Simulator(
        members=args.members,
        port=args.port,
        client_id=args.client_id,
        client_secret=args.client_secret,
        tls=args.tls,
        **faults,
    )
    try:
        sim.start()
    except (RuntimeError, ValueError, TypeError, OverflowError) as e:
        raise UsageError(str(e)) from None
    with sim:
        # Ctrl-C is the way to stop, even while the banner is still printing.
        try:
            print(f"CDP simulator serving {args.members:,} members at {sim.base_url}")
            print(f"  token URL      {sim.token_url}")
            print(f"  client id      {sim.client_id}")
            if sim.ca_path is not None:
                print(f"  CA (PEM)       {sim.ca_path}")
            print(f"  audience       {AUDIENCE_ID}")
            print(f"  empty audience {EMPTY_AUDIENCE_ID}")
            print(f"  callbacks      {sim.callback_url}   stats: {sim.base_url}/_sim/stats")
            if faults:
                print("  faults         " + ", ".join(f"{k}={v}" for k, v in faults.items()))
            print("Ctrl-C to stop.", flush=True)
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            print("\nstopping", file=sys.stderr)
    return 0


# -------------------------------------------------------------- shared helpers

#: Exit codes (documented in docs/cli.md).
EXIT_OK = 0
EXIT_USAGE = 2  # bad arguments, bad filter, missing settings, validation errors
EXIT_AUTH = 3  # authentication or permission error
EXIT_API = 4  # any other API or network failure after retries
EXIT_INTERRUPTED = 130  # Ctrl-C

ENV_BASE_URL = "CXONE_CDP_BASE_URL"
ENV_TOKEN_URL = "CXONE_CDP_TOKEN_URL"
ENV_CLIENT_ID = "CXONE_CDP_CLIENT_ID"
ENV_CLIENT_SECRET = "CXONE_CDP_CLIENT_SECRET"
ENV_AUTH = "CXONE_CDP_AUTH"
ENV_ACCESS_KEY_ID = "CXONE_CDP_ACCESS_KEY_ID"
ENV_ACCESS_KEY_SECRET = "CXONE_CDP_ACCESS_KEY_SECRET"
ENV_ISSUER = "CXONE_CDP_ISSUER"


class UsageError(Exception):
    """A command-line mistake found before any request (exit 2)."""


#: Longest excerpt of a user's value quoted in a message.
_SHOW_MAX = 60
#: Longest error line printed (a server message or a path can be long).
_LINE_MAX = 600


def _show(value: str, limit: int = _SHOW_MAX) -> str:
    """A value quoted for a message: repr (control characters and lone
    surrogates escaped), cut to `limit` characters."""
    if len(value) > limit:
        return repr(value[:limit]) + f"... ({len(value):,} characters)"
    return repr(value)


def _one_line(message: str) -> str:
    """A message as one printable line of bounded length."""
    text = " ".join(message.splitlines())
    text = text.encode("utf-8", "backslashreplace").decode("utf-8")
    text = "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)
    if len(text) > _LINE_MAX:
        text = text[:_LINE_MAX] + f"... ({len(text):,} characters)"
    return text


def _credential(flag: str) -> Any:
    """argparse type of a client id / key id: not blank, no control characters."""

    def parse(text: str) -> str:
        if not text.strip():
            raise argparse.ArgumentTypeError("is empty")
        if any(not c.isprintable() for c in text) or not _utf8(text):
            raise argparse.ArgumentTypeError(
                f"{_show(text)} holds control characters or undecodable bytes"
            )
        return text

    parse.__name__ = flag
    return parse


def _text(what: str) -> Any:
    """argparse type of a URL or other text flag: not blank, valid UTF-8,
    no control characters."""

    def parse(text: str) -> str:
        if not text.strip():
            raise argparse.ArgumentTypeError("is empty")
        if not _utf8(text) or any(not c.isprintable() for c in text):
            raise argparse.ArgumentTypeError(
                f"{_show(text)} holds control characters or undecodable bytes"
            )
        return text

    parse.__name__ = what
    return parse


def _path(what: str) -> Any:
    """argparse type of a file path: not empty, no NUL (undecodable bytes are
    fine: they are the file name's own bytes)."""

    def parse(text: str) -> str:
        if not text:
            raise argparse.ArgumentTypeError("is empty")
        if "\x00" in text:
            raise argparse.ArgumentTypeError(f"{_show(text)} holds a NUL character")
        return text

    parse.__name__ = what
    return parse


def _utf8(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:  # lone surrogates: undecodable bytes in argv
        return False
    return True


class _Parser(argparse.ArgumentParser):
    """argparse with one-line errors: `cxone-cdp count: error: ...`, exit 2."""

    def error(self, message: str) -> Any:
        self.exit(
            EXIT_USAGE,
            f"{self.prog}: error: {_one_line(message)} (see {self.prog} --help)\n",
        )


def _common_parent() -> argparse.ArgumentParser:
    p = _Parser(add_help=False)
    p.add_argument("--debug", action="store_true", help="debug logging and tracebacks on errors")
    return p


def _connection_parent() -> argparse.ArgumentParser:
    p = _Parser(add_help=False)
    g = p.add_argument_group(
        "connection",
        f"Flags override the environment ({ENV_BASE_URL}, {ENV_TOKEN_URL}, {ENV_CLIENT_ID}). "
        f"The client secret is read only from {ENV_CLIENT_SECRET} or --client-secret-file.",
    )
    g.add_argument("--base-url", type=_text("URL"), help=f"API root URL (env {ENV_BASE_URL})")
    g.add_argument("--token-url", type=_text("URL"), help=f"OAuth token URL (env {ENV_TOKEN_URL})")
    g.add_argument(
        "--client-id",
        type=_credential("--client-id"),
        help=f"OAuth client id (env {ENV_CLIENT_ID})",
    )
    g.add_argument(
        "--client-secret-file",
        metavar="FILE",
        type=_path("FILE"),
        help=f"file holding the client secret (else env {ENV_CLIENT_SECRET})",
    )
    g.add_argument(
        "--max-retries",
        type=_int_in(0, 100),
        default=3,
        help="retries per request (0..100, default 3)",
    )
    g.add_argument(
        "--timeout",
        type=_seconds(positive=True),
        default=60.0,
        help="seconds per request (default 60)",
    )
    g.add_argument(
        "--auth",
        choices=["client_credentials", "access_key"],
        help=f"token grant (env {ENV_AUTH}; default client_credentials, the tutorial's contract; "
        "access_key is the CXone password grant, see docs/real-cxone.md)",
    )
    g.add_argument(
        "--access-key-id",
        type=_credential("--access-key-id"),
        help=f"CXone access key id (env {ENV_ACCESS_KEY_ID})",
    )
    g.add_argument(
        "--access-key-secret-file",
        metavar="FILE",
        type=_path("FILE"),
        help=f"file holding the access key secret (else env {ENV_ACCESS_KEY_SECRET})",
    )
    g.add_argument(
        "--issuer", type=_text("URL"), help=f"OAuth issuer for discovery (env {ENV_ISSUER})"
    )
    g.add_argument(
        "--discover",
        action="store_true",
        help="resolve the token endpoint and API base URL from the issuer's .well-known "
        "documents (default issuer https://cxone.niceincontact.com); --base-url and "
        "--token-url still win",
    )
    return p


def _filter_flag(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--filter",
        dest="filters",
        metavar="EXPR",
        action="append",
        default=[],
        help="ATTRIBUTE<op>VALUE with op one of = != > < ~, e.g. 'city=Rock & Roll' "
        "(repeatable; all must match)",
    )


def _env(name: str) -> str | None:
    v = os.environ.get(name)
    return v if v and v.strip() else None


def _querier(args: argparse.Namespace) -> Any:
    """A Querier from flags and environment; a UsageError (no request) when
    something is missing. The secret never appears in any message."""
    from cxone_cdp import Querier

    base_url = args.base_url or _env(ENV_BASE_URL)
    token_url = args.token_url or _env(ENV_TOKEN_URL)
    client_id = args.client_id or _env(ENV_CLIENT_ID)
    secret = _secret(args.client_secret_file, "--client-secret-file", ENV_CLIENT_SECRET)
    auth = getattr(args, "auth", None) or _env(ENV_AUTH) or "client_credentials"
    issuer = getattr(args, "issuer", None) or _env(ENV_ISSUER)
    discover = bool(getattr(args, "discover", False))
    key_id = key_secret = None
    if auth == "access_key":
        key_id = getattr(args, "access_key_id", None) or _env(ENV_ACCESS_KEY_ID)
        key_secret = _secret(
            getattr(args, "access_key_secret_file", None),
            "--access-key-secret-file",
            ENV_ACCESS_KEY_SECRET,
        )
    elif auth != "client_credentials":
        raise UsageError(f"{ENV_AUTH} must be client_credentials or access_key, not {auth!r}")
    required = [
        (f"--client-id or {ENV_CLIENT_ID}", client_id),
        (f"{ENV_CLIENT_SECRET} or --client-secret-file", secret),
    ]
    if not (discover or issuer):
        required.insert(0, (f"--base-url or {ENV_BASE_URL}", base_url))
    if auth == "access_key":
        required += [
            (f"--access-key-id or {ENV_ACCESS_KEY_ID}", key_id),
            (f"{ENV_ACCESS_KEY_SECRET} or --access-key-secret-file", key_secret),
        ]
    missing = [what for what, value in required if value is None]
    if missing:
        raise UsageError("missing connection settings: " + "; ".join(missing))
    options: dict[str, Any] = {
        "auth": auth,
        "access_key_id": key_id,
        "access_key_secret": key_secret,
        "base_url": base_url,
        "token_url": token_url,
        "max_retries": args.max_retries,
        "timeout": args.timeout,
    }
    if discover:
        return Querier.discover(issuer, client_id=client_id, client_secret=secret, **options)
    base = options.pop("base_url")
    return Querier(base, client_id, secret, issuer=issuer, **options)


def _secret(path: str | None, flag: str, env: str) -> str | None:
    """A secret from a file's first line (flag) or else the environment.
    Never quoted in a message: only where it came from and what is wrong."""
    if not path:
        value = _env(env)
        where = env
        if value is not None:
            value = value.strip()
    else:
        where = f"{flag} {_show(path)}"
        try:
            with open(path, encoding="utf-8") as f:
                value = f.readline().strip() or None
        except OSError as e:
            raise UsageError(f"cannot read {where}: {e.strerror or type(e).__name__}") from None
        except UnicodeDecodeError:
            raise UsageError(f"{where} is not UTF-8 text") from None
        except ValueError:  # a NUL in the path
            raise UsageError(f"cannot read {where}: invalid path") from None
        if value is None:
            raise UsageError(f"{where} is empty")
    if value is not None and (not _utf8(value) or any(not c.isprintable() for c in value)):
        raise UsageError(f"the secret from {where} holds control characters or undecodable bytes")
    return value


def _parse_filters(exprs: list[str], audience: str | None = None, limit: int | None = None) -> None:
    """Every check of the query that needs no request: each expression parsed
    (the first malformed one is a ValidationError naming it), then the
    audience id, the filter count and complexity, the value texts and the
    limit, as the Querier checks them. Only what depends on an attribute's
    type (its value typed against the schema) is left for after the one
    schema request."""
    from cxone_cdp import Querier
    from cxone_cdp._native import parse_filter_expr

    parsed = [parse_filter_expr(e) for e in exprs]
    Querier._check_local("-" if audience is None else audience, parsed, limit)


def _check_output(path: str, flag: str) -> None:
    """A file we will create (as PATH and PATH.part beside it): refused
    before any request when it cannot be."""
    shown = f"{flag} {_show(path)}"
    if os.path.isdir(path):
        raise UsageError(f"{shown} is a directory")
    parent = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(parent):
        raise UsageError(f"{shown}: no such directory {_show(parent)}")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise UsageError(f"{shown}: directory {_show(parent)} is not writable")
    try:
        name_max = os.pathconf(parent, "PC_NAME_MAX")
    except (OSError, ValueError):
        name_max = 255
    if len(os.fsencode(os.path.basename(path) + ".part")) > name_max:
        raise UsageError(f"{shown}: file name too long (at most {name_max - 5} bytes)")


def _check_resume(args: argparse.Namespace, fmt: str) -> None:
    """With --resume and an existing checkpoint: it must be a checkpoint of
    this query. The audience, limit, format and number of filters are
    compared here, before any request; the filters themselves (rendered per
    the schema) by the export once the schema is read."""
    path = args.checkpoint
    shown = f"--checkpoint {_show(path)}"
    try:
        with open(path, "rb") as f:
            raw = f.read(16 * 1024 * 1024)
    except FileNotFoundError:
        return  # --resume without a checkpoint starts afresh
    except OSError as e:
        raise UsageError(f"cannot read {shown}: {e.strerror or type(e).__name__}") from None
    try:
        ck = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        ck = None
    fp = ck.get("fingerprint") if isinstance(ck, dict) else None
    if not (isinstance(fp, dict) and isinstance(fp.get("filters"), list)):
        raise UsageError(f"{shown} is not a cxone-cdp checkpoint file")
    want = (args.audience, len(args.filters), args.limit, fmt)
    got = (fp.get("audience_id"), len(fp["filters"]), fp.get("limit"), fp.get("format"))
    if got != want:
        raise UsageError(
            f"cannot resume: the checkpoint {_show(path)} is for a different query "
            f"(audience {fp.get('audience_id')!r}, {len(fp['filters'])} filter(s), "
            f"limit {fp.get('limit')!r}, format {fp.get('format')!r}); run with the same "
            "audience, filters, limit and format, or without --resume to start over"
        )


def _typed_filters(q: Any, exprs: list[str]) -> list[tuple[str, str, Any]]:
    from cxone_cdp._native import typed_filters

    return list(typed_filters(q, exprs))


# ------------------------------------------------------------ attributes/count


def _add_attributes(sub: Any, parents: list[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("attributes", parents=parents, help="list the CDP attribute schema")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=cmd_attributes)


def cmd_attributes(args: argparse.Namespace) -> int:
    attrs = _querier(args).attributes()
    if args.json:
        print(json.dumps(attrs))
    else:
        width = max((len(n) for n in attrs), default=0)
        for name, ty in attrs.items():
            print(f"{name:<{width}}  {ty}")
    return EXIT_OK


def _add_count(sub: Any, parents: list[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("count", parents=parents, help="count the members matching filters")
    p.add_argument("audience", metavar="AUDIENCE", help="audience (segment) id")
    _filter_flag(p)
    p.set_defaults(func=cmd_count)


def cmd_count(args: argparse.Namespace) -> int:
    _parse_filters(args.filters, args.audience)
    q = _querier(args)
    print(q.count(args.audience, _typed_filters(q, args.filters)))
    return EXIT_OK


def _add_validate(sub: Any, parents: list[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "validate",
        parents=parents,
        help="check a query against the schema and limits and estimate its size",
    )
    p.add_argument("audience", metavar="AUDIENCE", help="audience (segment) id")
    _filter_flag(p)
    p.add_argument("--limit", type=_int_in(1, 1000), default=1000, help="page size (1..1000)")
    p.set_defaults(func=cmd_validate)


def cmd_validate(args: argparse.Namespace) -> int:
    _parse_filters(args.filters, args.audience, args.limit)
    q = _querier(args)
    result = q.validate(args.audience, _typed_filters(q, args.filters), args.limit)
    print(json.dumps(result))
    return EXIT_OK


# ---------------------------------------------------------------------- export


class _Progress:
    """Progress on stderr: a redrawn bar on a terminal, a log line every
    `log_every` seconds otherwise, nothing when quiet."""

    def __init__(
        self, *, tty: bool, quiet: bool, total: int | None, log_every: float = 10.0
    ) -> None:
        self.tty = tty
        self.quiet = quiet
        self.total = total
        self.log_every = log_every
        self.last = 0.0
        self.drawn = False

    def __call__(
        self, members: int, pages: int, elapsed: float, run_members: int, run_pages: int
    ) -> None:
        if self.quiet:
            return
        now = time.monotonic()
        final = self.total is not None and members >= self.total
        interval = 0.1 if self.tty else self.log_every
        if now - self.last < interval and not final:
            return
        self.last = now
        pages_s = run_pages / elapsed if elapsed > 0 else 0.0
        members_s = run_members / elapsed if elapsed > 0 else 0.0
        eta = ""
        if self.total and members_s > 0:
            left = max(self.total - members, 0) / members_s
            eta = f"  ETA {int(left // 60)}:{int(left % 60):02d}"
        if self.tty:
            if self.total:
                frac = min(members / self.total, 1.0) if self.total else 1.0
                bar = "#" * int(frac * 30)
                head = f"[{bar:<30}] {members:,}/{self.total:,} members"
            else:
                head = f"{members:,} members"
            line = f"\r{head}  {pages:,} pages  {pages_s:.1f} pages/s{eta}\x1b[K"
            sys.stderr.write(line)
            sys.stderr.flush()
            self.drawn = True
        else:
            log.info(
                "export: %s members, %s pages, %.1f pages/s%s",
                f"{members:,}",
                f"{pages:,}",
                pages_s,
                eta,
            )

    def close(self) -> None:
        if self.drawn:
            sys.stderr.write("\n")
            sys.stderr.flush()
            self.drawn = False


def _add_export(sub: Any, parents: list[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "export",
        parents=parents,
        help="write every member to a JSONL, CSV or Parquet file",
        description="Write every member of AUDIENCE (matching the filters) to PATH. "
        "The file appears only when complete (it is written as PATH.part and renamed).",
    )
    p.add_argument("audience", metavar="AUDIENCE", help="audience (segment) id")
    _filter_flag(p)
    p.add_argument(
        "--limit", type=_int_in(1, 1000), default=1000, help="page size (1..1000, default 1000)"
    )
    p.add_argument(
        "--format",
        choices=["jsonl", "csv", "parquet"],
        help="output format (default: from PATH's extension)",
    )
    p.add_argument(
        "-o", "--output", metavar="PATH", type=_path("PATH"), required=True, help="output file"
    )
    p.add_argument(
        "--checkpoint",
        metavar="FILE",
        type=_path("FILE"),
        help="record progress here after every page (for --resume)",
    )
    p.add_argument(
        "--resume",
        action="store_true",
        help="continue the export recorded in --checkpoint (starts fresh if there is none)",
    )
    p.add_argument("--quiet", "-q", action="store_true", help="no progress and no summary")
    p.set_defaults(func=cmd_export)


_EXTENSIONS = {
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".json": "jsonl",
    ".csv": "csv",
    ".parquet": "parquet",
    ".pq": "parquet",
}


def cmd_export(args: argparse.Namespace) -> int:
    from cxone_cdp._native import export_members

    fmt = args.format or _EXTENSIONS.get(os.path.splitext(args.output)[1].lower())
    if fmt is None:
        raise UsageError(f"--format is required (jsonl, csv or parquet) for {_show(args.output)}")
    if args.resume and not args.checkpoint:
        raise UsageError("--resume needs --checkpoint FILE")
    _parse_filters(args.filters, args.audience, args.limit)
    _check_output(args.output, "-o")
    if args.checkpoint:
        _check_output(args.checkpoint, "--checkpoint")
        same = {os.path.abspath(args.output), os.path.abspath(args.output) + ".part"}
        if os.path.abspath(args.checkpoint) in same:
            raise UsageError("--checkpoint must be another file than -o PATH (and PATH.part)")
        if args.resume:
            _check_resume(args, fmt)
    q = _querier(args)
    filters = _typed_filters(q, args.filters)
    tty = sys.stderr.isatty()
    total = None
    if tty and not args.quiet:
        total = q.count(args.audience, filters)
    progress = _Progress(tty=tty, quiet=args.quiet, total=total)
    try:
        summary = export_members(
            q,
            args.audience,
            filters,
            args.limit,
            format=fmt,
            path=args.output,
            checkpoint=args.checkpoint,
            resume=args.resume,
            progress=progress,
        )
    finally:
        progress.close()
    if not args.quiet:
        resumed = summary["resumed_members"]
        print(
            f"exported {summary['members']:,} members to {summary['path']} "
            f"({summary['pages']:,} pages, {summary['bytes']:,} bytes, "
            f"{summary['elapsed']:.2f} s"
            + (f"; resumed after {resumed:,}" if resumed else "")
            + ")"
        )
    return EXIT_OK


# ------------------------------------------------------------------------ diff


def _add_diff(sub: Any, parents: list[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "diff",
        parents=parents,
        help="compare two exports by memberId (joined, left, changed)",
        description="Compare two exports (JSONL, CSV or Parquet, any mix) by memberId. "
        "Counts go to stdout; with -o, one JSON line per differing member.",
    )
    p.add_argument("old", metavar="OLD", type=_path("OLD"))
    p.add_argument("new", metavar="NEW", type=_path("NEW"))
    p.add_argument(
        "-o",
        "--output",
        metavar="PATH",
        type=_path("PATH"),
        help="write details as JSON lines here",
    )
    p.set_defaults(func=cmd_diff)


def _detect_format(path: str) -> str:
    ext = _EXTENSIONS.get(os.path.splitext(path)[1].lower())
    if ext:
        return ext
    try:
        with open(path, "rb") as f:
            head = f.read(4096)
    except OSError as e:
        raise UsageError(f"cannot read {_show(path)}: {e.strerror}") from None
    if head.startswith(b"PAR1"):
        return "parquet"
    if head.lstrip().startswith(b"{"):
        return "jsonl"
    return "csv"


def _flatten(member: dict[str, Any]) -> dict[str, Any]:
    out = {k: v for k, v in member.items() if k != "attributes"}
    attrs = member.get("attributes")
    if isinstance(attrs, dict):
        out.update(attrs)
    return out


def _read_export(path: str) -> dict[str, dict[str, Any]]:
    """memberId -> flat record (memberId, joinedAt, attributes...)."""
    fmt = _detect_format(path)
    rows: list[dict[str, Any]]
    try:
        if fmt == "jsonl":
            with open(path, encoding="utf-8") as f:
                rows = []
                for i, line in enumerate(f):
                    if not line.strip():
                        continue
                    rec = json.loads(line)
                    if not isinstance(rec, dict) or not isinstance(rec.get("attributes", {}), dict):
                        raise UsageError(
                            f"{_show(path)} line {i + 1} is not a member object "
                            '({"memberId": ..., "attributes": {...}})'
                        )
                    rows.append(_flatten(rec))
        elif fmt == "csv":
            with open(path, encoding="utf-8", newline="") as f:
                rows = list(csv.DictReader(f))
        else:
            try:
                import pyarrow.parquet as pq
            except ImportError:
                raise UsageError(
                    "reading Parquet needs pyarrow: pip install 'cxone-cdp[arrow]'"
                ) from None
            rows = pq.read_table(path).to_pylist()
    except OSError as e:
        raise UsageError(f"cannot read {_show(path)}: {e.strerror or e}") from None
    except (ValueError, UnicodeDecodeError, csv.Error) as e:
        raise UsageError(f"{_show(path)} is not a readable {fmt} export: {e}") from None
    out: dict[str, dict[str, Any]] = {}
    for i, r in enumerate(rows):
        mid = r.get("memberId")
        if not isinstance(mid, str) or not mid:
            raise UsageError(f"{_show(path)}: record {i + 1} has no memberId")
        out[mid] = r
    return out


_NUMBER = re.compile(r"^-?\d+(\.\d+)?([eE][-+]?\d+)?$")


def _canon(v: Any) -> Any:
    """A value in a form comparable across the three formats (CSV holds text,
    Parquet typed values, JSONL JSON values)."""
    if v is None or v == "":
        return None
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return repr(float(v))
    if isinstance(v, datetime.datetime):
        if v.tzinfo is not None:
            v = v.astimezone(datetime.timezone.utc).replace(tzinfo=None)
        return v.isoformat()
    if isinstance(v, datetime.date):
        return v.isoformat()
    if isinstance(v, str):
        if _NUMBER.match(v):
            return repr(float(v))
        if len(v) > 10 and v[4:5] == "-" and v[10:11] in ("T", " "):
            try:
                d = datetime.datetime.fromisoformat(v.replace("Z", "+00:00"))
            except ValueError:
                return v
            return _canon(d)
        return v
    return json.dumps(v, sort_keys=True, default=str)


def _plain(v: Any) -> Any:
    if isinstance(v, (datetime.date, datetime.datetime)):
        return v.isoformat()
    return v


def diff_exports(old: str, new: str) -> tuple[dict[str, int], list[dict[str, Any]]]:
    """Counts and details of the differences between two exports."""
    a, b = _read_export(old), _read_export(new)
    details: list[dict[str, Any]] = []
    joined = left = changed = 0
    for mid in b.keys() - a.keys():
        joined += 1
        details.append({"kind": "joined", "memberId": mid})
    for mid in a.keys() - b.keys():
        left += 1
        details.append({"kind": "left", "memberId": mid})
    for mid in a.keys() & b.keys():
        ra, rb = a[mid], b[mid]
        fields = {
            k: {"old": _plain(ra.get(k)), "new": _plain(rb.get(k))}
            for k in sorted(ra.keys() | rb.keys())
            if _canon(ra.get(k)) != _canon(rb.get(k))
        }
        if fields:
            changed += 1
            details.append({"kind": "changed", "memberId": mid, "fields": fields})
    details.sort(key=lambda d: (d["kind"], d["memberId"]))
    counts = {
        "joined": joined,
        "left": left,
        "changed": changed,
        "unchanged": len(a.keys() & b.keys()) - changed,
    }
    return counts, details


def cmd_diff(args: argparse.Namespace) -> int:
    if args.output:
        _check_output(args.output, "-o")
    counts, details = diff_exports(args.old, args.new)
    for k, v in counts.items():
        print(f"{k}: {v}")
    if args.output:
        tmp = args.output + ".part"
        with open(tmp, "w", encoding="utf-8") as f:
            for d in details:
                f.write(json.dumps(d, ensure_ascii=False, default=str) + "\n")
        os.replace(tmp, args.output)
    return EXIT_OK


# ------------------------------------------------------------------------- demo


def _add_demo(sub: Any, parents: list[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "demo",
        parents=parents,
        help="query the embedded simulator and print members and metrics",
    )
    p.add_argument(
        "--members", type=_members_arg, default=10_000, help="members of the simulated audience"
    )
    _filter_flag(p)
    p.set_defaults(func=cmd_demo)


def cmd_demo(args: argparse.Namespace) -> int:
    """Start a simulator and query it with a Querier: the count, the first
    five members and the client's metrics."""
    from cxone_cdp import Querier
    from cxone_cdp.testing import AUDIENCE_ID, Simulator

    _parse_filters(args.filters, AUDIENCE_ID)
    with Simulator(members=args.members) as sim:
        q = Querier(sim.base_url, sim.client_id, sim.client_secret, token_url=sim.token_url)
        filters = _typed_filters(q, args.filters)
        count = q.count(AUDIENCE_ID, filters)
        print(
            f"audience {AUDIENCE_ID}: {count:,} members"
            + (f" matching {args.filters}" if args.filters else "")
        )
        it = q.iter_members(AUDIENCE_ID, filters, limit=5)
        try:
            for m in itertools.islice(it, 5):
                a = m["attributes"]
                print(
                    f"  {m['memberId']}  {a['city']:<12} {a['lifecycle_stage']:<9} "
                    f"value={a['lifetime_value']:<8} vip={a['is_vip']!s:<5} "
                    f"last={a['last_purchase_date']}"
                )
        finally:
            it.close()
        metrics = q.metrics() if hasattr(q, "metrics") else q._counters()
        print("client metrics:")
        for k, v in metrics.items():
            print(f"  {k}: {v}")
        stats = sim.stats()
        print(
            f"simulator: {stats['token_requests']} token request(s), "
            f"{stats['api_requests']} API request(s), by status {stats['by_status']}"
        )
    return EXIT_OK


# ------------------------------------------------------------------------- main


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="cxone-cdp", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    common = _common_parent()
    api = [common, _connection_parent()]
    _add_attributes(sub, api)
    _add_count(sub, api)
    _add_validate(sub, api)
    _add_export(sub, api)
    _add_diff(sub, [common])
    _add_demo(sub, [common])
    _add_simulate(sub)
    return parser


def _exit_code(e: BaseException) -> int:
    from cxone_cdp import errors

    if isinstance(e, (UsageError, errors.ValidationError)):
        return EXIT_USAGE
    if isinstance(e, (errors.AuthenticationError, errors.PermissionDeniedError)):
        return EXIT_AUTH
    return EXIT_API


def main(argv: list[str] | None = None) -> int:
    from cxone_cdp.errors import CxoneError

    args = build_parser().parse_args(argv)
    debug = getattr(args, "debug", False)
    logging.basicConfig(
        level=logging.DEBUG if debug else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s" if debug else "%(message)s",
        stream=sys.stderr,
    )
    if not debug:
        logging.getLogger("cxone_cdp").setLevel(logging.WARNING)
        log.setLevel(logging.INFO)
    try:
        result: int = args.func(args)
        return result
    except KeyboardInterrupt:
        msg = "interrupted"
        if getattr(args, "checkpoint", None):
            msg += f"; continue with --resume --checkpoint {args.checkpoint}"
        print(f"cxone-cdp: {msg}", file=sys.stderr)
        return EXIT_INTERRUPTED
    except (UsageError, CxoneError) as e:
        if debug:
            traceback.print_exc()
        print(f"cxone-cdp: error: {_one_line(str(e))}", file=sys.stderr)
        return _exit_code(e)
    except Exception as e:  # a bug or an unforeseen local failure: still one line
        if debug:
            traceback.print_exc()
        hint = "" if debug else " (run with --debug for the traceback)"
        print(f"cxone-cdp: error: {_one_line(f'{type(e).__name__}: {e}')}{hint}", file=sys.stderr)
        return EXIT_API
