"""Command shapes and their fingerprints: stable across releases, modes, limits and sizes."""

from __future__ import annotations

import datetime
import enum
import re
import uuid
from typing import Any

import pytest
from bson.binary import Binary
from bson.int64 import Int64
from bson.objectid import ObjectId
from bson.son import SON
from bson.timestamp import Timestamp

from mongo_structlog.documents import MODES, SENSITIVE_COMMANDS, DocumentRenderer, collection_of

LSID = {"id": Binary(uuid.UUID(int=1).bytes, 4)}
CLUSTER_TIME = {
    "clusterTime": Timestamp(1700000000, 1),
    "signature": {"hash": Binary(b"\x01" * 20), "keyId": Int64(7)},
}
SESSION = {"lsid": LSID, "$clusterTime": CLUSTER_TIME, "$db": "app"}

# Fingerprints as mongo_structlog 0.1.0 computed them: dashboards group on these.
RELEASED = [
    (
        "find",
        {"find": "users", "filter": {"email": "a@b.c", "age": {"$gt": 30}}, "sort": {"age": -1}}
        | {"limit": 10, **SESSION},
        "2889784f41b73a18",
    ),
    (
        "insert",
        {"insert": "users", "ordered": True, "lsid": LSID, "txnNumber": Int64(1)}
        | {"$clusterTime": CLUSTER_TIME, "$db": "app"}
        | {
            "documents": [
                {
                    "_id": ObjectId("5f1d7c2e9b1e8a3f4c2d1e0f"),
                    "email": "a@b.c",
                    "tags": ["x"],
                    "address": {"city": "Lyon"},
                }
            ]
        },
        "d2e79b700e359b9e",
    ),
    (
        "update",
        {"update": "users", "ordered": True, "$db": "app"}
        | {"updates": [{"q": {"_id": 1}, "u": {"$set": {"name": "x"}}, "upsert": True}]},
        "c39322c4eceb4572",
    ),
    (
        "delete",
        {"delete": "users", "ordered": True, "$db": "app"}
        | {"deletes": [{"q": {"age": {"$lt": 18}}, "limit": 0}]},
        "a1914888b264f44d",
    ),
    (
        "aggregate",
        {
            "aggregate": "orders",
            "pipeline": [
                {"$match": {"status": "A"}},
                {"$lookup": {"from": "inv", "localField": "sku", "foreignField": "sku", "as": "s"}},
                {"$group": {"_id": "$cust", "total": {"$sum": "$amount"}}},
            ],
            "cursor": {},
            "$db": "app",
        },
        "78ca12dce107dfa5",
    ),
    (
        "getMore",
        {"getMore": Int64(8312), "collection": "users", "batchSize": 5, "$db": "app"},
        "50638681957e2130",
    ),
    (
        "explain",
        {"explain": {"find": "users", "filter": {"a": 1}}, "verbosity": "queryPlanner"}
        | {"$db": "app"},
        "64eb080a03730345",
    ),
    (
        "findAndModify",
        {"findAndModify": "jobs", "query": {"state": "new"}, "$db": "app"}
        | {"update": [{"$set": {"state": "taken", "at": "$$NOW"}}]},
        "7a456d33364358ec",
    ),
    ("count", {"count": "users", "query": {"a": 1}, "$db": "app"}, "c9aff3f6cc4f7d3a"),
    ("ping", {"ping": 1, "$db": "admin"}, "6ded2cb3d01b6240"),
]


@pytest.mark.parametrize(("name", "command", "fingerprint"), RELEASED, ids=[r[0] for r in RELEASED])
@pytest.mark.parametrize("mode", MODES)
def test_fingerprints_are_those_of_the_first_release_in_every_mode(
    mode: str, name: str, command: dict[str, Any], fingerprint: str
) -> None:
    renderer = DocumentRenderer(mode)
    assert renderer.command(name, command)[1] == fingerprint
    assert renderer.command(name, command)[1] == fingerprint  # and once remembered


