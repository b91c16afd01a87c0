"""The relaxed Extended JSON encoder: json_util's output, a budget, and no exceptions.

Both ways of writing it are held to the same text: ``encode``, the budgeted walk, and
``render``, the fast path that copies a document into what orjson serialises in one call.
"""

from __future__ import annotations

import collections
import datetime
import enum
import fnmatch
import json
import re
import uuid
from collections.abc import Iterator, Mapping
from typing import Any

import bson
import orjson
import pytest
from bson import json_util
from bson.binary import Binary
from bson.code import Code
from bson.datetime_ms import DatetimeMS
from bson.dbref import DBRef
from bson.decimal128 import Decimal128
from bson.int64 import Int64
from bson.json_util import RELAXED_JSON_OPTIONS
from bson.max_key import MaxKey
from bson.min_key import MinKey
from bson.objectid import ObjectId
from bson.raw_bson import RawBSONDocument
from bson.regex import Regex
from bson.son import SON
from bson.timestamp import Timestamp
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from mongo_structlog.documents import DEFAULT_REDACT_KEYS
from mongo_structlog.documents._extjson import MAX_DEPTH, KeyInfo, encode, json_string
from mongo_structlog.documents._extjson import render as fast_render
from mongo_structlog.documents._gate import KeyTable

# json_util refuses native UUIDs under its defaults; a client configured with
# uuidRepresentation=standard sends them as Binary subtype 4, which is what we log.
JSON_OPTIONS = RELAXED_JSON_OPTIONS.with_options(
    uuid_representation=bson.binary.UuidRepresentation.STANDARD
)


def json_util_value(value: Any) -> Any:
    """What json_util makes of a value, parsed back."""
    return json.loads(json_util.dumps(value, json_options=JSON_OPTIONS))


def is_redacted_name(name: str) -> bool:
    """An independent oracle for the built-in redaction list (fnmatch on each dotted part)."""
    lowered = name.lower()
    parts = {lowered, *lowered.split(".")}
    return any(fnmatch.fnmatchcase(part, p) for part in parts for p in DEFAULT_REDACT_KEYS)


class PlainKeys(dict[Any, KeyInfo]):
    """Key table redacting nothing, as the encoder's callers build it."""

    def __missing__(self, key: Any) -> KeyInfo:
        name = json_string(str(key)) + ":"
        return (False, name, name + '"?"')


KEYS = PlainKeys()
FAST_KEYS = KeyTable(lambda name: False)


def render(value: Any, budget: int = 10**9) -> str:
    return encode(value, budget, 0, KEYS)


def rendered_fast(value: Any, budget: int = 10**9) -> str:
    """The fast path's text, which must be the budgeted walk's."""
    return fast_render(value, budget, FAST_KEYS)


# -- strategies shared with test_documents ---------------------------------------------------

field_names = st.text(max_size=12).filter(lambda k: not is_redacted_name(k))
offsets = st.integers(min_value=-23 * 3600, max_value=23 * 3600).map(
    lambda s: datetime.timezone(datetime.timedelta(seconds=s))
)
scalars = st.one_of(
    st.none(),
    st.booleans(),
    # orjson parses integers up to 2**64 - 1 exactly; larger ones have their own test.
    st.integers(min_value=-(2**63), max_value=2**64 - 1),
    st.floats(),
    st.text(),
    st.binary(max_size=40),
    st.integers(min_value=-(2**63), max_value=2**63 - 1).map(Int64),
    st.datetimes(),
    st.datetimes(
        min_value=datetime.datetime(2, 1, 1),
        max_value=datetime.datetime(9998, 12, 31),
        timezones=offsets,
    ),
    st.integers(min_value=-(2**62), max_value=2**62).map(DatetimeMS),
    st.binary(min_size=12, max_size=12).map(ObjectId),
    st.decimals(allow_nan=False, places=4, min_value=-(10**20), max_value=10**20).map(Decimal128),
    st.sampled_from([Decimal128("NaN"), Decimal128("-Infinity"), Decimal128("1E+6000")]),
    st.builds(Binary, st.binary(max_size=40), st.sampled_from([0, 1, 2, 3, 4, 5, 6, 128, 255])),
    st.uuids(),
    st.builds(Regex, st.text(max_size=10), st.sampled_from(["", "i", "ms", "ilmsux"])),
    st.sampled_from(
        [re.compile("a+b", re.I | re.M), re.compile(b"^x", re.S), re.compile("é", re.X)]
    ),
    st.builds(Timestamp, st.integers(0, 2**32 - 1), st.integers(0, 2**32 - 1)),
    st.builds(Code, st.text(max_size=20)),
    st.just(MinKey()),
    st.just(MaxKey()),
)


