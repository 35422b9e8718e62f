"""pytest plugin (entry point ``pytest11``): the ``cdp_simulator`` fixture.

``cdp_simulator`` is a running :class:`cxone_cdp.testing.Simulator` with the
default 10,000 members and no faults, started for the test and stopped after
it. Tests that need other settings make their own ``Simulator(...)``.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from cxone_cdp.testing import Simulator


@pytest.fixture
def cdp_simulator() -> Iterator[Simulator]:
    with Simulator() as sim:
        yield sim
