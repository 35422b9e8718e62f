"""Process life: Ctrl-C, os.fork(), threads, asyncio tasks, dropped
iterators, and Rust panics (which must reach Python as exceptions)."""

from __future__ import annotations

import asyncio
import gc
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time

import pytest
from _querier_support import assert_same_members, querier
from cxone_cdp import _native, errors
from cxone_cdp.testing import AUDIENCE_ID, Simulator

HERE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))  # tests/, for _querier_support
CITIES = ["São Paulo", "Rock & Roll", "a+b=c", "100%", "x#y"]


def run_script(code: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": HERE + os.pathsep + os.environ.get("PYTHONPATH", "")}
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
    )


# -- panics --------------------------------------------------------------------


def test_a_panic_in_a_core_task_is_a_python_exception():
    with pytest.raises(errors.CxoneError) as ei:
        _native._panic_for_test("sync")
    assert ei.value.code == "panic" and "deliberate test panic" in str(ei.value)

    async def go():
        return await _native._panic_for_test("async")

    with pytest.raises(errors.CxoneError) as ei:
        asyncio.run(go())
    assert ei.value.code == "panic"


# -- Ctrl-C --------------------------------------------------------------------


def test_sigint_during_members_raises_within_a_second_and_querier_stays_usable():
    code = """
        import sys, time
        from _querier_support import querier
        from cxone_cdp.testing import AUDIENCE_ID, Simulator
        with Simulator(members=5000, port=0, latency=0.3) as sim:
            q = querier(sim)
            q.count(AUDIENCE_ID)
            print("ready", flush=True)
            try:
                q.members(AUDIENCE_ID, limit=10)  # 500 pages x 0.3 s
                print("finished?!", flush=True)
            except KeyboardInterrupt:
                print("interrupted", time.monotonic(), flush=True)
            sim.set_faults(latency=0.0)
            print("count", q.count(AUDIENCE_ID), flush=True)
            print("members", len(q.members(AUDIENCE_ID, limit=1000)), flush=True)
    """
    env = {**os.environ, "PYTHONPATH": HERE + os.pathsep + os.environ.get("PYTHONPATH", "")}
    p = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(code)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        assert p.stdout.readline().strip() == "ready"
        time.sleep(0.8)  # well inside the slow listing
        sent = time.monotonic()
        p.send_signal(signal.SIGINT)
        out, err = p.communicate(timeout=30)
    finally:
        if p.poll() is None:
            p.kill()
    lines = dict(line.split(" ", 1) for line in out.strip().splitlines())
    assert "interrupted" in lines, (out, err)
    # CLOCK_MONOTONIC is system-wide on Linux: comparable across processes.
    assert float(lines["interrupted"]) - sent < 1.0
    assert lines["count"] == "5000"
    assert lines["members"] == "5000"


# -- fork ------------------------------------------------------------------------


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_fork_child_gets_a_working_querier_or_a_clear_error_never_a_hang():
    code = """
        import asyncio, os, sys
        from _querier_support import querier
        from cxone_cdp import errors
        from cxone_cdp.testing import AUDIENCE_ID, Simulator
        with Simulator(members=3000, port=0) as sim:
            q = querier(sim)
            assert q.count(AUDIENCE_ID) == 3000
            it = q.iter_members(AUDIENCE_ID, limit=100)
            next(it)
            pid = os.fork()
            if pid == 0:
                code = 0
                try:
                    try:
                        q.count(AUDIENCE_ID)
                        print("child: parent querier silently reused", flush=True)
                        code = 1
                    except errors.CxoneError as e:
                        assert "fork" in str(e), e
                        print("child: clear error", flush=True)
                    try:
                        # (members already buffered in memory may still come out)
                        list(it)
                        print("child: parent iterator silently reused", flush=True)
                        code = 1
                    except errors.CxoneError as e:
                        assert "fork" in str(e), e
                    fresh = querier(sim)
                    assert fresh.count(AUDIENCE_ID) == 3000
                    assert len(fresh.members(AUDIENCE_ID, limit=500)) == 3000
                    assert len(list(fresh.iter_members(AUDIENCE_ID, limit=500))) == 3000
                    async def count():
                        return await fresh.count_async(AUDIENCE_ID)
                    assert asyncio.run(count()) == 3000
                    async def listing():
                        return [m async for m in fresh.iter_members(AUDIENCE_ID, limit=500)]
                    assert len(asyncio.run(listing())) == 3000
                    print("child: fresh querier works", flush=True)
                except BaseException as e:
                    print("child failed:", repr(e), flush=True)
                    code = 2
                os._exit(code)
            _, status = os.waitpid(pid, 0)
            # The parent is unaffected by the child.
            assert q.count(AUDIENCE_ID) == 3000
            assert len(list(it)) == 2999
            print("parent ok, child exit", os.waitstatus_to_exitcode(status), flush=True)
    """
    r = run_script(code, timeout=60)
    assert "child: clear error" in r.stdout, (r.stdout, r.stderr)
    assert "child: fresh querier works" in r.stdout, (r.stdout, r.stderr)
    assert "parent ok, child exit 0" in r.stdout, (r.stdout, r.stderr)


# -- interpreter exit -----------------------------------------------------------