def _raw(doc: dict[str, Any]) -> Any:
    try:
        data = bson.encode(doc)
        bson.decode(data)
        return RawBSONDocument(data)
    except Exception:  # not every Python document is valid BSON; the dict will do
        return doc


def _containers(children: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    docs = st.dictionaries(field_names, children, max_size=5)
    return st.one_of(
        st.lists(children, max_size=5),
        st.lists(children, max_size=3).map(tuple),
        docs,
        docs.map(lambda d: SON(sorted(d.items(), reverse=True))),
        docs.map(_raw),
        st.builds(Code, st.text(max_size=8), docs),
        st.builds(DBRef, st.text(max_size=8), children, st.none() | st.text(max_size=8)),
    )


values = st.recursive(scalars, _containers, max_leaves=30)
documents = st.dictionaries(field_names, values, max_size=8)


@st.composite
def deep_documents(draw: st.DrawFn) -> Any:
    """A value nested 101 to 150 levels deep, alternating documents and arrays."""
    value = draw(scalars)
    for level in range(draw(st.integers(min_value=101, max_value=150))):
        value = {draw(field_names): value} if level % 3 else [value, draw(scalars)]
    return {"deep": value}


large_arrays = st.tuples(scalars, st.integers(min_value=1000, max_value=5000)).map(
    lambda pair: {"big": [pair[0]] * pair[1], "range": list(range(pair[1]))}
)
# Fewer, richer examples: each document holds dozens of values of every type, and one in
# three is nested more than a hundred levels deep.
rich_documents = st.one_of(documents, documents, deep_documents())


# -- equality with json_util ------------------------------------------------------------------


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(documents, deep_documents(), large_arrays))
def test_uncut_text_is_what_json_util_says(doc: dict[str, Any]) -> None:
    text = render(doc)
    assert rendered_fast(doc) == text
    try:
        expected = json_util_value(doc)
    except Exception:  # json_util itself cannot say (e.g. a datetime out of range)
        assume(False)
    assert orjson.loads(text) == expected


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (ObjectId("5f1d7c2e9b1e8a3f4c2d1e0f"), '{"$oid":"5f1d7c2e9b1e8a3f4c2d1e0f"}'),
        (datetime.datetime(2026, 11, 25, 8, 0, 0, 123456), '{"$date":"2026-11-25T08:00:00.123Z"}'),
        (datetime.datetime(1970, 1, 1), '{"$date":"1970-01-01T00:00:00Z"}'),
        (datetime.datetime(1969, 12, 31, 23, 59, 59, 999000), '{"$date":{"$numberLong":"-1"}}'),
        (
            datetime.datetime(2020, 1, 1, tzinfo=datetime.timezone(datetime.timedelta(hours=-5))),
            '{"$date":"2020-01-01T00:00:00-0500"}',
        ),
        (
            datetime.datetime(9999, 12, 31, 23, 59, 59, 999999),
            '{"$date":"9999-12-31T23:59:59.999Z"}',
        ),
        (DatetimeMS(2**62), '{"$date":{"$numberLong":"4611686018427387904"}}'),
        (DatetimeMS(1000), '{"$date":"1970-01-01T00:00:01Z"}'),
        (Decimal128("1.10"), '{"$numberDecimal":"1.10"}'),
        (Int64(2**62), "4611686018427387904"),
        (float("nan"), '{"$numberDouble":"NaN"}'),
        (float("inf"), '{"$numberDouble":"Infinity"}'),
        (float("-inf"), '{"$numberDouble":"-Infinity"}'),
        (-0.0, "-0.0"),
        (1e300, "1e+300"),
        (
            Binary(b"\x01" * 16, 4),
            '{"$binary":{"base64":"AQEBAQEBAQEBAQEBAQEBAQ==","subType":"04"}}',
        ),
        (uuid.UUID(int=1), '{"$binary":{"base64":"AAAAAAAAAAAAAAAAAAAAAQ==","subType":"04"}}'),
        (b"abc", '{"$binary":{"base64":"YWJj","subType":"00"}}'),
        (Regex("^a", "im"), '{"$regularExpression":{"pattern":"^a","options":"im"}}'),
        (re.compile("a"), '{"$regularExpression":{"pattern":"a","options":"u"}}'),
        (Timestamp(1, 2), '{"$timestamp":{"t":1,"i":2}}'),
        (Code("f()"), '{"$code":"f()"}'),
        (Code("g(x)", {"x": 1}), '{"$code":"g(x)","$scope":{"x":1}}'),
        (MinKey(), '{"$minKey":1}'),
        (MaxKey(), '{"$maxKey":1}'),
        (DBRef("users", 7, "app", extra=True), '{"$ref":"users","$id":7,"$db":"app","extra":true}'),
        (SON([("b", 1), ("a", (2, [3]))]), '{"b":1,"a":[2,[3]]}'),
        (RawBSONDocument(bson.encode({"x": {"y": [1, "z"]}})), '{"x":{"y":[1,"z"]}}'),
        ('é"\\\n', '"é\\"\\\\\\n"'),
        (None, "null"),
        (True, "true"),
        (2**70, "1180591620717411303424"),
    ],
)
def test_every_bson_type_renders_as_relaxed_extended_json(value: Any, text: str) -> None:
    assert render(value) == text
    assert json.loads(render(value)) == json_util_value(value)