def test_fingerprints_do_not_depend_on_where_the_bookkeeping_sits() -> None:
    after = {"find": "users", "filter": {"a": 1}, "lsid": LSID, "$db": "app"}
    between = {"find": "users", "lsid": LSID, "$db": "other", "filter": {"a": 1}}
    bare = {"find": "users", "filter": {"a": 1}}
    for mode in MODES:
        renderer = DocumentRenderer(mode)
        shape = renderer.command("find", bare)[1]
        assert renderer.command("find", after)[1] == renderer.command("find", between)[1] == shape


# -- bookkeeping ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("session", "text"),
    [
        (SESSION, '"lsid":{"id":"?"},"$clusterTime":{"clusterTime":"?","signature":"[REDACTED]"}'),
        (
            {"lsid": {"id": {"uuid": 1}}, "$clusterTime": {"signature": {}, "clusterTime": 1}},
            '"lsid":{"id":{"uuid":"?"}},"$clusterTime":{"signature":"[REDACTED]","clusterTime":"?"}',
        ),
        (
            {
                "lsid": {"id": 1, "uid": 2},
                "$clusterTime": {"clusterTime": {"t": 1}, "signature": 1},
            },
            '"lsid":{"id":"?","uid":"?"},"$clusterTime":{"clusterTime":{"t":"?"},'
            '"signature":"[REDACTED]"}',
        ),
        ({"lsid": "odd", "$clusterTime": [1, 2]}, '"lsid":"?","$clusterTime":["?"]'),
    ],
    ids=["usual", "reordered", "unusual", "not-documents"],
)
def test_session_and_cluster_time_are_shaped_like_any_document(
    session: dict[str, Any], text: str
) -> None:
    command = {"find": "c", **session, "$db": "app"}
    assert DocumentRenderer("shape").command("find", command)[0] == (
        '{"find":"c",' + text + ',"$db":"app"}'
    )


def test_session_and_cluster_time_follow_the_users_redaction_list() -> None:
    renderer = DocumentRenderer("shape", ["id", "clustertime"])
    for _ in range(2):  # the second time through the remembered decisions
        assert renderer.command("find", {"find": "c", **SESSION})[0] == (
            '{"find":"c","lsid":{"id":"[REDACTED]"},'
            '"$clusterTime":{"clusterTime":"[REDACTED]","signature":"[REDACTED]"},"$db":"app"}'
        )
    hidden = DocumentRenderer("shape", ["lsid", "$db"]).command("find", {"find": "c", **SESSION})
    assert hidden[0] == (
        '{"find":"c","lsid":"[REDACTED]",'
        '"$clusterTime":{"clusterTime":"?","signature":"[REDACTED]"},"$db":"[REDACTED]"}'
    )


# -- sizes ------------------------------------------------------------------------------------


def test_a_shape_stops_after_twenty_thousand_items_whatever_the_mode_and_limit() -> None:
    documents = [{f"field{i}.{j}": j for j in range(1000)} for i in range(32)]
    command = {"insert": "c", "documents": documents, "ordered": True}
    shapes = set()
    for mode in MODES:
        for max_length in (100, 10**7):
            text, shape = DocumentRenderer(mode, max_length=max_length).command("insert", command)
            shapes.add(shape)
            if mode == "shape" and max_length == 10**7:
                assert text is not None
                assert text.count('{"$unrenderable":"too large"}') == 1
                assert text.endswith('{"$unrenderable":"too large"}],"ordered":"?"}')
    assert len(shapes) == 1


def test_a_command_of_more_than_twenty_thousand_members_is_too_large_to_shape() -> None:
    command = {"insert": "c", **{f"f{i}": i for i in range(20_001)}}
    text, shape = DocumentRenderer("shape").command("insert", command)
    assert text == '{"$unrenderable":"too large"}'
    assert shape == DocumentRenderer("full").command("insert", command)[1]


def test_long_kept_names_are_cut_and_fingerprinted_on_their_first_16_kib() -> None:
    long = "c" * 20_000
    short, whole = (DocumentRenderer("shape", max_length=n) for n in (30, 10**6))
    assert short.command("find", {"find": long})[0] == '{"find":"' + "c" * 21 + "..."
    assert whole.command("find", {"find": long})[0] == '{"find":"' + long + '"}'
    assert short.command("find", {"find": long})[1] == whole.command("find", {"find": long})[1]
    other = "c" * 19_999 + "d"  # differs past what the fingerprint reads
    assert short.command("find", {"find": other})[1] != whole.command("find", {"find": long})[1]


