"""pytest plugin (entry point ``pytest11``): simulator fixtures.

``cdp_simulator`` is a running :class:`cxone_cdp.testing.Simulator` with the
default 10,000 members and no faults, started for the test and stopped after
it. ``cdp_simulator_factory`` makes simulators with other settings
(``cdp_simulator_factory(members=500, rate_limit_every=3)``, or
``cdp_simulator_factory(tls=True)`` for HTTPS under a throwaway CA whose PEM
file is ``sim.ca_path``), all stopped when the test ends.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from cxone_cdp.testing import Simulator


@pytest.fixture
def cdp_simulator() -> Iterator[Simulator]:
    with Simulator() as sim:
        yield sim


@pytest.fixture
def cdp_simulator_factory() -> Iterator[Callable[..., Simulator]]:
    started: list[Simulator] = []

    def make(**options: Any) -> Simulator:
        """A started simulator; keyword arguments as for ``Simulator``
        (``members``, ``tls``, credentials, fault switches)."""
        sim = Simulator(**options).start()
        started.append(sim)
        return sim

    yield make
    for sim in started:
        sim.stop()