def test_integers_beyond_64_bits_render_as_json_util_does() -> None:
    doc = {"big": 2**100, "small": -(2**90)}
    assert json.loads(render(doc)) == json_util_value(doc)


class Colour(enum.IntEnum):
    RED = 1


class Text(str):
    pass


class Blob(Binary):
    pass


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (Colour.RED, "1"),
        (Text("x"), '"x"'),
        (Blob(b"a", 5), '{"$binary":{"base64":"YQ==","subType":"05"}}'),
        (collections.OrderedDict(a=1), '{"a":1}'),
        (collections.ChainMap({"a": 1}), '{"a":1}'),
    ],
)
def test_subclasses_render_as_their_base(value: Any, text: str) -> None:
    assert render(value) == text
    assert render(value) == text  # the second time through the remembered handler


class Exploding(Mapping[str, Any]):
    """A mapping that fails when read, as a corrupt RawBSONDocument does."""

    def __getitem__(self, key: str) -> Any:
        raise KeyError(key)

    def __iter__(self) -> Iterator[str]:
        raise RuntimeError("boom")

    def __len__(self) -> int:
        return 1


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (object(), '{"$unrenderable":"object"}'),
        (datetime.date(2020, 1, 1), '{"$unrenderable":"date"}'),
        ({1, 2}, '{"$unrenderable":"set"}'),
        (Exploding(), '{"$unrenderable":"Exploding"}'),
        (RawBSONDocument(b"\x06\x00\x00\x00\x0a\x00"), '{"$unrenderable":"RawBSONDocument"}'),
        (Regex(b"\xff"), '{"$unrenderable":"Regex"}'),
        (10**5000, '{"$unrenderable":"int"}'),
    ],
    ids=["object", "date", "set", "exploding", "corrupt-raw", "bad-regex", "huge-int"],
)
def test_what_cannot_be_rendered_becomes_a_placeholder(value: Any, text: str) -> None:
    assert render({"v": value}) == '{"v":' + text + "}"


def test_nesting_deeper_than_the_server_allows_is_cut_not_raised() -> None:
    doc: Any = "leaf"
    for _ in range(10_000):
        doc = {"a": [doc]}
    text = render(doc)
    assert text.count('{"$unrenderable":"too deep"}') == 1
    assert text.count("[") == MAX_DEPTH // 2


