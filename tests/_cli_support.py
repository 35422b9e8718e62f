"""Running the CLI against a simulator, as a user's shell would (not a test module)."""

from __future__ import annotations

import os
import subprocess
import sys

from cxone_cdp.testing import Simulator


def sim_env(sim: Simulator) -> dict[str, str]:
    """The ``CXONE_CDP_*`` variables that point a client at ``sim``."""
    return {
        "CXONE_CDP_BASE_URL": sim.base_url,
        "CXONE_CDP_TOKEN_URL": sim.token_url,
        "CXONE_CDP_CLIENT_ID": sim.client_id,
        "CXONE_CDP_CLIENT_SECRET": sim.client_secret,
    }


def cli_env(sim: Simulator, **extra: str | None) -> dict[str, str]:
    """This process's environment without its own ``CXONE_CDP_*`` settings,
    pointed at ``sim``; ``extra`` adds variables (``None`` removes one)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CXONE_CDP_")}
    env.update(sim_env(sim))
    for k, v in extra.items():
        if v is None:
            env.pop(k, None)
        else:
            env[k] = v
    return env


def run_cli(
    sim: Simulator, *args: str, env: dict[str, str] | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """``python -m cxone_cdp ARGS`` with ``env`` (default: :func:`cli_env`)."""
    return subprocess.run(
        [sys.executable, "-m", "cxone_cdp", *args],
        env=env or cli_env(sim),
        capture_output=True,
        text=True,
        timeout=timeout,
    )
