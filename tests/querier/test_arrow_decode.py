"""The Arrow decoder seen from Python: pages -> record batches / tables that
pyarrow, polars and pandas read through the Arrow PyCapsule interface."""

from __future__ import annotations

import datetime as dt
import json
import sys

import pytest
from cxone_cdp import _frames, _native

pa = pytest.importorskip("pyarrow")

SCHEMA = [
    ("lifecycle_stage", "string"),
    ("last_purchase_date", "date"),
    ("city", "string"),
    ("lifetime_value", "number"),
    ("is_vip", "boolean"),
]
CITIES = ["São Paulo", "Rock & Roll", "a+b=c", "100%", "x#y"]
UTC = dt.timezone.utc


def member(i: int, **overrides: object) -> dict:
    attrs = {
        "lifecycle_stage": ["new", "active", "lapsed"][i % 3],
        "last_purchase_date": f"2024-0{i % 9 + 1}-1{i % 10}",
        "city": CITIES[i % len(CITIES)],
        "lifetime_value": i * 10.5,
        "is_vip": i % 2 == 0,
    }
    attrs.update(overrides)
    return {
        "memberId": f"m-{i:05d}",
        "joinedAt": f"2023-05-0{i % 9 + 1}T10:00:0{i % 10}Z",
        "attributes": attrs,
    }


def page(members: list[dict], token: str | None = None, **extra: object) -> bytes:
    return json.dumps({"items": members, "nextPageToken": token, **extra}).encode()


def test_batch_has_the_contract_schema() -> None:
    batch_obj, token = _native._decode_page_arrow(page([member(0)], "abc"), SCHEMA)
    assert token == "abc"
    assert hasattr(batch_obj, "__arrow_c_array__")
    batch = pa.record_batch(batch_obj)
    assert batch.schema == pa.schema(
        [
            pa.field("memberId", pa.utf8(), nullable=False),
            pa.field("joinedAt", pa.timestamp("us", tz="UTC")),
            pa.field("lifecycle_stage", pa.utf8()),
            pa.field("last_purchase_date", pa.date32()),
            pa.field("city", pa.utf8()),
            pa.field("lifetime_value", pa.float64()),
            pa.field("is_vip", pa.bool_()),
        ]
    )


def test_values_round_trip() -> None:
    members = [member(i) for i in range(25)]
    batch_obj, token = _native._decode_page_arrow(page(members), SCHEMA)
    assert token is None
    rows = pa.record_batch(batch_obj).to_pylist()
    assert len(rows) == 25
    for got, want in zip(rows, members, strict=True):
        attrs = want["attributes"]
        assert got["memberId"] == want["memberId"]
        assert got["joinedAt"] == dt.datetime.fromisoformat(want["joinedAt"].replace("Z", "+00:00"))
        assert got["city"] == attrs["city"]
        assert got["lifecycle_stage"] == attrs["lifecycle_stage"]
        assert got["lifetime_value"] == attrs["lifetime_value"]
        assert got["is_vip"] is attrs["is_vip"]
        assert got["last_purchase_date"] == dt.date.fromisoformat(attrs["last_purchase_date"])
    assert {r["city"] for r in rows} == set(CITIES)


def test_offsets_are_converted_to_utc() -> None:
    m = member(1)
    m["joinedAt"] = "2024-03-01T14:30:00.123456+02:00"
    (row,) = pa.record_batch(_native._decode_page_arrow(page([m]), SCHEMA)[0]).to_pylist()
    assert row["joinedAt"] == dt.datetime(2024, 3, 1, 12, 30, 0, 123456, tzinfo=UTC)


def test_missing_unknown_and_wrong_typed_values_become_null() -> None:
    members = [
        {"memberId": "a", "joinedAt": "not a time", "attributes": {"unknown": [1, 2]}},
        member(
            2,
            lifetime_value="12",
            is_vip="yes",
            city=7,
            last_purchase_date="2024-02-30",
            lifecycle_stage=None,
        ),
        {"memberId": "c", "extra": {"x": 1}, "attributes": None},
    ]
    body = page(members, "t", serverField={"anything": True})
    batch = pa.record_batch(_native._decode_page_arrow(body, SCHEMA)[0])
    assert batch.num_rows == 3
    assert batch.column("memberId").to_pylist() == ["a", "m-00002", "c"]
    assert batch.column("joinedAt").to_pylist()[0::2] == [None, None]
    for name, _ in SCHEMA:
        assert batch.column(name).null_count == 3, name


