"""The `cxone-cdp` command line."""

from __future__ import annotations

import argparse
import csv
import datetime
import itertools
import json
import logging
import os
import re
import sys
import time
import traceback
from typing import Any

#: Progress and log lines (stderr).
log = logging.getLogger("cxone_cdp.cli")

# --------------------------------------------------------------------- simulate

#: (flag, SimConfig field, type, help) for every fault switch.
_FAULT_FLAGS: list[tuple[str, type, str]] = [
    ("token_lifetime", float, "expires_in of issued tokens, seconds (default 3600)"),
    ("revoke_after", float, "tokens answer 401 this many seconds after issue"),
    ("token_delay", float, "seconds the token endpoint waits before answering"),
    ("rate_limit_every", int, "429 with Retry-After every N-th API call"),
    ("retry_after_secs", int, "Retry-After seconds of those 429s (default 1)"),
    ("unavailable_every", int, "503 every N-th API call"),
    ("latency", float, "seconds added to every API call"),
    ("empty_page_every", int, "every N-th members page is empty but carries a new cursor"),
    ("drop_every", int, "drop the connection without a response every N-th API call"),
    ("repeat_cursor_after", int, "after N pages, hand back an already-followed cursor"),
    ("html_502_every", int, "502 with an HTML body every N-th API call"),
    ("truncated_every", int, "200 with a truncated JSON body every N-th members call"),
]


def _add_simulate(sub: Any) -> None:
    p = sub.add_parser(
        "simulate",
        help="run the embedded CDP simulator in the foreground until Ctrl-C",
        description="Serve the CDP API contract on 127.0.0.1 from the embedded simulator.",
    )
    p.add_argument("--port", type=int, default=8080, help="port on 127.0.0.1 (0 = any free port)")
    p.add_argument("--members", type=int, default=10_000, help="members of the main audience")
    p.add_argument("--client-id", default="sim-client")
    p.add_argument("--client-secret", default="sim-secret")
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
        **faults,
    )
    with sim:
        print(f"CDP simulator serving {args.members:,} members at {sim.base_url}")
        print(f"  token URL      {sim.token_url}")
        print(f"  client id      {sim.client_id}")
        print(f"  audience       {AUDIENCE_ID}")
        print(f"  empty audience {EMPTY_AUDIENCE_ID}")
        print(f"  callbacks      {sim.callback_url}   stats: {sim.base_url}/_sim/stats")
        if faults:
            print("  faults         " + ", ".join(f"{k}={v}" for k, v in faults.items()))
        print("Ctrl-C to stop.", flush=True)
        try:
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


def _common_parent() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(add_help=False)
    p.add_argument("--debug", action="store_true", help="debug logging and tracebacks on errors")
    return p


def _connection_parent() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(add_help=False)
    g = p.add_argument_group(
        "connection",
        f"Flags override the environment ({ENV_BASE_URL}, {ENV_TOKEN_URL}, {ENV_CLIENT_ID}). "
        f"The client secret is read only from {ENV_CLIENT_SECRET} or --client-secret-file.",
    )
    g.add_argument("--base-url", help=f"API root URL (env {ENV_BASE_URL})")
    g.add_argument("--token-url", help=f"OAuth token URL (env {ENV_TOKEN_URL})")
    g.add_argument("--client-id", help=f"OAuth client id (env {ENV_CLIENT_ID})")
    g.add_argument(
        "--client-secret-file",
        metavar="FILE",
        help=f"file holding the client secret (else env {ENV_CLIENT_SECRET})",
    )
    g.add_argument("--max-retries", type=int, default=3, help="retries per request (default 3)")
    g.add_argument("--timeout", type=float, default=60.0, help="seconds per request (default 60)")
    g.add_argument(
        "--auth",
        choices=["client_credentials", "access_key"],
        help=f"token grant (env {ENV_AUTH}; default client_credentials, the tutorial's contract; "
        "access_key is the CXone password grant, see docs/real-cxone.md)",
    )
    g.add_argument("--access-key-id", help=f"CXone access key id (env {ENV_ACCESS_KEY_ID})")
    g.add_argument(
        "--access-key-secret-file",
        metavar="FILE",
        help=f"file holding the access key secret (else env {ENV_ACCESS_KEY_SECRET})",
    )
    g.add_argument("--issuer", help=f"OAuth issuer for discovery (env {ENV_ISSUER})")
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
    """A secret from a file's first line (flag) or else the environment."""
    if not path:
        return _env(env)
    try:
        with open(path, encoding="utf-8") as f:
            value = f.readline().strip() or None
    except OSError as e:
        raise UsageError(f"cannot read {flag} {path}: {e.strerror}") from None
    if value is None:
        raise UsageError(f"{flag} {path} is empty")
    return value


