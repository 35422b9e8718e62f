"""Every public call of the native API, found by reading the stubs, where
users run it: in a forked child (multiprocessing, gunicorn, Celery and
Airflow workers), under ``asyncio.run`` (the async twins), and interrupted
by Ctrl-C while a sync listing is in flight. A method added to the stubs
later is checked as well, or the test says which sample argument it lacks.
"""

from __future__ import annotations

import ast
import asyncio
import inspect
import json
import multiprocessing
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cxone_cdp
import pytest
from cxone_cdp import _native
from cxone_cdp.testing import AUDIENCE_ID, Simulator

STUBS = Path(_native.__file__).with_name("_native.pyi")
TESTS = str(Path(__file__).resolve().parents[1])
HERE = str(Path(__file__).resolve().parent)


@dataclass(frozen=True)
class Call:
    """One public callable of the stubs: a Querier method or a module function."""

    name: str
    owner: str  # "Querier" or "module"
    params: tuple[str, ...]  # every parameter but self/cls
    required: tuple[str, ...]
    classmethod: bool

    @property
    def is_async(self) -> bool:
        return self.name.endswith("_async")

    def __str__(self) -> str:
        return self.name if self.owner == "module" else f"Querier.{self.name}"


def _call(node: ast.FunctionDef, owner: str) -> Call:
    decorators = {d.id for d in node.decorator_list if isinstance(d, ast.Name)}
    a = node.args
    positional = a.posonlyargs + a.args
    if owner == "Querier":
        positional = positional[1:]  # self / cls
    n_plain_defaults = len(a.defaults)
    plain_required = positional[: len(positional) - n_plain_defaults]
    kw_required = [k for k, d in zip(a.kwonlyargs, a.kw_defaults, strict=True) if d is None]
    return Call(
        name=node.name,
        owner=owner,
        params=tuple(p.arg for p in positional + a.kwonlyargs),
        required=tuple(p.arg for p in plain_required + kw_required),
        classmethod="classmethod" in decorators,
    )


def stub_calls() -> list[Call]:
    tree = ast.parse(STUBS.read_text())
    out: list[Call] = []
    for node in tree.body:
        if isinstance(node, ast.ClassDef) and node.name == "Querier":
            for item in node.body:
                if not isinstance(item, ast.FunctionDef) or item.name.startswith("_"):
                    continue
                decorators = {d.id for d in item.decorator_list if isinstance(d, ast.Name)}
                if decorators & {"property", "staticmethod"}:
                    continue
                out.append(_call(item, "Querier"))
        elif isinstance(node, ast.FunctionDef) and not node.name.startswith("_"):
            # Module functions that reach the API (they take a Querier).
            if any(p.arg == "querier" for p in node.args.args):
                out.append(_call(node, "module"))
    return out


CALLS = stub_calls()
QUERIER = [c for c in CALLS if c.owner == "Querier"]
# A sync listing: anything that reads an audience (the module functions too:
# the CLI export). Each is interrupted while it runs.
LISTINGS = [c for c in CALLS if "audience_id" in c.params and not c.is_async]


def test_the_stubs_list_the_api_and_every_async_twin_has_its_sync_method():
    names = {c.name for c in QUERIER}
    assert {"members", "members_async", "iter_members", "count_async", "discover"} <= names
    for c in QUERIER:
        if c.is_async:
            assert c.name.removesuffix("_async") in names, c
    # And the stubs are the runtime's: nothing public is missing from them.
    runtime = {n for n in dir(_native.Querier) if not n.startswith("_")}
    properties = {n for n in runtime if isinstance(getattr(_native.Querier, n), property)}
    getters = {"auth", "issuer", "area", "base_url", "client_id", "ca_bundle", "proxy"}
    assert runtime - properties - getters <= names


# -- sample arguments, by parameter name ---------------------------------------

Samples = dict[str, Callable[[dict[str, Any]], Any]]

