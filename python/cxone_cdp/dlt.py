"""A dlt source for audience membership (the ``dlt`` extra:
``pip install "cxone-cdp[dlt]"``, plus the destination's extra such as
``"dlt[duckdb]"``).

    import dlt
    from cxone_cdp.dlt import audience_members, cdp_source

    pipeline = dlt.pipeline("cdp", destination="duckdb", dataset_name="cdp")
    pipeline.run(audience_members(AUDIENCE_ID, [("is_vip", "eq", True)]))
    pipeline.run(cdp_source({"vips": (AUDIENCE_ID, [("is_vip", "eq", True)])}))

:func:`audience_members` is a dlt resource that yields the listing as Arrow
record batches straight from the native iterator (no dicts on the way). With
``history=False`` (the default) the table is replaced on every run, so it
holds the current membership. With ``history=True`` it is an SCD2 table
(dlt's ``scd2`` merge strategy): every row carries ``_dlt_valid_from`` and
``_dlt_valid_to``; a member who left gets a ``_dlt_valid_to``; a member
whose attributes changed has the old row closed and a new one opened. dlt
tells rows apart by a row-version hash; for Arrow input it would otherwise
use random row ids (every row would look changed on every run), so the
resource adds a ``_cdp_row_hash`` column (a BLAKE2b hash of the member's id,
``joinedAt`` and attribute values) and names it as the row version.

Column types come from the attribute schema: number -> double, date -> date,
boolean -> bool, ``joinedAt`` -> timestamp; with dlt's default naming the
columns are ``member_id``, ``joined_at`` and the attribute names.

Credentials, in this order: the ``querier`` argument; dlt's config and
secrets (a ``[sources.cxone_cdp]`` section with ``base_url``, ``token_url``,
``client_id``, ``client_secret`` and, for the access-key grant, ``auth``,
``access_key_id`` and ``access_key_secret``; or ``issuer``; for company
networks ``ca_bundle`` and ``proxy``, best kept in secrets as it may carry a
password), read the way dlt
reads them (``.dlt/config.toml``, ``.dlt/secrets.toml``, environment
variables such as ``SOURCES__CXONE_CDP__CLIENT_SECRET``); the ``CXONE_CDP_*``
environment (:meth:`cxone_cdp.Querier.from_env`). Bad input (an unknown
audience, a refused filter) raises its typed error at extract time, so the
pipeline fails and nothing is loaded for that resource.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from cxone_cdp._frames import _check_extra
from cxone_cdp._native import Querier
from cxone_cdp.errors import ValidationError

_check_extra("dlt")

import dlt  # noqa: E402
import pyarrow as pa  # noqa: E402
import pyarrow.compute as pc  # noqa: E402

__all__ = ["audience_members", "cdp_source", "querier_from_config"]

#: The dlt config section the credentials are read from.
SECTION = ("sources", "cxone_cdp")
#: The row-version column of ``history=True`` tables.
ROW_HASH = "_cdp_row_hash"
_ROW_HASH_FIELD = pa.field(ROW_HASH, pa.string(), nullable=False)

_FIELDS = (
    "base_url",
    "token_url",
    "client_id",
    "client_secret",
    "auth",
    "access_key_id",
    "access_key_secret",
    "issuer",
    "ca_bundle",
    "proxy",
)
# A proxy URL may carry a password (http://user:pass@host:port).
_SECRETS = {"client_secret", "access_key_secret", "proxy"}

# dlt data types and Arrow types by attribute type.
_DLT_TYPES = {"string": "text", "number": "double", "boolean": "bool", "date": "date"}
_ARROW_TYPES = {
    "string": pa.string(),
    "number": pa.float64(),
    "boolean": pa.bool_(),
    "date": pa.date32(),
}

Filters = Sequence[tuple[str, str, Any]]


def _config_value(name: str) -> Any:
    key = ".".join((*SECTION, name))
    value = dlt.secrets.get(key) if name in _SECRETS else None
    if value is None:
        value = dlt.config.get(key)
    if value is None and name not in _SECRETS:
        value = dlt.secrets.get(key)
    return value


def querier_from_config() -> Querier | None:
    """A Querier from dlt's ``[sources.cxone_cdp]`` config and secrets, or
    ``None`` when they name no client id."""
    found = {name: _config_value(name) for name in _FIELDS}
    found = {k: str(v) for k, v in found.items() if v is not None and str(v).strip()}
    if "client_id" not in found:
        return None
    client_id = found.pop("client_id")
    client_secret = found.pop("client_secret", "")
    if "issuer" in found and "base_url" not in found:
        return Querier.discover(
            found.pop("issuer"), client_id=client_id, client_secret=client_secret, **found
        )
    base_url = found.pop("base_url", None)
    return Querier(base_url, client_id, client_secret, **found)


def _resolve(querier: Querier | None) -> Querier:
    if querier is not None:
        return querier
    from_config = querier_from_config()
    if from_config is not None:
        return from_config
    if os.environ.get("CXONE_CDP_CLIENT_ID", "").strip():
        return Querier.from_env()
    raise ValidationError(
        "no CXone CDP credentials: pass querier=..., or set them in dlt's config and "
        "secrets ([sources.cxone_cdp] base_url, token_url, client_id, client_secret in "
        ".dlt/config.toml / .dlt/secrets.toml, or SOURCES__CXONE_CDP__* variables), "
        "or in the CXONE_CDP_* environment (CXONE_CDP_BASE_URL, CXONE_CDP_CLIENT_ID, "
        "CXONE_CDP_CLIENT_SECRET)"
    )


def _columns(attributes: Mapping[str, str], history: bool) -> dict[str, dict[str, Any]]:
    """dlt column hints from the attribute schema (names as the API spells
    them: dlt normalizes them like the data's)."""
    cols: dict[str, dict[str, Any]] = {
        "memberId": {"data_type": "text", "nullable": False},
        "joinedAt": {"data_type": "timestamp", "timezone": True},
    }
    for name, kind in attributes.items():
        cols[name] = {"data_type": _DLT_TYPES.get(kind, "text"), "nullable": True}
    if history:
        cols[ROW_HASH] = {"data_type": "text", "nullable": False}
    return cols


def _empty(attributes: Mapping[str, str]) -> pa.Table:
    """A table of no rows with the listing's schema."""
    fields = [
        pa.field("memberId", pa.string(), nullable=False),
        pa.field("joinedAt", pa.timestamp("us", tz="UTC")),
    ]
    fields += [pa.field(n, _ARROW_TYPES.get(t, pa.string())) for n, t in attributes.items()]
    return pa.schema(fields).empty_table()


def _with_row_hash(batch: pa.RecordBatch) -> pa.RecordBatch:
    """``batch`` plus :data:`ROW_HASH`: a hash of every column's value."""
    parts = [
        pc.fill_null(pc.cast(col, pa.string()), "\x00")  # a missing value is not ""
        for col in batch.columns
    ]
    joined = pc.binary_join_element_wise(*parts, "\x1f")
    hashes = [hashlib.blake2b(s.encode(), digest_size=16).hexdigest() for s in joined.to_pylist()]
    return batch.append_column(_ROW_HASH_FIELD, pa.array(hashes, pa.string()))


def _batches(
    querier: Querier,
    audience_id: str,
    filters: Filters,
    limit: int,
    history: bool,
) -> Iterator[Any]:
    # A run loads the audience as it is now: no page cached by an earlier
    # run (the response cache keys on the request, and a first page names
    # the snapshot the rest of the listing follows).
    querier.clear_cache()
    attributes = querier.refresh_attributes()
    hints = dlt.mark.make_hints(columns=_columns(attributes, history))
    first = True
    it = querier.iter_batches(audience_id, list(filters), limit)
    try:
        for native in it:
            batch = pa.record_batch(native)
            if history:
                batch = _with_row_hash(batch)
            if first:
                first = False
                yield dlt.mark.with_hints(batch, hints)
            else:
                yield batch
    finally:
        it.close()
    if first:
        # An empty audience still replaces the table (or retires every row).
        table = _empty(attributes)
        if history:
            table = pa.Table.from_batches(
                [_with_row_hash(b) for b in table.to_batches()],
                schema=table.schema.append(_ROW_HASH_FIELD),
            )
        yield dlt.mark.with_hints(table, hints)


def audience_members(
    audience_id: str,
    filters: Filters = (),
    *,
    limit: int = 1000,
    history: bool = False,
    table_name: str = "audience_members",
    querier: Querier | None = None,
) -> Any:
    """A dlt resource with the members of ``audience_id`` (Arrow batches).

    ``history=False``: ``write_disposition="replace"`` (the table holds the
    current membership). ``history=True``: dlt's ``scd2`` merge strategy
    (``_dlt_valid_from`` / ``_dlt_valid_to`` on every row). Credentials:
    ``querier``, else dlt's ``[sources.cxone_cdp]`` config and secrets, else
    the ``CXONE_CDP_*`` environment."""
    q = _resolve(querier)
    disposition: Any = (
        {
            "disposition": "merge",
            "strategy": "scd2",
            "row_version_column_name": ROW_HASH,
        }
        if history
        else "replace"
    )
    filters = list(filters)

    def members() -> Iterator[Any]:
        yield from _batches(q, audience_id, filters, limit, history)

    return dlt.resource(
        members,
        name=table_name,
        table_name=table_name,
        write_disposition=disposition,
        primary_key=None if history else "memberId",
    )


def cdp_source(
    audiences: Mapping[str, str | tuple[str, Filters]],
    *,
    history: bool = False,
    querier: Querier | None = None,
) -> Any:
    """A dlt source: one :func:`audience_members` resource per audience
    (``{table_name: audience_id}`` or ``{table_name: (audience_id, filters)}``)
    plus an ``attributes`` resource holding the attribute schema."""
    q = _resolve(querier)
    resources = []
    for table, spec in audiences.items():
        audience_id, filters = (spec, ()) if isinstance(spec, str) else spec
        resources.append(
            audience_members(audience_id, filters, history=history, table_name=table, querier=q)
        )

    def attributes() -> Iterator[list[dict[str, str]]]:
        yield [{"name": n, "type": t} for n, t in q.refresh_attributes().items()]

    schema = dlt.resource(
        attributes, name="attributes", write_disposition="replace", primary_key="name"
    )

    @dlt.source(name="cxone_cdp", section="cxone_cdp")
    def cxone_cdp() -> Any:
        return [*resources, schema]

    return cxone_cdp()
