"""`cxone-cdp simulate`: the embedded CDP simulator in the foreground until
Ctrl-C, with its fault switches as flags (their meanings are
`cxone_cdp.testing.FAULTS`)."""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from typing import Any

from cxone_cdp.cli.args import add_members, int_in, seconds, text
from cxone_cdp.cli.exits import EXIT_OK, UsageError
from cxone_cdp.testing import AUDIENCE_ID, EMPTY_AUDIENCE_ID, FAULTS, Simulator

_EVERY = int_in(1, 2**63 - 1)

#: The fault switches that take a value, by SimConfig field, with their type.
FAULT_FLAGS: dict[str, Callable[[str], Any]] = {
    "token_lifetime": seconds(positive=True),
    "revoke_after": seconds(positive=False),
    "token_delay": seconds(positive=False),
    "rate_limit_every": _EVERY,
    "retry_after_secs": int_in(0, 86_400),
    "unavailable_every": _EVERY,
    "latency": seconds(positive=False),
    "empty_page_every": _EVERY,
    "drop_every": _EVERY,
    "repeat_cursor_after": _EVERY,
    "html_502_every": _EVERY,
    "truncated_every": _EVERY,
}


HELP = "run the embedded CDP simulator in the foreground until Ctrl-C"
DESCRIPTION = "Serve the CDP API contract on 127.0.0.1 from the embedded simulator."


def configure(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--port", type=int_in(0, 65535), default=8080, help="port on 127.0.0.1 (0 = any free port)"
    )
    add_members(p, "members of the main audience")
    p.add_argument("--client-id", type=text("--client-id"), default="sim-client")
    p.add_argument("--client-secret", type=text("--client-secret"), default="sim-secret")
    p.add_argument(
        "--tls",
        action="store_true",
        help="serve HTTPS under a throwaway CA (its PEM file is printed; removed on exit)",
    )
    faults = p.add_argument_group("fault switches")
    for name, kind in FAULT_FLAGS.items():
        faults.add_argument("--" + name.replace("_", "-"), dest=name, type=kind, help=FAULTS[name])
    faults.add_argument("--short-pages", action="store_true", help=FAULTS["short_pages"])


def fault_options(args: argparse.Namespace) -> dict[str, Any]:
    """The fault switches given on the command line, as Simulator options."""
    kw = {name: getattr(args, name) for name in FAULT_FLAGS if getattr(args, name) is not None}
    if args.short_pages:
        kw["short_pages"] = True
    return kw


def run(args: argparse.Namespace) -> int:
    faults = fault_options(args)
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
            print(
                f"  membership     POST {sim.base_url}/_sim/advance"
                ' {"joined": n, "left": n, "changed": n}'
            )
            if faults:
                print("  faults         " + ", ".join(f"{k}={v}" for k, v in faults.items()))
            print("Ctrl-C to stop.", flush=True)
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            print("\nstopping", file=sys.stderr)
    return EXIT_OK