SAMPLES: Samples = {
    "audience_id": lambda env: AUDIENCE_ID,
    "filters": lambda env: [("lifetime_value", "gt", 100)],
    "limit": lambda env: env["limit"],
    "by": lambda env: "lifetime_value",
    "partitions": lambda env: 2,
    "name": lambda env: "api-surface",
    "url": lambda env: "http://127.0.0.1:9/hook",
    "events": lambda env: ["audience.query.completed"],
    "issuer": lambda env: env["issuer"],
    "client_id": lambda env: env["client_id"],
    "client_secret": lambda env: env["client_secret"],
    "exprs": lambda env: ["lifetime_value>100", "city=Rock & Roll"],
    "format": lambda env: "jsonl",
    "path": lambda env: os.path.join(env["tmp"], f"export-{os.getpid()}.jsonl"),
}
# Optional parameters left at their defaults (`None` / no override).
DEFAULTED = {"query_id", "cursor", "require_nonzero", "enabled", "checkpoint", "resume"}
DEFAULTED |= {"progress", "auth", "access_key_id", "access_key_secret", "base_url"}
DEFAULTED |= {"token_url", "options", "overrides"}


def arguments(call: Call, env: dict[str, Any]) -> dict[str, Any]:
    kwargs: dict[str, Any] = {}
    for p in call.params:
        if p in SAMPLES:
            kwargs[p] = SAMPLES[p](env)
        elif p == "querier":
            continue
        elif p in call.required or p not in DEFAULTED:
            raise AssertionError(f"{call}: no sample value for parameter {p!r} (add it to SAMPLES)")
    if call.name in ("discover", "discover_async"):
        # The token endpoint from the issuer's document; the API at base_url.
        kwargs["base_url"] = env["base_url"]
    return kwargs


def invoke(call: Call, env: dict[str, Any], mode: str) -> Any:
    """Runs `call` to completion: awaits a coroutine (with `asyncio.run`),
    exhausts an iterator (`for`, or `async for` when `mode == "async"`)."""
    kwargs = arguments(call, env)
    q = cxone_cdp.Querier(env["base_url"], env["client_id"], env["client_secret"])
    if call.owner == "module":
        fn = getattr(_native, call.name)
        result = fn(q, **kwargs)
    elif call.name == "from_env":
        saved = dict(os.environ)
        os.environ.update(
            CXONE_CDP_BASE_URL=env["base_url"],
            CXONE_CDP_CLIENT_ID=env["client_id"],
            CXONE_CDP_CLIENT_SECRET=env["client_secret"],
        )
        try:
            result = cxone_cdp.Querier.from_env(**kwargs)
        finally:
            os.environ.clear()
            os.environ.update(saved)
    elif call.classmethod:
        result = getattr(cxone_cdp.Querier, call.name)(**kwargs)
    else:
        result = getattr(q, call.name)(**kwargs)
    if inspect.iscoroutine(result):
        return asyncio.run(result)
    if hasattr(result, "__anext__") and mode == "async":

        async def drain() -> int:
            return len([x async for x in result])

        return asyncio.run(drain())
    if hasattr(result, "__next__"):
        return len(list(result))
    return result


def modes(call: Call) -> list[str]:
    return ["sync", "async"] if call.name.startswith("iter_") else ["sync"]


CASES = [(c, m) for c in CALLS for m in modes(c)]


def env_of(sim: Simulator, limit: int, tmp: Path) -> dict[str, Any]:
    """What a child needs to reach the simulator (plain data: it is sent to
    subprocesses as JSON)."""
    return {
        "base_url": sim.base_url,
        "token_url": sim.token_url,
        "issuer": sim.issuer,
        "client_id": sim.client_id,
        "client_secret": sim.client_secret,
        "limit": limit,
        "tmp": str(tmp),
    }


@pytest.fixture(scope="module")
def sim_env(tmp_path_factory: pytest.TempPathFactory):
    with Simulator(members=1_000, port=0) as sim:
        yield env_of(sim, 200, tmp_path_factory.mktemp("surface"))


