"""Test helpers: the embedded CDP simulator as a context manager.

    from cxone_cdp.testing import Simulator, AUDIENCE_ID

    with Simulator(members=10_000, rate_limit_every=5) as sim:
        ...  # point a client at sim.base_url with sim.client_id / sim.client_secret

The server runs on 127.0.0.1 (a free port unless ``port`` is given) on a Rust
runtime thread, so it keeps serving while Python code blocks. Fault switches
are keyword arguments named like the fields of the Rust ``SimConfig``;
durations are float seconds, ``*_every`` switches take a positive int.

``Simulator(tls=True)`` serves HTTPS instead: a throwaway CA made at start
signs a certificate for ``127.0.0.1`` and ``localhost``, the URLs are
``https://127.0.0.1:{port}``, and :attr:`Simulator.ca_path` is the CA's PEM
file for the client's trust store (it exists while the simulator runs).
``stats()`` counts ``connections``, ``tls_handshakes`` and
``tls_handshake_failures`` (a client that refuses the certificate and does not
retry leaves exactly one failure).

Audiences that change: :meth:`Simulator.advance` moves a membership clock on
(members leave, new ones join, some members' attribute values change),
deterministically. Counts, new listings and :meth:`Simulator.expected_members`
follow at once; a listing already under way finishes on the membership it
started with, because its cursors carry their epoch (the contract binds a
cursor to its query and makes pages consistent: the same cursor always gives
the same page). Over HTTP: ``POST {base_url}/_sim/advance`` with
``{"joined": n, "left": n, "changed": n}``, and ``GET {base_url}/_sim/membership``.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any, Generic, NoReturn, TypeVar, cast, overload

from cxone_cdp import _native

AUDIENCE_ID: str = _native.AUDIENCE_ID
EMPTY_AUDIENCE_ID: str = _native.EMPTY_AUDIENCE_ID
#: A third audience: a fixed third of AUDIENCE_ID's members.
SUBSET_AUDIENCE_ID: str = _native.SUBSET_AUDIENCE_ID

__all__ = ["AUDIENCE_ID", "EMPTY_AUDIENCE_ID", "FAULTS", "SUBSET_AUDIENCE_ID", "Simulator"]

#: Every fault switch the simulator knows, with its meaning.
FAULTS: dict[str, str] = {
    "token_lifetime": "expires_in of issued tokens, seconds (default 3600)",
    "revoke_after": "tokens answer 401 this many seconds after issue",
    "token_delay": "seconds the token endpoint waits before answering",
    "rate_limit_every": "429 with Retry-After every n-th API call",
    "retry_after_secs": "the Retry-After value of those 429s (default 1)",
    "unavailable_every": "503 every n-th API call",
    "latency": "seconds added to every API call",
    "empty_page_every": "every n-th members page is empty but carries a new cursor",
    "short_pages": "members pages shorter than the limit while a cursor is set",
    "drop_every": "close the connection without a response every n-th API call",
    "repeat_cursor_after": "after n pages, hand back a cursor that was already followed",
    "html_502_every": "502 with an HTML (non-JSON) body every n-th API call",
    "truncated_every": "200 with a truncated JSON body every n-th members call",
    "broken_discovery": (
        "serve broken discovery: 'missing_field', 'not_json' or '404' (both"
        " .well-known documents, or one with an 'openid:' / 'cxone:' prefix),"
        " or 'bad_id_token' (a malformed id_token from /auth/token)"
    ),
    "missing_attribute_every": (
        "data (fixed at start): every n-th member has no lifetime_value attribute"
    ),
}

#: Settings that are credentials or identity rather than faults (kept by
#: ``clear_faults``).
_IDENTITY = (
    "client_id",
    "client_secret",
    "access_key_id",
    "access_key_secret",
    "tenant_id",
    "area",
)


def _wire(f: str | tuple[Any, Any, Any]) -> str:
    """A decoded wire filter (``"city=Rock & Roll"``) from a string (kept as
    it is) or an ``(attribute, operator, value)`` tuple, rendered by the
    client's own rules."""
    if isinstance(f, str):
        return f
    (text,) = _native.render_filters([f])
    return text


_T = TypeVar("_T")


