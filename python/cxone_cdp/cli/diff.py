"""`cxone-cdp diff`: two exports (JSONL, CSV or Parquet, any mix) compared by
memberId: who joined, who left, whose values changed."""

from __future__ import annotations

import argparse
import csv
import datetime
import json
import os
import re
from typing import Any

from cxone_cdp.cli.args import add_output, filename
from cxone_cdp.cli.exits import EXIT_OK, UsageError
from cxone_cdp.cli.output import check_output, format_of, show

HELP = "compare two exports by memberId (joined, left, changed)"
DESCRIPTION = (
    "Compare two exports (JSONL, CSV or Parquet, any mix) by memberId. "
    "Counts go to stdout; with -o, one JSON line per differing member."
)


def configure(p: argparse.ArgumentParser) -> None:
    p.add_argument("old", metavar="OLD", type=filename("OLD"))
    p.add_argument("new", metavar="NEW", type=filename("NEW"))
    add_output(p, required=False, help="write details as JSON lines here")


def detect_format(path: str) -> str:
    ext = format_of(path)
    if ext:
        return ext
    try:
        with open(path, "rb") as f:
            head = f.read(4096)
    except OSError as e:
        raise UsageError(f"cannot read {show(path)}: {e.strerror}") from None
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


def read_export(path: str) -> dict[str, dict[str, Any]]:
    """memberId -> flat record (memberId, joinedAt, attributes...)."""
    fmt = detect_format(path)
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
                            f"{show(path)} line {i + 1} is not a member object "
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
        raise UsageError(f"cannot read {show(path)}: {e.strerror or e}") from None
    except (ValueError, UnicodeDecodeError, csv.Error) as e:
        raise UsageError(f"{show(path)} is not a readable {fmt} export: {e}") from None
    out: dict[str, dict[str, Any]] = {}
    for i, r in enumerate(rows):
        mid = r.get("memberId")
        if not isinstance(mid, str) or not mid:
            raise UsageError(f"{show(path)}: record {i + 1} has no memberId")
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
    a, b = read_export(old), read_export(new)
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


def run(args: argparse.Namespace) -> int:
    if args.output:
        check_output(args.output, "-o")
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