@pytest.mark.parametrize(("call", "mode"), CASES, ids=[f"{c}-{m}" for c, m in CASES])
def test_runs_in_this_process_and_in_a_forked_child(call: Call, mode: str, sim_env) -> None:
    # In the parent first: the runtime's threads exist when the child forks.
    invoke(call, sim_env, mode)
    ctx = multiprocessing.get_context("fork")
    parent_end, child_end = ctx.Pipe()

    def child() -> None:
        try:
            invoke(call, sim_env, mode)
            child_end.send("ok")
        except BaseException as e:  # noqa: BLE001 - report anything to the parent
            child_end.send(f"{type(e).__name__}: {e}")

    p = ctx.Process(target=child)
    p.start()
    got = parent_end.recv() if parent_end.poll(60) else "no answer in 60 s (hang)"
    p.join(10)
    if p.is_alive():
        p.kill()
    assert got == "ok", f"{call} ({mode}) in a forked child: {got}"


def test_async_twins_run_under_asyncio_run_gather_and_create_task(sim_env) -> None:
    q = cxone_cdp.Querier(sim_env["base_url"], sim_env["client_id"], sim_env["client_secret"])
    twins = [c for c in QUERIER if c.is_async and not c.classmethod]
    # Made before any loop runs, awaited by asyncio.run.
    for c in twins:
        assert asyncio.run(getattr(q, c.name)(**arguments(c, sim_env))) is not None, c

    async def together() -> list[Any]:
        made = [getattr(q, c.name)(**arguments(c, sim_env)) for c in twins]
        tasks = [asyncio.get_running_loop().create_task(m) for m in made[:2]]
        rest = await asyncio.gather(*made[2:])
        return [await t for t in tasks] + list(rest)

    assert len(asyncio.run(together())) == len(twins)


# -- Ctrl-C during every sync listing ------------------------------------------


def run_until_interrupted(spec: dict[str, Any]) -> None:
    """In a child process: calls one listing over and over until Ctrl-C,
    then prints when the KeyboardInterrupt arrived."""
    call = next(c for c in CALLS if c.name == spec["name"] and c.owner == spec["owner"])
    print("started", flush=True)
    try:
        while True:
            invoke(call, spec["env"], "sync")
    except KeyboardInterrupt:
        print("interrupted", time.time(), flush=True)


CHILD = """
import json, sys
sys.path.insert(0, {here!r})
from test_api_surface import run_until_interrupted
run_until_interrupted(json.loads(sys.argv[1]))
"""


@pytest.fixture(scope="module")
def fast_pages(tmp_path_factory: pytest.TempPathFactory):
    # 100,000 members at 50 a page, 3 ms a request: a listing takes several
    # seconds of pages that each arrive well inside one signal tick.
    with Simulator(members=100_000, port=0, latency=0.003) as sim:
        yield env_of(sim, 50, tmp_path_factory.mktemp("sigint"))


def test_ctrl_c_stops_every_sync_listing_within_a_second(fast_pages) -> None:
    env = {**os.environ, "PYTHONPATH": TESTS + os.pathsep + os.environ.get("PYTHONPATH", "")}
    procs = {}
    for call in LISTINGS:
        spec = {"name": call.name, "owner": call.owner, "env": fast_pages}
        procs[str(call)] = subprocess.Popen(
            [sys.executable, "-c", CHILD.format(here=HERE), json.dumps(spec)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
    for name, p in procs.items():
        line = p.stdout.readline() if p.stdout else ""
        assert line.startswith("started"), f"{name}: {line!r} {p.stderr.read() if p.stderr else ''}"
    time.sleep(1.0)  # every listing is in flight now
    sent = {}
    for name, p in procs.items():
        sent[name] = time.time()
        p.send_signal(signal.SIGINT)
    failures = []
    for name, p in procs.items():
        out, err = p.communicate(timeout=60)
        words = out.split()
        if not words or words[0] != "interrupted":
            failures.append(f"{name}: no KeyboardInterrupt ({out!r} {err[-300:]!r})")
            continue
        late = float(words[1]) - sent[name]
        if late > 1.0:
            failures.append(f"{name}: KeyboardInterrupt {late:.2f} s after Ctrl-C")
    assert not failures, "\n".join(failures)