def _parse_filters(exprs: list[str]) -> None:
    """Every expression parsed locally (no request); the first malformed one
    is a ValidationError naming it."""
    from cxone_cdp._native import parse_filter_expr

    for e in exprs:
        parse_filter_expr(e)


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
    _parse_filters(args.filters)
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
    p.add_argument("--limit", type=int, default=1000, help="page size (1..1000)")
    p.set_defaults(func=cmd_validate)


def cmd_validate(args: argparse.Namespace) -> int:
    _parse_filters(args.filters)
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
    p.add_argument("--limit", type=int, default=1000, help="page size (1..1000, default 1000)")
    p.add_argument(
        "--format",
        choices=["jsonl", "csv", "parquet"],
        help="output format (default: from PATH's extension)",
    )
    p.add_argument("-o", "--output", metavar="PATH", required=True, help="output file")
    p.add_argument(
        "--checkpoint",
        metavar="FILE",
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
        raise UsageError("--format is required (jsonl, csv or parquet) for " + args.output)
    if args.resume and not args.checkpoint:
        raise UsageError("--resume needs --checkpoint FILE")
    if not 1 <= args.limit <= 1000:
        raise UsageError(f"--limit must be between 1 and 1000, got {args.limit}")
    _parse_filters(args.filters)
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
    p.add_argument("old", metavar="OLD")
    p.add_argument("new", metavar="NEW")
    p.add_argument("-o", "--output", metavar="PATH", help="write details as JSON lines here")
    p.set_defaults(func=cmd_diff)


def _detect_format(path: str) -> str:
    ext = _EXTENSIONS.get(os.path.splitext(path)[1].lower())
    if ext:
        return ext
    try:
        with open(path, "rb") as f:
            head = f.read(4096)
    except OSError as e:
        raise UsageError(f"cannot read {path}: {e.strerror}") from None
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
                rows = [_flatten(json.loads(line)) for line in f if line.strip()]
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
        raise UsageError(f"cannot read {path}: {e.strerror or e}") from None
    except (ValueError, UnicodeDecodeError) as e:
        raise UsageError(f"{path} is not a readable {fmt} export: {e}") from None
    out: dict[str, dict[str, Any]] = {}
    for i, r in enumerate(rows):
        mid = r.get("memberId")
        if not isinstance(mid, str) or not mid:
            raise UsageError(f"{path}: record {i + 1} has no memberId")
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
    p.add_argument("--members", type=int, default=10_000, help="members of the simulated audience")
    _filter_flag(p)
    p.set_defaults(func=cmd_demo)


def cmd_demo(args: argparse.Namespace) -> int:
    """Start a simulator and query it with a Querier: the count, the first
    five members and the client's metrics."""
    from cxone_cdp import Querier
    from cxone_cdp.testing import AUDIENCE_ID, Simulator

    _parse_filters(args.filters)
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
    parser = argparse.ArgumentParser(prog="cxone-cdp", description=__doc__)
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
        print(f"cxone-cdp: error: {e}", file=sys.stderr)
        return _exit_code(e)
