"""The Python modules that take filters in other shapes (the tutorial layer,
the test helpers, the Spark options, the command line) read them with the
client's one filter grammar: they accept and refuse exactly what the Querier
does, with its messages. No request is made here."""

from __future__ import annotations

import datetime as dt

import pytest
from cxone_cdp import Querier, ValidationError, _native
from cxone_cdp._spark_options import _Settings, parse_filters
from cxone_cdp.cli.query import check_local
from cxone_cdp.compat import AttributeFilter
from cxone_cdp.testing import AUDIENCE_ID, _wire

SPELLINGS = {
    "eq": "=",
    "EQ": "=",
    " Eq ": "=",
    "=": "=",
    "==": "=",
    "neq": "!=",
    "ne": "!=",
    "NE": "!=",
    "!=": "!=",
    "gt": ">",
    ">": ">",
    "lt": "<",
    "<": "<",
    "contains": "~",
    "Contains": "~",
    "~": "~",
}
NOT_OPERATORS = ["", " ", "like", "=>", ">=", "gte", "in", "<>", "===", "eq ne", "=\x00"]


def _querier_accepts(op: str) -> bool:
    try:
        Querier._check_local(AUDIENCE_ID, [("city", op, "x")], None)
    except ValidationError:
        return False
    return True


@pytest.mark.parametrize("op", [*SPELLINGS, *NOT_OPERATORS])
def test_every_layer_accepts_the_querier_operators(op: str) -> None:
    accepted = _querier_accepts(op)
    assert accepted == (op in SPELLINGS)
    if accepted:
        assert _native.filter_operator(op) == SPELLINGS[op]
        assert AttributeFilter("city", op, "x").operator == op  # kept as given
        assert _wire(("city", op, "x")) == f"city{SPELLINGS[op]}x"
        return
    for build in (
        lambda: _native.filter_operator(op),
        lambda: AttributeFilter("city", op, "x"),
        lambda: _wire(("city", op, "x")),
    ):
        with pytest.raises(ValidationError, match="unknown operator") as e:
            build()
        assert e.value.code == "validation_error"


def test_an_operator_that_is_not_text_is_a_validation_error() -> None:
    for op in (5, None, b"eq"):
        with pytest.raises(ValidationError, match="operator must be a str"):
            AttributeFilter("city", op, "x")  # type: ignore[arg-type]


def test_tuple_filters_render_as_the_client_renders_them() -> None:
    cases = [
        (("city", "eq", "Rock & Roll"), "city=Rock & Roll"),
        (("city", "contains", "a+b=c"), "city~a+b=c"),
        (("lifetime_value", "gt", 250.0), "lifetime_value>250"),
        (("lifetime_value", "lt", 12.5), "lifetime_value<12.5"),
        (("lifetime_value", "neq", -7), "lifetime_value!=-7"),
        (("lifetime_value", "gt", 1e20), "lifetime_value>100000000000000000000"),
        (("is_vip", "eq", True), "is_vip=true"),
        (("last_purchase_date", ">", dt.date(2024, 3, 9)), "last_purchase_date>2024-03-09"),
    ]
    assert _native.render_filters([f for f, _ in cases]) == [w for _, w in cases]
    assert [_wire(f) for f, _ in cases] == [w for _, w in cases]
    assert _wire("city=kept as it is") == "city=kept as it is"
    # What the Querier refuses to read is refused here too.
    for bad in (("v", "gt", float("nan")), ("d", "eq", dt.datetime(2024, 1, 1)), ("v", "eq", None)):
        with pytest.raises(ValidationError):
            _wire(bad)


SCHEMA = {
    "city": "string",
    "lifetime_value": "number",
    "is_vip": "boolean",
    "last_purchase_date": "date",
    "blob": "binary",  # a type the client does not know
}


def test_expressions_are_typed_by_the_schema() -> None:
    exprs = [
        "city=Rock & Roll",
        "lifetime_value>100",
        "lifetime_value<12.5",
        "is_vip!=false",
        "last_purchase_date<2024-01-02",
        "city~a=b",
    ]
    assert _native.typed_filter_exprs(exprs, SCHEMA) == [
        ("city", "eq", "Rock & Roll"),
        ("lifetime_value", "gt", 100),
        ("lifetime_value", "lt", 12.5),
        ("is_vip", "neq", False),
        ("last_purchase_date", "lt", dt.date(2024, 1, 2)),
        ("city", "contains", "a=b"),
    ]
    assert _native.typed_filter_exprs([], {}) == []
    bad = {
        "nope=1": "not found in CDP schema",
        "blob=1": "not found in CDP schema",
        "lifetime_value>1e5": "not a decimal number",
        "lifetime_value>inf": "not a decimal number",
        "is_vip=yes": "not true or false",
        "last_purchase_date<2024-02-30": "not a YYYY-MM-DD date",
        "is_vip>true": "does not apply",
        "lifetime_value~1": "does not apply",
        "city": "has no operator",
        "city!x": "must be followed by '='",
    }
    for expr, message in bad.items():
        with pytest.raises(ValidationError, match=message) as e:
            _native.typed_filter_exprs(["city=ok", expr], SCHEMA)
        assert str(e.value).startswith(f"bad filter {expr!r}".replace("'", '"'))
    with pytest.raises(ValidationError, match="mapping"):
        _native.typed_filter_exprs(["city=x"], ["city"])


def test_spark_options_and_cli_read_expressions_alike() -> None:
    text = "city=Rock & Roll;lifetime_value>100;is_vip!=true"
    exprs = text.split(";")
    # Spark keeps wire symbols; the CLI (and the Querier) take either.
    assert parse_filters(text) == [
        ("city", "=", "Rock & Roll"),
        ("lifetime_value", ">", "100"),
        ("is_vip", "!=", "true"),
    ]
    assert [
        (a, _native.filter_operator(op), v) for a, op, v in map(_native.parse_filter_expr, exprs)
    ] == parse_filters(text)
    settings = _Settings.from_options({"audience": AUDIENCE_ID, "filter": text})
    typed = _native.typed_filter_exprs(exprs, SCHEMA)
    assert settings.filters(SCHEMA) == [(a, _native.filter_operator(op), v) for a, op, v in typed]
    check_local(exprs, AUDIENCE_ID, 1000)
    for bad in ("ci ty=x", "=x", "city"):
        with pytest.raises(ValidationError):
            parse_filters(bad)
        with pytest.raises(ValidationError):
            check_local([bad])