class _Attribute(Generic[_T]):
    """A read-only, documented attribute of :class:`Simulator` (a property
    in one line): ``help()`` lists it with its docstring, assigning to it
    raises ``AttributeError``."""

    def __init__(self, doc: str) -> None:
        self.__doc__ = doc
        self.name = ""

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    @overload
    def __get__(self, sim: None, owner: type | None = None) -> _Attribute[_T]: ...
    @overload
    def __get__(self, sim: Simulator, owner: type | None = None) -> _T: ...
    def __get__(self, sim: Simulator | None, owner: type | None = None) -> _T | _Attribute[_T]:
        return self if sim is None else self.read(sim)

    def __set__(self, sim: Simulator, value: NoReturn) -> NoReturn:
        raise AttributeError(f"property {self.name!r} of 'Simulator' object has no setter")

    def read(self, sim: Simulator) -> _T:
        raise NotImplementedError


class _Native(_Attribute[_T]):
    """An attribute of the running native simulator (``RuntimeError`` when
    it is not running)."""

    def read(self, sim: Simulator) -> _T:
        return cast(_T, getattr(sim._sim, self.name))


class _Setting(_Attribute[str]):
    """A credential or identity setting the simulator was made with."""

    def read(self, sim: Simulator) -> str:
        return str(sim._options[self.name])