def test_documents_nested_deeper_than_the_server_allows_are_cut_not_raised() -> None:
    doc: Any = "leaf"
    for _ in range(1000):
        doc = {"a": doc}
    depth = MAX_DEPTH + 1
    assert render(doc) == '{"a":' * depth + '{"$unrenderable":"too deep"}' + "}" * depth


def test_deep_nesting_under_json_util_limit_is_rendered_whole() -> None:
    doc: Any = 1
    for _ in range(150):
        doc = {"a": doc}
    assert orjson.loads(render(doc)) == json_util_value(doc)


# -- the budget -------------------------------------------------------------------------------


@settings(max_examples=100, deadline=None)
@given(st.one_of(documents, large_arrays), st.integers(min_value=-5, max_value=400))
def test_a_budget_gives_the_exact_prefix_or_the_whole_text(doc: Any, budget: int) -> None:
    whole = render(doc)
    for cut in (render(doc, budget), rendered_fast(doc, max(budget, 0))):
        if len(whole) <= budget:
            assert cut == whole
        else:
            assert len(cut) > budget
            assert cut[: max(budget, 0)] == whole[: max(budget, 0)]


@pytest.mark.parametrize(
    "value",
    [
        "x" * 16_000_000,
        b"x" * 16_000_000,
        Binary(b"\x00" * 16_000_000, 5),
        list(range(100_000)),
        {str(i): i for i in range(100_000)},
        Code("y" * 16_000_000, {"a": 1}),
        Regex("z" * 16_000_000),
    ],
    ids=["str", "bytes", "binary", "array", "document", "code", "regex"],
)
def test_huge_values_are_not_rendered_whole_to_be_cut(value: Any) -> None:
    text = render(value, 1000)
    assert 1000 < len(text) < 1100
    assert text[:1000] == render(value)[:1000]


# -- the fast path ----------------------------------------------------------------------------


def nested(levels: int) -> Any:
    """A document this many arrays deep."""
    value: Any = {"a": 1}
    for _ in range(levels):
        value = [value]
    return value


@pytest.mark.parametrize(
    "doc",
    [
        {"deep": nested(40)},
        {"big": 2**64, "small": -(2**63) - 1},
        {"surrogate": "x\ud800"},
        {"\udfff": 1},
        {1: "one", "1": "also one"},
        {"code": Code("f()"), "scope": Code("g(x)", {"x": 1}), "text": Text("t")},
        {"colour": Colour.RED, "ordered": collections.OrderedDict(a=1)},
        {"raw": RawBSONDocument(bson.encode({"x": [1, {"y": 2}]})), "son": SON([("b", 1)])},
        {"floats": [0.0, -0.0, 1e-4, 9.5e-5, 1e16, 123.25, float("nan"), float("-inf")]},
        {"docs": [{"n": i, "s": "x" * 50} for i in range(100)]},
        {"range": list(range(2000))},
        {"long": "y" * 5000, "blob": b"z" * 5000},
    ],
    ids=[
        "deep",
        "beyond-64-bits",
        "lone-surrogate",
        "surrogate-name",
        "colliding-names",
        "code",
        "subclasses",
        "raw-and-son",
        "floats",
        "many-documents",
        "long-array",
        "long-values",
    ],
)
@pytest.mark.parametrize("budget", [0, 100, 1000, 10**9])
def test_the_fast_path_writes_what_the_budgeted_walk_writes(doc: Any, budget: int) -> None:
    whole = render(doc)
    fast = rendered_fast(doc, budget)
    if len(whole) <= budget:
        assert fast == whole
    else:
        assert fast[:budget] == whole[:budget]
        assert len(fast) > budget


def test_the_fast_path_redacts_what_the_key_table_says() -> None:
    keys = KeyTable(lambda name: name in {"token", "pwd"})
    doc = {"a": {"token": [1, 2], "b": [{"pwd": "x"}]}, "token": "t", "c": (1, "pwd")}
    expected = (
        '{"a":{"token":"[REDACTED]","b":[{"pwd":"[REDACTED]"}]},"token":"[REDACTED]","c":[1,"pwd"]}'
    )
    assert fast_render(doc, 10**9, keys) == expected
    assert fast_render(doc, 10**9, keys) == encode(doc, 10**9, 0, keys)