# -- odd documents ----------------------------------------------------------------------------


class Name(str):
    """A field name that is a str subclass."""


def test_names_that_are_not_plain_strings_are_shaped_by_their_text() -> None:
    command = {"find": "c", 1: "x", Name("lsid"): {"id": 1}, Name("filter"): SON([(2, 3)])}
    for _ in range(2):
        text, shape = DocumentRenderer("shape").command("find", command)
        assert text == '{"find":"c","1":"?","lsid":{"id":"?"},"filter":{"2":"?"}}'
        assert shape == DocumentRenderer("full").command("find", command)[1]
    # A str subclass named like bookkeeping is bookkeeping: it changes no fingerprint.
    plain = {"find": "c", 1: "y", "filter": {"2": 4}}
    assert shape == DocumentRenderer("shape").command("find", plain)[1]


def test_lone_surrogates_in_kept_names_are_escaped_and_fingerprinted() -> None:
    text, shape = DocumentRenderer("shape").command("find", {"find": "c\udc00", "filter": {}})
    assert text == '{"find":"c\\udc00","filter":{}}'
    assert re.fullmatch("[0-9a-f]{16}", shape)
    assert shape != DocumentRenderer("shape").command("find", {"find": "c", "filter": {}})[1]


@pytest.mark.parametrize("name", sorted(SENSITIVE_COMMANDS))
def test_sensitive_commands_name_no_collection(name: str) -> None:
    assert collection_of(name, {name: "alice"}) is None
    assert DocumentRenderer("shape").command("explain", {"explain": {name: "alice"}})[0] == (
        '{"explain":{"' + name + '":"?"}}'
    )


class Colour(enum.IntEnum):
    """An int subclass."""

    RED = 1


def test_values_of_any_type_are_question_marks() -> None:
    filter_ = {"colour": Colour.RED, "name": Name("x"), "day": datetime.date(2020, 1, 1)}
    for _ in range(2):  # the second time through the remembered types
        text = DocumentRenderer("shape").command("find", {"find": "c", "filter": filter_})[0]
        assert text == '{"find":"c","filter":{"colour":"?","name":"?","day":"?"}}'


def test_members_are_redacted_wherever_they_sit_in_the_command() -> None:
    command = {"find": "c", "password": "x", Name("token"): 1, "$db": "app"}
    for mode in ("shape", "full"):
        assert DocumentRenderer(mode).command("find", command)[0] == (
            '{"find":"c","password":"[REDACTED]","token":"[REDACTED]","$db":"app"}'
        )


def test_a_command_may_start_with_bookkeeping_or_be_empty() -> None:
    command = {"lsid": LSID, "find": "users", "$db": "app"}
    shapes = {DocumentRenderer(mode).command("find", command)[1] for mode in MODES}
    assert len(shapes) == 1
    assert DocumentRenderer("shape").command("find", command)[0] == (
        '{"lsid":{"id":"?"},"find":"?","$db":"app"}'
    )
    assert DocumentRenderer("shape").command("find", {})[0] == "{}"


def test_pipelines_stop_after_twenty_thousand_items_too() -> None:
    wide = {"aggregate": "c", "pipeline": [{"$project": {f"f{i}": 1 for i in range(20_001)}}]}
    long = {"aggregate": "c", "pipeline": [{"$limit": 1}] * 20_001}
    for command in (wide, long):
        text = DocumentRenderer("shape").command("aggregate", command)[0]
        assert '{"$unrenderable":"too large"}' in str(text)


def test_what_is_remembered_per_member_name_is_bounded() -> None:
    renderer = DocumentRenderer("shape", max_length=0)
    command = {"find": "c", **{f"member{i}": i for i in range(12_000)}}
    assert renderer.command("find", command) == renderer.command("find", command)
    assert len(renderer._shaper._actions) == 10_000
