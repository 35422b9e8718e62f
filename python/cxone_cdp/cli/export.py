"""`cxone-cdp export`: every member of a query written to a JSONL, CSV or
Parquet file by the core's export loop, with progress on stderr and an
optional checkpoint to resume from."""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

from cxone_cdp._native import export_members
from cxone_cdp.cli.args import add_output, add_query, filename
from cxone_cdp.cli.credentials import querier
from cxone_cdp.cli.exits import EXIT_OK, UsageError
from cxone_cdp.cli.output import check_output, format_of, log, show
from cxone_cdp.cli.query import check_local, typed_filters

HELP = "write every member to a JSONL, CSV or Parquet file"
DESCRIPTION = (
    "Write every member of AUDIENCE (matching the filters) to PATH. "
    "The file appears only when complete (it is written as PATH.part and renamed)."
)


def configure(p: argparse.ArgumentParser) -> None:
    add_query(p, limit=True)
    p.add_argument(
        "--format",
        choices=["jsonl", "csv", "parquet"],
        help="output format (default: from PATH's extension)",
    )
    add_output(p, required=True, help="output file")
    p.add_argument(
        "--checkpoint",
        metavar="FILE",
        type=filename("FILE"),
        help="record progress here after every page (for --resume)",
    )
    p.add_argument(
        "--resume",
        action="store_true",
        help="continue the export recorded in --checkpoint (starts fresh if there is none)",
    )
    p.add_argument("--quiet", "-q", action="store_true", help="no progress and no summary")


class Progress:
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
                frac = min(members / self.total, 1.0)
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


def check_resume(args: argparse.Namespace, fmt: str) -> None:
    """With --resume and an existing checkpoint: it must be a checkpoint of
    this query. The audience, limit, format and number of filters are
    compared here, before any request; the filters themselves (rendered per
    the schema) by the export once the schema is read."""
    ck_path = args.checkpoint
    shown = f"--checkpoint {show(ck_path)}"
    try:
        with open(ck_path, "rb") as f:
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
            f"cannot resume: the checkpoint {show(ck_path)} is for a different query "
            f"(audience {fp.get('audience_id')!r}, {len(fp['filters'])} filter(s), "
            f"limit {fp.get('limit')!r}, format {fp.get('format')!r}); run with the same "
            "audience, filters, limit and format, or without --resume to start over"
        )


def run(args: argparse.Namespace) -> int:
    fmt = args.format or format_of(args.output)
    if fmt is None:
        raise UsageError(f"--format is required (jsonl, csv or parquet) for {show(args.output)}")
    if args.resume and not args.checkpoint:
        raise UsageError("--resume needs --checkpoint FILE")
    check_local(args.filters, args.audience, args.limit)
    check_output(args.output, "-o")
    if args.checkpoint:
        check_output(args.checkpoint, "--checkpoint")
        same = {os.path.abspath(args.output), os.path.abspath(args.output) + ".part"}
        if os.path.abspath(args.checkpoint) in same:
            raise UsageError("--checkpoint must be another file than -o PATH (and PATH.part)")
        if args.resume:
            check_resume(args, fmt)
    q = querier(args)
    filters = typed_filters(q, args.filters)
    tty = sys.stderr.isatty()
    total = None
    if tty and not args.quiet:
        total = q.count(args.audience, filters)
    progress = Progress(tty=tty, quiet=args.quiet, total=total)
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