def test_empty_page_and_empty_table_keep_the_schema() -> None:
    batch_obj, token = _native._decode_page_arrow(b'{"items": [], "nextPageToken": "x"}', SCHEMA)
    assert token == "x"
    batch = pa.record_batch(batch_obj)
    assert batch.num_rows == 0
    assert batch.schema.names[:2] == ["memberId", "joinedAt"]
    table = pa.table(_native._decode_pages_table([], SCHEMA))
    assert table.num_rows == 0
    assert table.schema == batch.schema


def test_pages_table_has_one_batch_per_page() -> None:
    bodies = [
        page([member(k * 10 + i) for i in range(n)], f"c{k}") for k, n in enumerate([10, 0, 7])
    ]
    table_obj = _native._decode_pages_table(bodies, SCHEMA)
    assert hasattr(table_obj, "__arrow_c_stream__")
    table = pa.table(table_obj)
    assert table.num_rows == 17
    assert [b.num_rows for b in table.to_batches() if b.num_rows] == [10, 7]
    assert table.column("memberId").to_pylist()[10] == "m-00020"


def test_bytes_like_bodies_and_bad_schema() -> None:
    with pytest.raises(ValueError, match="unknown type"):
        _native._decode_page_arrow(page([]), [("x", "integer")])
    with pytest.raises(TypeError):
        _native._decode_page_arrow("not bytes", SCHEMA)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "body",
    [
        b"<html>502 Bad Gateway</html>",
        b'{"nextPageToken": null}',
        b'{"items": [{"memberId": "a"}',
        b'{"items": [{"attributes": {}}]}',
        b"",
    ],
)
def test_malformed_bodies_raise(body: bytes) -> None:
    with pytest.raises(Exception, match="not a valid page") as info:
        _native._decode_page_arrow(body, SCHEMA)
    assert len(str(info.value)) < 400
    with pytest.raises(Exception, match="not a valid page"):
        _native._decode_pages_table([page([member(1)]), body], SCHEMA)


def test_to_pandas() -> None:
    pytest.importorskip("pandas")
    bodies = [page([member(i) for i in range(5)])]
    df = _frames.to_pandas(_native._decode_pages_table(bodies, SCHEMA))
    assert list(df.columns)[:3] == ["memberId", "joinedAt", "lifecycle_stage"]
    assert len(df) == 5
    assert str(df["joinedAt"].dt.tz) == "UTC"
    batches = [_native._decode_page_arrow(b, SCHEMA)[0] for b in bodies * 2]
    assert len(_frames.to_pandas(batches)) == 10
    assert len(_frames.to_pandas(batches[0])) == 5


def test_to_polars() -> None:
    pl = pytest.importorskip("polars")
    bodies = [page([member(i) for i in range(5)]), page([member(9)])]
    df = _frames.to_polars(_native._decode_pages_table(bodies, SCHEMA))
    assert df.shape == (6, 7)
    assert df.schema["joinedAt"] == pl.Datetime("us", "UTC")
    assert df.schema["last_purchase_date"] == pl.Date
    assert df.schema["lifetime_value"] == pl.Float64
    assert df.schema["is_vip"] == pl.Boolean
    assert df["city"].to_list()[:5] == CITIES
    batch_df = _frames.to_polars(_native._decode_page_arrow(bodies[0], SCHEMA)[0])
    assert batch_df.shape == (5, 7)
    batches = [_native._decode_page_arrow(b, SCHEMA)[0] for b in bodies]
    assert _frames.to_polars(batches).shape == (6, 7)


@pytest.mark.parametrize(
    ("func", "module", "extra"),
    [(_frames.to_polars, "polars", "polars"), (_frames.to_pandas, "pandas", "pandas")],
)
def test_missing_extra_names_the_install_command(
    monkeypatch: pytest.MonkeyPatch, func: object, module: str, extra: str
) -> None:
    monkeypatch.setitem(sys.modules, module, None)
    table = _native._decode_pages_table([page([member(1)])], SCHEMA)
    with pytest.raises(ImportError, match=rf"pip install cxone-cdp\[{extra}\]"):
        func(table)  # type: ignore[operator]


def test_frames_reject_other_objects() -> None:
    with pytest.raises(TypeError, match="expected an Arrow"):
        _frames.to_pyarrow(42)  # type: ignore[arg-type]
