"""The `cxone-cdp` command line."""

from __future__ import annotations

import argparse
import json
import sys
import time
import urllib.parse
import urllib.request
from typing import Any

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


def _add_simulate(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
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


# ------------------------------------------------------------------------- demo


def _add_demo(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("demo", help="query the embedded simulator and print members and metrics")
    p.add_argument("--members", type=int, default=10_000, help="members of the simulated audience")
    p.add_argument(
        "--filter",
        action="append",
        default=[],
        help="a filter such as 'city=Rock & Roll' (repeatable)",
    )
    p.set_defaults(func=cmd_demo)


def _http_json(url: str, token: str | None = None, data: bytes | None = None) -> Any:
    req = urllib.request.Request(url, data=data)
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    if data is not None:
        req.add_header("Content-Type", "application/x-www-form-urlencoded")
    with urllib.request.urlopen(req, timeout=30) as resp:
        return json.loads(resp.read())


def cmd_demo(args: argparse.Namespace) -> int:
    """Start a simulator and show what it serves: the count, the first five
    members and the simulator's request counters. (Until the Querier exists
    this speaks plain HTTP; the lead replaces the middle with a Querier.)"""
    from cxone_cdp.testing import AUDIENCE_ID, Simulator

    with Simulator(members=args.members) as sim:
        form = urllib.parse.urlencode(
            {
                "grant_type": "client_credentials",
                "client_id": sim.client_id,
                "client_secret": sim.client_secret,
                "scope": "audiences:read cdp:read",
            }
        ).encode()
        token = _http_json(sim.token_url, data=form)["access_token"]
        query = urllib.parse.urlencode(
            [("filter", f) for f in args.filter], quote_via=urllib.parse.quote
        )
        base = f"{sim.base_url}/api/v2/audiences/{AUDIENCE_ID}/members"
        count = _http_json(f"{base}/count?{query}", token)["count"]
        page = _http_json(f"{base}?limit=5&{query}", token)
        print(
            f"audience {AUDIENCE_ID}: {count:,} members"
            + (f" matching {args.filter}" if args.filter else "")
        )
        for m in page["items"]:
            a = m["attributes"]
            print(
                f"  {m['memberId']}  {a['city']:<12} {a['lifecycle_stage']:<9} "
                f"value={a['lifetime_value']:<8} vip={a['is_vip']!s:<5} "
                f"last={a['last_purchase_date']}"
            )
        stats = sim.stats()
        print(
            f"simulator: {stats['token_requests']} token request(s), "
            f"{stats['api_requests']} API request(s), by status {stats['by_status']}"
        )
    return 0


# ------------------------------------------------------------------------- main


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="cxone-cdp", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    _add_demo(sub)
    _add_simulate(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    result: int = args.func(args)
    return result