def test_the_interpreter_exits_cleanly_right_after_async_calls():
    # An async result is delivered from a runtime thread; the script may end
    # the moment the loop has it. That thread must never be caught wanting
    # the GIL while CPython finalizes (it used to abort or segfault about
    # one exit in two at this size).
    code = """
        import asyncio
        from _querier_support import querier
        from cxone_cdp.testing import AUDIENCE_ID, Simulator
        sim = Simulator(members=20_000).start()
        q = querier(sim)
        async def main():
            return await q.members_async(AUDIENCE_ID, limit=1000)
        for _ in range(3):
            loop = asyncio.new_event_loop()
            assert len(loop.run_until_complete(main())) == 20_000
            loop.close()
        assert asyncio.run(q.count_async(AUDIENCE_ID)) == 20_000
        print("done", flush=True)
    """
    for _ in range(12):
        r = run_script(code)
        assert (r.returncode, r.stdout.strip()) == (0, "done"), r.stderr[-2000:]
        assert "Fatal Python error" not in r.stderr, r.stderr[-2000:]


# -- concurrency ---------------------------------------------------------------


@pytest.fixture(scope="module")
def sim():
    with Simulator(members=3000, port=0) as s:
        yield s


def _flt(i):
    return [("city", "eq", CITIES[i % len(CITIES)]), ("lifetime_value", "gt", i * 7)]


def test_one_querier_from_8_threads(sim):
    q = querier(sim)
    results: dict[int, object] = {}

    def work(i):
        try:
            f = _flt(i)
            if i % 3 == 0:
                got = q.members(AUDIENCE_ID, f, limit=50)
            elif i % 3 == 1:
                got = list(q.iter_members(AUDIENCE_ID, f, limit=50))
            else:
                got = [m for p in q.iter_pages(AUDIENCE_ID, f, limit=50) for m in p.items]
            results[i] = (got, q.count(AUDIENCE_ID, f))
        except BaseException as e:  # surfaced below
            results[i] = e

    for _ in range(2):
        threads = [threading.Thread(target=work, args=(i,)) for i in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        assert len(results) == 8
        for i, r in results.items():
            assert not isinstance(r, BaseException), r
            got, count = r
            expected = sim.expected_members(AUDIENCE_ID, _flt(i))
            assert_same_members(got, expected)
            assert count == len(expected)
        results.clear()


async def test_one_querier_from_32_asyncio_tasks(sim):
    q = querier(sim)

    async def one(i):
        f = _flt(i)
        if i % 3 == 0:
            got = await q.members_async(AUDIENCE_ID, f, limit=50)
        elif i % 3 == 1:
            got = [m async for m in q.iter_members(AUDIENCE_ID, f, limit=50)]
        else:
            got = [m async for p in q.iter_pages(AUDIENCE_ID, f, limit=50) for m in p.items]
        return got, await q.count_async(AUDIENCE_ID, f)

    results = await asyncio.gather(*(one(i) for i in range(32)))
    for i, (got, count) in enumerate(results):
        expected = sim.expected_members(AUDIENCE_ID, _flt(i))
        assert_same_members(got, expected)
        assert count == len(expected)


# -- dropped iterators -------------------------------------------------------------


def _threads() -> int:
    return len(os.listdir("/proc/self/task"))


def _fds() -> int:
    return len(os.listdir("/proc/self/fd"))


@pytest.mark.slow
@pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="needs /proc")
def test_dropping_half_consumed_iterators_leaks_nothing():
    with Simulator(members=2000, port=0, latency=0.002) as sim:
        q = querier(sim)

        def one(i):
            if i % 2:
                it = q.iter_members(AUDIENCE_ID, limit=100)
                next(it)
                next(it)
            else:
                it = q.iter_pages(AUDIENCE_ID, limit=100)
                next(it)
            del it

        for i in range(50):  # warm up: pools, runtime threads, dropper
            one(i)
        gc.collect()
        time.sleep(0.3)
        threads0, fds0 = _threads(), _fds()
        for i in range(1000):
            one(i)
        gc.collect()
        # Aborted tasks and closed sockets settle asynchronously.
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and (_fds() > fds0 + 4 or _threads() > threads0 + 2):
            time.sleep(0.1)
        assert _fds() <= fds0 + 4, (fds0, _fds())
        assert _threads() <= threads0 + 2, (threads0, _threads())
        # And the listing still works end to end.
        assert_same_members(q.members(AUDIENCE_ID, limit=500), sim.expected_members(AUDIENCE_ID))


@pytest.mark.slow
async def test_dropping_half_consumed_async_iterators_leaks_nothing():
    with Simulator(members=2000, port=0) as sim:
        q = querier(sim)

        async def one():
            it = q.iter_members(AUDIENCE_ID, limit=100)
            await it.__anext__()
            del it

        for _ in range(30):
            await one()
        gc.collect()
        await asyncio.sleep(0.3)
        threads0, fds0 = _threads(), _fds()
        for _ in range(500):
            await one()
        gc.collect()
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and (_fds() > fds0 + 4 or _threads() > threads0 + 2):
            await asyncio.sleep(0.1)
        assert _fds() <= fds0 + 4, (fds0, _fds())
        assert _threads() <= threads0 + 2, (threads0, _threads())