class Simulator:
    """The embedded simulator. Use as a context manager, or call
    :meth:`start` and :meth:`stop` yourself."""

    def __init__(
        self,
        members: int = 10_000,
        port: int = 0,
        client_id: str = "sim-client",
        client_secret: str = "sim-secret",
        access_key_id: str = "sim-key",
        access_key_secret: str = "sim-key-secret",
        tenant_id: str = "11111111-2222-4333-8444-555555555555",
        area: str = "sim1",
        tls: bool = False,
        **faults: Any,
    ) -> None:
        unknown = set(faults) - set(FAULTS)
        if unknown:
            raise TypeError(f"unknown simulator option(s): {', '.join(sorted(unknown))}")
        self._options: dict[str, Any] = dict(
            client_id=client_id,
            client_secret=client_secret,
            access_key_id=access_key_id,
            access_key_secret=access_key_secret,
            tenant_id=tenant_id,
            area=area,
            **faults,
        )
        self._members = members
        self._port = port
        self._tls = bool(tls)
        self._native: _native.Simulator | None = None

    # -- lifecycle ---------------------------------------------------------

    def start(self) -> Simulator:
        """Start serving (no-op if running); returns ``self``."""
        if self._native is None:
            self._native = _native.Simulator(
                members=self._members, port=self._port, tls=self._tls, **self._options
            )
        return self

    def stop(self) -> None:
        """Stop serving (no-op if stopped)."""
        sim, self._native = self._native, None
        if sim is not None:
            sim.shutdown()

    def __enter__(self) -> Simulator:
        """Start the simulator (``with Simulator() as sim:``)."""
        return self.start()

    def __exit__(self, *exc: object) -> None:
        """Stop the simulator."""
        self.stop()

    @property
    def _sim(self) -> _native.Simulator:
        if self._native is None:
            raise RuntimeError("the simulator is not running (use it as a context manager)")
        return self._native

    # -- addresses and credentials -----------------------------------------

    base_url = _Native[str](
        "The API base URL, ``http://127.0.0.1:{port}`` (``https://`` with ``tls=True``)."
    )

    @property
    def tls(self) -> bool:
        """Whether the simulator serves HTTPS (``Simulator(tls=True)``)."""
        return self._tls

    ca_path = _Native[str | None](
        """With ``tls=True``: the path of the throwaway CA's certificate (PEM)
        that signed the server's certificate, for the client's trust store
        (``ca_bundle``, ``SSL_CERT_FILE``, ``ssl.create_default_context(cafile=...)``).
        The file exists while the simulator runs and is removed by :meth:`stop`;
        each start makes a new CA. ``None`` without TLS."""
    )
    token_url = _Native[str]("The OAuth token endpoint (client credentials grant).")
    callback_url = _Native[str]("A URL that records completion callbacks (see :meth:`callbacks`).")
    port = _Native[int]("The TCP port on 127.0.0.1.")

    @property
    def members(self) -> int:
        """Members of :data:`AUDIENCE_ID` now (after any :meth:`advance`)."""
        if self._native is None:
            return self._members
        return self._native.membership()[1]

    @property
    def epoch(self) -> int:
        """The membership clock's epoch: how many times :meth:`advance` ran."""
        return self._sim.membership()[0]

    client_id = _Setting("The client id the token endpoint accepts.")
    client_secret = _Setting("The client secret the token endpoint accepts (never in the repr).")
    access_key_id = _Setting('Access key id for the CXone password grant (``auth="access_key"``).')
    access_key_secret = _Setting("Access key secret for the CXone password grant.")
    tenant_id = _Setting("The tenant the id_token names and the CXone configuration serves.")
    area = _Setting("The area the CXone configuration document names.")
    issuer = _Native[str](
        """The issuer for discovery: serves ``/.well-known/openid-configuration``
        (token endpoint ``{issuer}/auth/token``) and
        ``/.well-known/cxone-configuration?tenantId=...`` (API endpoint = base URL)."""
    )
    auth_token_url = _Native[str](
        "The CXone-style token endpoint (password grant): ``{base_url}/auth/token``."
    )

    # -- introspection and control -------------------------------------------

    def stats(self) -> dict[str, Any]:
        """``{"token_requests", "api_requests", "by_endpoint", "by_status", ...}``."""
        result: dict[str, Any] = json.loads(self._sim.stats_json())
        return result

    def callbacks(self) -> list[dict[str, Any]]:
        """Completion callbacks received: ``[{"headers": {...}, "body": bytes}]``."""
        return self._sim.callbacks()

    def webhooks(self) -> list[dict[str, Any]]:
        """Webhook registrations stored by ``POST /api/v2/webhooks``."""
        result: list[dict[str, Any]] = json.loads(self._sim.webhooks_json())
        return result

    def reset(self) -> None:
        """Zero the counters (fault counters too) and forget callbacks."""
        self._sim.reset()

    def set_faults(self, **faults: Any) -> None:
        """Change the given fault switches (others keep their value)."""
        self._sim.set_faults(**faults)
        self._options.update({k: v for k, v in faults.items() if k in _IDENTITY})

    def clear_faults(self) -> None:
        """Turn every fault switch off."""
        self._sim.clear_faults()

    def restart(self) -> None:
        """Stop and start again on the same port; open connections are closed,
        state is kept and cursors stay valid."""
        self._sim.restart()

    def advance(self, joined: int = 0, left: int = 0, changed: int = 0) -> dict[str, Any]:
        """Move the audience on one epoch: ``left`` current members leave,
        ``changed`` other current members get new attribute values (the id
        and ``joinedAt`` stay; ``lifecycle_stage`` always moves on) and
        ``joined`` new members join, listed after the others. Who leaves and
        who changes is drawn from a generator seeded by the epoch, so the same
        advances give the same audiences on every run.

        Returns ``{"epoch": n, "joined": [ids], "left": [ids], "changed": [ids]}``.
        Counts, listings started afterwards and :meth:`expected_members` see
        the new membership at once. A listing already under way goes on with
        the membership it started with (its cursors carry their epoch; see
        the module docstring), and :data:`SUBSET_AUDIENCE_ID` (a fixed third
        of the members, by id) follows. ``ValueError`` if ``left + changed``
        exceeds the current members."""
        for name, n in (("joined", joined), ("left", left), ("changed", changed)):
            if isinstance(n, bool) or not isinstance(n, int) or n < 0:
                raise ValueError(f"{name} must be a non-negative int, got {n!r}")
        result: dict[str, Any] = json.loads(
            self._sim.advance_json(joined=joined, left=left, changed=changed)
        )
        return result

    def expected_members(
        self,
        audience_id: str = AUDIENCE_ID,
        filters: Iterable[str | tuple[Any, Any, Any]] = (),
    ) -> list[dict[str, Any]]:
        """What a complete, correct listing started now returns for ``filters``
        (decoded wire strings such as ``"city=Rock & Roll"`` or
        ``(attr, op, value)``), after any :meth:`advance`."""
        wire = [_wire(f) for f in filters]
        result: list[dict[str, Any]] = json.loads(
            self._sim.expected_members_json(audience_id, wire)
        )
        return result

    def __repr__(self) -> str:
        """``<cxone_cdp.testing.Simulator http(s)://127.0.0.1:port members=n>`` (no secret)."""
        state = self._native.base_url if self._native is not None else "stopped"
        return f"<cxone_cdp.testing.Simulator {state} members={self._members}>"
