"""Command documents made safe: redaction, shapes, fingerprints, cutting, replies and errors."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import uuid
from collections.abc import Iterator, Mapping
from pathlib import Path
from types import MappingProxyType
from typing import Any

import bson
import orjson
import pytest
import structlog
from bson.binary import Binary
from bson.int64 import Int64
from bson.objectid import ObjectId
from bson.raw_bson import RawBSONDocument
from bson.son import SON
from bson.timestamp import Timestamp
from hypothesis import given, settings
from hypothesis import strategies as st

from mongo_structlog.documents import (
    DEFAULT_REDACT_KEYS,
    MODES,
    REDACTED,
    SENSITIVE_COMMANDS,
    DocumentRenderer,
    RedactDocuments,
    collection_of,
    is_sensitive,
)

from .test_extjson import documents, json_util_value, rich_documents, values

SHAPE, FULL, NONE = (DocumentRenderer(mode) for mode in MODES)
LSID = {"id": Binary(uuid.UUID(int=1).bytes, 4)}
CLUSTER_TIME = {
    "clusterTime": Timestamp(1700000000, 1),
    "signature": {"hash": Binary(b"\x01" * 20), "keyId": Int64(7)},
}


class Exploding(Mapping[str, Any]):
    """A mapping that fails when read."""

    def __getitem__(self, key: str) -> Any:
        raise RuntimeError("boom")

    def __iter__(self) -> Iterator[str]:
        raise RuntimeError("boom")

    def __len__(self) -> int:
        return 1

    def __contains__(self, key: object) -> bool:
        raise RuntimeError("boom")


def find(filter: Mapping[str, Any], **extra: Any) -> dict[str, Any]:
    """A find command as PyMongo 4 builds it."""
    return {"find": "users", "filter": filter, "limit": 1, **extra, "lsid": LSID, "$db": "app"}


# -- sensitive commands -----------------------------------------------------------------------


def test_the_sensitive_commands_are_the_drivers_list() -> None:
    assert {
        "authenticate",
        "saslstart",
        "saslcontinue",
        "getnonce",
        "createuser",
        "updateuser",
        "copydbgetnonce",
        "copydbsaslstart",
        "copydb",
    } == SENSITIVE_COMMANDS


@pytest.mark.parametrize(
    ("name", "command", "sensitive"),
    [
        ("saslStart", {"saslStart": 1, "payload": b"x"}, True),
        ("SASLCONTINUE", {}, True),
        ("createUser", {"createUser": "alice", "pwd": "x"}, True),
        ("copydb", None, True),
        ("hello", {"hello": 1, "speculativeAuthenticate": {"saslStart": 1}}, True),
        ("isMaster", {"isMaster": 1, "speculativeAuthenticate": {}}, True),
        ("ismaster", {"ismaster": 1, "speculativeAuthenticate": {}}, True),
        ("hello", {"hello": 1}, False),
        ("hello", None, False),
        # PyMongo publishes a speculative hello's command as {}: a real hello is never empty.
        ("hello", {}, True),
        ("isMaster", {}, True),
        ("HELLO", {}, True),
        ("ping", {}, False),
        ("find", {"find": "users", "speculativeAuthenticate": 1}, False),
        ("ping", {"ping": 1}, False),
    ],
)
def test_is_sensitive(name: str, command: Mapping[str, Any] | None, sensitive: bool) -> None:
    assert is_sensitive(name, command) is sensitive


def test_a_command_that_cannot_be_looked_into_counts_as_sensitive() -> None:
    assert is_sensitive("hello", Exploding()) is True


@pytest.mark.parametrize("mode", ["shape", "full"])
@pytest.mark.parametrize(
    ("name", "command"),
    [
        ("saslStart", {"saslStart": 1, "mechanism": "SCRAM-SHA-256", "payload": b"n,,n=alice"}),
        ("authenticate", {"authenticate": 1, "user": "alice", "key": "abc"}),
        ("hello", {"hello": 1, "speculativeAuthenticate": {"saslStart": 1, "db": "admin"}}),
        ("createUser", {}),
    ],
)
def test_sensitive_commands_and_replies_log_empty_documents(
    mode: str, name: str, command: dict[str, Any]
) -> None:
    renderer = DocumentRenderer(mode)
    text, shape = renderer.command(name, command)
    assert text == "{}"
    assert shape == renderer.command(name, {**command, "other": "payload"})[1]
    assert re.fullmatch("[0-9a-f]{16}", shape)
    assert renderer.reply(name, {"ok": 1, "payload": b"secret", "conversationId": 1}, True) == "{}"


def test_sensitive_command_names_empty_the_reply_even_unflagged() -> None:
    assert FULL.reply("saslContinue", {"ok": 1, "payload": b"x"}, False) == "{}"


def test_sensitive_commands_log_no_text_in_mode_none() -> None:
    assert NONE.command("saslStart", {"saslStart": 1})[0] is None


# -- collection_of ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "command", "collection"),
    [
        ("find", {"find": "users", "filter": {}}, "users"),
        ("insert", {"insert": "orders", "documents": []}, "orders"),
        ("findAndModify", {"findAndModify": "jobs"}, "jobs"),
        ("createIndexes", {"createIndexes": "users", "indexes": []}, "users"),
        ("aggregate", {"aggregate": "orders", "pipeline": []}, "orders"),
        ("aggregate", {"aggregate": 1, "pipeline": []}, None),
        ("getMore", {"getMore": Int64(42), "collection": "users"}, "users"),
        ("getMore", {"getMore": Int64(42)}, None),
        ("explain", {"explain": {"count": "users"}, "verbosity": "queryPlanner"}, "users"),
        ("ping", {"ping": 1}, None),
        ("dropUser", {"dropUser": "alice"}, None),
        ("createUser", {"createUser": "alice"}, None),
        ("count", {"count": "users"}, "users"),
        ("distinct", {"distinct": "users", "key": "a"}, "users"),
        ("update", {"update": "users", "updates": []}, "users"),
        ("delete", {"delete": "users", "deletes": []}, "users"),
        ("create", {"create": "logs"}, "logs"),
        ("drop", {"drop": "logs"}, "logs"),
        ("listIndexes", {"listIndexes": "users"}, "users"),
        ("dropIndexes", {"dropIndexes": "users", "index": "*"}, "users"),
        ("collMod", {"collMod": "users"}, "users"),
        ("killCursors", {"killCursors": "users", "cursors": [Int64(1)]}, "users"),
        ("mapReduce", {"mapReduce": "users"}, "users"),
        ("validate", {"validate": "users"}, "users"),
        ("renameCollection", {"renameCollection": "app.a", "to": "app.b"}, "app.a"),
        # A first value that is not a collection is never one, whatever its type.
        ("usersInfo", {"usersInfo": "alice"}, None),
        ("rolesInfo", {"rolesInfo": "admin"}, None),
        ("setClusterParameter", {"setClusterParameter": {"p": "v"}}, None),
        ("logApplicationMessage", {"logApplicationMessage": "card 4111"}, None),
        ("getParameter", {"getParameter": "secret-name"}, None),
        ("filemd5", {"filemd5": "file-id", "root": "fs"}, None),
        ("explain", {"explain": {"usersInfo": "alice"}}, None),
        ("find", {}, None),
        ("find", Exploding(), None),
    ],
)
def test_collection_of(name: str, command: Mapping[str, Any], collection: str | None) -> None:
    assert collection_of(name, command) == collection


# -- settings ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"mode": "values"}, "documents mode must be one of shape, full, none; got 'values'"),
        ({"mode": "shape", "max_length": -1}, "max_length must be an integer >= 0; got -1"),
        ({"mode": "shape", "max_length": 1.5}, "max_length must be an integer >= 0; got 1.5"),
        ({"mode": "shape", "max_length": True}, "max_length must be an integer >= 0; got True"),
        ({"mode": "shape", "redact_keys": ["ok", 3]}, "redact keys must be strings; got 3"),
    ],
)
def test_bad_settings_raise_value_error_naming_the_value(
    kwargs: dict[str, Any], message: str
) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        DocumentRenderer(**kwargs)


# -- redaction --------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["shape", "full"])
@pytest.mark.parametrize(
    "key",
    [
        "password",
        "Password",
        "new_password",
        "passwordHash",
        "PASSWD",
        "pwd",
        "pass",
        "passphrase",
        "secret",
        "clientSecret",
        "token",
        "access_token",
        "refreshToken",
        "api_key",
        "X-Api-Key",
        "apiKey",
        "authorization",
        "Auth",
        "credentials",
        "cookie",
        "private_key",
        "ssn",
        "credit_card",
        "cardNumber",
        "card_number",
        "cc_number",
        "cvv",
        "CVC",
        "pan",
        "iban",
        "signature",
        "keyMaterial",
        "profile.password",
        "items.$.token",
    ],
)
def test_built_in_names_are_redacted_in_every_mode(mode: str, key: str) -> None:
    text, _ = DocumentRenderer(mode).command("insert", {"insert": "c", "documents": [{key: "v"}]})
    assert text == '{"insert":"c","documents":[{' + orjson.dumps(key).decode() + ':"[REDACTED]"}]}'


@pytest.mark.parametrize("key", ["author", "passage", "user", "name", "span", "company"])
def test_look_alike_names_are_not_redacted(key: str) -> None:
    text, _ = FULL.command("insert", {"insert": "c", "documents": [{key: "v"}]})
    assert REDACTED not in str(text)


def test_a_redacted_name_redacts_its_whole_subtree_in_documents_and_arrays() -> None:
    command = find({"a": [{"b": {"token": {"nested": ["x", {"y": 1}]}}}], "secret": [1, 2]})
    assert FULL.command("find", command)[0] == (
        '{"find":"users","filter":{"a":[{"b":{"token":"[REDACTED]"}}],"secret":"[REDACTED]"},'
        '"limit":1,"lsid":{"id":{"$binary":{"base64":"AAAAAAAAAAAAAAAAAAAAAQ==","subType":"04"}}},'
        '"$db":"app"}'
    )


def test_the_cluster_time_signature_never_shows_in_full_mode() -> None:
    text, _ = FULL.command("ping", {"ping": 1, "$clusterTime": CLUSTER_TIME, "$db": "admin"})
    assert text == (
        '{"ping":1,"$clusterTime":{"clusterTime":{"$timestamp":{"t":1700000000,"i":1}},'
        '"signature":"[REDACTED]"},"$db":"admin"}'
    )


@pytest.mark.parametrize(
    "redact_keys", [["email", "*_name"], "email, *_NAME", ("EMAIL", "", "*_name")]
)
def test_user_names_and_globs_add_to_the_built_in_list(redact_keys: Any) -> None:
    renderer = DocumentRenderer("full", redact_keys)
    doc = {"Email": "a@b.c", "first_name": "Ann", "name": "Ann", "password": "x"}
    assert renderer.command("insert", {"insert": "c", "documents": [doc]})[0] == (
        '{"insert":"c","documents":[{"Email":"[REDACTED]","first_name":"[REDACTED]",'
        '"name":"Ann","password":"[REDACTED]"}]}'
    )


def test_the_built_in_list_is_documented() -> None:
    page = (Path(__file__).parent.parent / "docs" / "redaction.md").read_text()
    for pattern in DEFAULT_REDACT_KEYS:
        assert f"`{pattern}`" in page


SECRET = "s3cr3t-d0-n0t-l0g"
redacted_names = st.sampled_from(
    ["password", "PassWord", "user.password", "api_key", "x_token", "signature", "cvv", "custom1"]
)


@st.composite
def planted(draw: st.DrawFn) -> dict[str, Any]:
    """A document with a secret under a redacted name somewhere inside it."""
    secret: Any = draw(
        st.sampled_from(
            [
                SECRET,
                {"inner": SECRET},
                [SECRET, 1],
                {"a": [{"b": SECRET}]},
                Binary(SECRET.encode()),
            ]
        )
    )
    value: Any = {draw(redacted_names): secret}
    for _ in range(draw(st.integers(min_value=0, max_value=6))):
        wrap = draw(st.sampled_from(["doc", "array", "son", "raw"]))
        if wrap == "array":
            value = [draw(values), value]
        elif wrap == "son":
            value = SON([("k", draw(values)), ("v", value)])
        elif wrap == "raw":
            try:
                value = RawBSONDocument(bson.encode({"v": value}))
            except Exception:  # not encodable as BSON: keep the dict
                value = {"v": value}
        else:
            value = {"v": value}
    doc = draw(documents)
    return {**doc, "planted": value}


@settings(max_examples=60, deadline=None)
@given(planted(), st.sampled_from(MODES), st.integers(min_value=0, max_value=100_000))
def test_planted_secrets_never_appear_in_any_mode(
    doc: dict[str, Any], mode: str, max_length: int
) -> None:
    renderer = DocumentRenderer(mode, ["custom*"], max_length)
    for command in (
        {"insert": "c", "documents": [doc]},
        {"update": "c", "updates": [{"q": doc, "u": {"$set": doc}}]},
        {"aggregate": "c", "pipeline": [{"$match": doc}, {"$project": doc}]},
        {"find": "c", "filter": doc, **doc},
    ):
        text, _ = renderer.command(next(iter(command)), command)
        assert SECRET not in str(text)
    assert SECRET not in renderer.reply("find", {"cursor": {"firstBatch": [doc]}, **doc}, False)


@pytest.mark.parametrize("mode", MODES)
def test_planted_secrets_never_appear_in_error_messages(mode: str) -> None:
    message = f'E11000 dup key: {{ password: "{SECRET}", x: {{ token: [ "{SECRET}" ] }} }}'
    assert SECRET not in DocumentRenderer(mode).error_message(message)


# -- shape mode -------------------------------------------------------------------------------


def test_shape_keeps_names_operators_collection_and_db_only() -> None:
    command = find(
        {"email": "a@b.c", "age": {"$gte": 18, "$lt": 65}, "tags": {"$in": ["a", "b", "c"]}},
        sort={"age": -1},
        projection={"email": 1, "_id": 0},
        **{"$clusterTime": CLUSTER_TIME},
    )
    assert SHAPE.command("find", command)[0] == (
        '{"find":"users","filter":{"email":"?","age":{"$gte":"?","$lt":"?"},"tags":{"$in":["?"]}},'
        '"limit":"?","sort":{"age":"?"},"projection":{"email":"?","_id":"?"},'
        '"$clusterTime":{"clusterTime":"?","signature":"[REDACTED]"},"lsid":{"id":"?"},"$db":"app"}'
    )


def test_shape_of_inserts_keeps_one_element_per_distinct_shape() -> None:
    docs = [{"_id": ObjectId(), "name": f"user{i}", "age": i} for i in range(10)]
    docs.append({"_id": ObjectId(), "name": "x", "address": {"city": "Paris"}})
    command = {"insert": "users", "ordered": True, "documents": docs, "$db": "app"}
    assert SHAPE.command("insert", command)[0] == (
        '{"insert":"users","ordered":"?","documents":[{"_id":"?","name":"?","age":"?"},'
        '{"_id":"?","name":"?","address":{"city":"?"}}],"$db":"app"}'
    )


def test_shape_of_updates_and_deletes() -> None:
    update = {
        "update": "users",
        "updates": [
            {"q": {"_id": 1}, "u": {"$set": {"name": "x"}, "$inc": {"n": 1}}, "upsert": True},
            {"q": {"_id": 2}, "u": [{"$set": {"total": {"$add": ["$a", "$b", 5]}}}]},
        ],
    }
    delete = {"delete": "users", "deletes": [{"q": {"age": {"$lt": 18}}, "limit": 0}]}
    assert SHAPE.command("update", update)[0] == (
        '{"update":"users","updates":[{"q":{"_id":"?"},"u":{"$set":{"name":"?"},"$inc":{"n":"?"}},'
        '"upsert":"?"},{"q":{"_id":"?"},"u":[{"$set":{"total":{"$add":["$a","$b","?"]}}}]}]}'
    )
    assert SHAPE.command("delete", delete)[0] == (
        '{"delete":"users","deletes":[{"q":{"age":{"$lt":"?"}},"limit":"?"}]}'
    )


def test_shape_of_find_and_modify_with_a_pipeline_update() -> None:
    command = {
        "findAndModify": "jobs",
        "query": {"state": "new"},
        "update": [{"$set": {"state": "taken", "at": "$$NOW"}}],
    }
    assert SHAPE.command("findAndModify", command)[0] == (
        '{"findAndModify":"jobs","query":{"state":"?"},"update":[{"$set":{"state":"?","at":"$$NOW"}}]}'
    )


def test_shape_of_pipelines_keeps_collections_fields_and_paths_inside_stages() -> None:
    pipeline = [
        {"$match": {"status": "A", "note": "$not-a-path-here", "$expr": {"$gt": ["$a", 1]}}},
        {
            "$lookup": {
                "from": "inventory",
                "localField": "sku",
                "foreignField": "sku",
                "as": "stock",
                "let": {"q": "$qty"},
                "pipeline": [{"$match": {"warehouse": "W1"}}, {"$project": {"qty": 1}}],
            }
        },
        {
            "$graphLookup": {
                "from": "staff",
                "startWith": "$boss",
                "connectFromField": "boss",
                "connectToField": "name",
                "as": "chain",
                "maxDepth": 3,
                "restrictSearchWithMatch": {"active": True},
            }
        },
        {
            "$unwind": {
                "path": "$stock",
                "includeArrayIndex": "i",
                "preserveNullAndEmptyArrays": True,
            }
        },
        {"$unwind": "$chain"},
        {"$group": {"_id": "$cust", "total": {"$sum": "$amount"}, "tag": {"$literal": "$cust"}}},
        {"$addFields": {"label": "VIP", "email": "$not an email"}},
        {"$facet": {"count": [{"$count": "n"}], "top": [{"$sort": {"total": -1}}, {"$limit": 5}]}},
        {"$unionWith": {"coll": "archive", "pipeline": [{"$match": {"y": 2020}}]}},
        {"$unionWith": "other"},
        {"$geoNear": {"near": [0, 1], "distanceField": "dist", "query": {"type": "$x"}}},
        {"$documents": [{"x": "$literal-looking"}]},
        {
            "$merge": {
                "into": {"db": "reports", "coll": "totals"},
                "on": ["_id"],
                "whenMatched": [{"$set": {"n": "$$new.n"}}],
                "whenNotMatched": "insert",
            }
        },
        {"$merge": "totals"},
        {"$merge": {"into": "totals", "whenMatched": "keepExisting"}},
        {"$out": {"db": "reports", "coll": "out", "timeseries": {"timeField": "t"}}},
        {"$out": "result"},
        "not a stage",
    ]
    command = {
        "aggregate": "orders",
        "pipeline": pipeline,
        "cursor": {"batchSize": 10},
        "$db": "app",
    }
    assert DocumentRenderer("shape", max_length=2000).command("aggregate", command)[0] == (
        '{"aggregate":"orders","pipeline":['
        '{"$match":{"status":"?","note":"?","$expr":{"$gt":["?"]}}},'
        '{"$lookup":{"from":"inventory","localField":"sku","foreignField":"sku","as":"stock",'
        '"let":{"q":"$qty"},"pipeline":[{"$match":{"warehouse":"?"}},{"$project":{"qty":"?"}}]}},'
        '{"$graphLookup":{"from":"staff","startWith":"$boss","connectFromField":"boss",'
        '"connectToField":"name","as":"chain","maxDepth":"?","restrictSearchWithMatch":{"active":"?"}}},'
        '{"$unwind":{"path":"$stock","includeArrayIndex":"i","preserveNullAndEmptyArrays":"?"}},'
        '{"$unwind":"$chain"},'
        '{"$group":{"_id":"$cust","total":{"$sum":"$amount"},"tag":{"$literal":"?"}}},'
        '{"$addFields":{"label":"?","email":"?"}},'
        '{"$facet":{"count":[{"$count":"n"}],"top":[{"$sort":{"total":"?"}},{"$limit":"?"}]}},'
        '{"$unionWith":{"coll":"archive","pipeline":[{"$match":{"y":"?"}}]}},'
        '{"$unionWith":"other"},'
        '{"$geoNear":{"near":["?"],"distanceField":"dist","query":{"type":"?"}}},'
        '{"$documents":[{"x":"?"}]},'
        '{"$merge":{"into":{"db":"reports","coll":"totals"},"on":["_id"],'
        '"whenMatched":[{"$set":{"n":"$$new.n"}}],"whenNotMatched":"insert"}},'
        '{"$merge":"totals"},'
        '{"$merge":{"into":"totals","whenMatched":"keepExisting"}},'
        '{"$out":{"db":"reports","coll":"out","timeseries":{"timeField":"?"}}},'
        '{"$out":"result"},'
        '"?"],"cursor":{"batchSize":"?"},"$db":"app"}'
    )


def test_odd_pipelines_are_shaped_without_raising() -> None:
    deep: Any = "$x"
    for _ in range(300):
        deep = {"$add": deep}
    wide = {f"field{i:04}": "$x" for i in range(2000)}
    command = {
        "aggregate": "c",
        "pipeline": [{"$lookup": {"from": 5}}, {"$project": wide}, {"$addFields": deep}],
    }
    text = DocumentRenderer("shape", max_length=200).command("aggregate", command)[0]
    assert text == (
        '{"aggregate":"c","pipeline":[{"$lookup":{"from":"?"}},{"$project":{"field0000":"$x",'
        '"field0001":"$x","field0002":"$x","field0003":"$x","field0004":"$x","field0005":"$x",'
        '"field0006":"$x","field0007":"$...'
    )
    text = DocumentRenderer("shape", max_length=10**6).command("aggregate", command)[0]
    assert '{"$add":{"$unrenderable":"too deep"}}' in str(text)


def test_field_paths_outside_pipelines_are_values() -> None:
    command = find({"$expr": {"$eq": ["$a", "$b"]}, "price": "$100"})
    assert SHAPE.command("find", command)[0] == (
        '{"find":"users","filter":{"$expr":{"$eq":["?"]},"price":"?"},"limit":"?","lsid":{"id":"?"},'
        '"$db":"app"}'
    )


@pytest.mark.parametrize(
    ("name", "command", "text"),
    [
        ("ping", {"ping": 1}, '{"ping":1}'),
        ("hello", {"hello": True}, '{"hello":true}'),
        ("aggregate", {"aggregate": 1.0, "pipeline": []}, '{"aggregate":"?","pipeline":[]}'),
        ("dropUser", {"dropUser": "alice"}, '{"dropUser":"?"}'),
        (
            "getMore",
            {"getMore": Int64(8312), "collection": "users", "batchSize": 5},
            '{"getMore":"?","collection":"users","batchSize":"?"}',
        ),
        ("find", {"find": "c", "collection": "x"}, '{"find":"c","collection":"?"}'),
        (
            "explain",
            {"explain": {"find": "users", "filter": {"a": 1}}, "verbosity": "queryPlanner"},
            '{"explain":{"find":"users","filter":{"a":"?"}},"verbosity":"?"}',
        ),
        (
            "bulkWrite",
            {
                "bulkWrite": 1,
                "ops": [{"insert": 0, "document": {"a": 1}}],
                "nsInfo": [{"ns": "app.c"}],
            },
            '{"bulkWrite":1,"ops":[{"insert":"?","document":{"a":"?"}}],"nsInfo":[{"ns":"app.c"}]}',
        ),
        ("find", {"password": "x", "find": "c"}, '{"password":"[REDACTED]","find":"?"}'),
    ],
)
def test_shape_keeps_the_commands_own_first_value(
    name: str, command: dict[str, Any], text: str
) -> None:
    assert SHAPE.command(name, command)[0] == text


@pytest.mark.parametrize(
    ("name", "command", "text"),
    [
        ("usersInfo", {"usersInfo": "alice"}, '{"usersInfo":"?"}'),
        ("logApplicationMessage", {"logApplicationMessage": "x"}, '{"logApplicationMessage":"?"}'),
        (
            "setClusterParameter",
            {"setClusterParameter": {"find": "x", "p": "v"}},
            '{"setClusterParameter":{"find":"?","p":"?"}}',
        ),
        ("explain", {"explain": {"usersInfo": "alice"}}, '{"explain":{"usersInfo":"?"}}'),
    ],
)
def test_shape_writes_a_first_value_only_when_the_catalogue_says_it_is_a_collection(
    name: str, command: dict[str, Any], text: str
) -> None:
    assert SHAPE.command(name, command)[0] == text
    assert collection_of(name, command) is None


def test_command_shape_cannot_confirm_a_first_value_that_shape_hides() -> None:
    for name in ("usersInfo", "logApplicationMessage", "getParameter"):
        one = SHAPE.command(name, {name: "alice"})[1]
        assert one == SHAPE.command(name, {name: "bob"})[1] == NONE.command(name, {name: "x"})[1]
    assert SHAPE.command("find", {"find": "a"})[1] != SHAPE.command("find", {"find": "b"})[1]


def test_the_collection_field_is_the_catalogues_collection_cut() -> None:
    renderer = DocumentRenderer("none", max_length=4)
    assert renderer.collection("find", {"find": "customers"}) == "cust..."
    assert renderer.collection("getMore", {"getMore": Int64(1), "collection": "abc"}) == "abc"
    assert renderer.collection("usersInfo", {"usersInfo": "alice"}) is None


@settings(max_examples=60, deadline=None)
@given(rich_documents)
def test_shape_shows_no_value_of_a_filter(doc: dict[str, Any]) -> None:
    marked = mark_strings(doc)
    text, _ = SHAPE.command("find", {"find": "c", "filter": marked})
    assert "\u2063VALUE\u2063" not in str(text)


def mark_strings(value: Any) -> Any:
    """The value with every string leaf marked with an invisible separator."""
    if isinstance(value, str):
        return "\u2063VALUE\u2063" + value
    if isinstance(value, Mapping):
        return {k: mark_strings(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [mark_strings(v) for v in value]
    return value


def test_shape_of_nesting_deeper_than_the_server_allows_is_cut_not_raised() -> None:
    doc: Any = "leaf"
    for _ in range(5000):
        doc = {"a": [doc]}
    text, _ = DocumentRenderer("shape", max_length=10**6).command(
        "insert", {"insert": "c", "d": doc}
    )
    assert text == (
        '{"insert":"c","d":' + '{"a":[' * 100 + '{"$unrenderable":"too deep"}' + "]}" * 100 + "}"
    )
    explained: Any = {"find": "c"}
    for _ in range(300):
        explained = {"explain": explained}
    deep = DocumentRenderer("shape", max_length=10**6)
    assert '{"$unrenderable":"too deep"}' in str(deep.command("explain", explained)[0])
    nested: Any = 1
    for _ in range(300):
        nested = [nested, {}]
    text = str(deep.command("insert", {"insert": "c", "d": nested})[0])
    assert '[{"$unrenderable":"too deep"}]' in text
    assert text.count("[") == 200


def test_a_pipeline_that_is_not_a_list_is_shaped_as_a_value() -> None:
    command = {"aggregate": "c", "pipeline": {"$match": {"a": 1}}}
    assert SHAPE.command("aggregate", command)[0] == (
        '{"aggregate":"c","pipeline":{"$match":{"a":"?"}}}'
    )


# -- command_shape ----------------------------------------------------------------------------


def shape_of(command: dict[str, Any], name: str = "find") -> str:
    return SHAPE.command(name, command)[1]


def test_command_shape_is_sixteen_lower_case_hex_digits_in_every_mode() -> None:
    command = find({"a": 1})
    shapes = {DocumentRenderer(mode).command("find", command)[1] for mode in MODES}
    assert len(shapes) == 1
    assert re.fullmatch("[0-9a-f]{16}", shapes.pop())


def test_command_shape_ignores_values_and_array_lengths() -> None:
    assert shape_of(find({"a": 1, "b": {"$in": [1, 2]}})) == shape_of(
        find({"a": "x", "b": {"$in": [3, 4, 5, 6]}})
    )


def test_command_shape_ignores_driver_bookkeeping() -> None:
    bare = {"find": "users", "filter": {"a": 1}}
    busy = {
        **bare,
        "lsid": LSID,
        "txnNumber": Int64(3),
        "autocommit": False,
        "startTransaction": True,
        "$clusterTime": CLUSTER_TIME,
        "$db": "other",
        "$readPreference": {"mode": "secondary"},
        "readConcern": {"level": "majority"},
        "writeConcern": {"w": 1},
        "apiVersion": "1",
        "apiStrict": True,
        "apiDeprecationErrors": True,
        "maxTimeMS": 100,
        "comment": "hi",
        "recoveryToken": {"x": 1},
    }
    assert shape_of(bare) == shape_of(busy)


@pytest.mark.parametrize(
    "other",
    [
        {"find": "users", "filter": {"b": 1}},
        {"find": "users", "filter": {"a": {"$gt": 1}}},
        {"find": "users", "filter": {"a": 1}, "sort": {"a": 1}},
        {"find": "orders", "filter": {"a": 1}},
        {"find": "users", "filter": {"a": 1, "b": 1}},
    ],
)
def test_command_shape_changes_with_a_field_an_operator_or_the_collection(
    other: dict[str, Any],
) -> None:
    assert shape_of({"find": "users", "filter": {"a": 1}}) != shape_of(other)


def test_command_shape_changes_with_the_command_name() -> None:
    command = {"count": "users", "query": {"a": 1}}
    assert shape_of(command, "count") != shape_of(command, "Count")


def test_command_shape_is_the_same_in_every_process() -> None:
    # Dashboards group by it: a change here is a breaking change.
    command = {"find": "users", "filter": {"email": "a@b.c"}, "$db": "app"}
    assert shape_of(command) == "45baf33e3b940b4a"
    assert SHAPE.command("saslStart", {})[1] == "1e7d3048f203e524"
    code = (
        "from mongo_structlog.documents import DocumentRenderer as R;"
        "print(R('full').command('find', {'find': 'users', 'filter': {'email': 'z'}})[1])"
    )
    env = {**os.environ, "PYTHONHASHSEED": "12345"}
    out = subprocess.run(
        [sys.executable, "-c", code],
        env=env,
        cwd=Path(__file__).parent.parent,
        capture_output=True,
        text=True,
        check=True,
    )
    assert out.stdout.strip() == "45baf33e3b940b4a"


@pytest.mark.parametrize(
    "command",
    [
        {"insert": "c", "documents": [{f"{i}{'k' * 1000}": 1} for i in range(32)]},
        {"insert": "c", **{f"{i}{'k' * 1000}": 1 for i in range(32)}},
    ],
    ids=["array", "command"],
)
def test_huge_shapes_are_cut_without_rendering_them_whole(command: dict[str, Any]) -> None:
    big = DocumentRenderer("shape", max_length=20_000)
    text, shape = big.command("insert", command)
    assert len(str(text)) == 20_003
    assert shape == SHAPE.command("insert", command)[1]


def test_command_shape_of_huge_shapes_stays_stable() -> None:
    wide = {"find": "c", "filter": {f"field{i}": i for i in range(5000)}}
    assert shape_of(wide) == DocumentRenderer("shape", max_length=200_000).command("find", wide)[1]


# -- cutting ----------------------------------------------------------------------------------


def test_long_text_is_cut_to_max_length_followed_by_dots() -> None:
    renderer = DocumentRenderer("full", max_length=20)
    text, _ = renderer.command("find", {"find": "users", "filter": {"name": "abcdefghij"}})
    assert text == '{"find":"users","fil...'


def test_text_as_long_as_max_length_is_untouched() -> None:
    command = {"find": "users"}
    assert DocumentRenderer("full", max_length=16).command("find", command)[0] == '{"find":"users"}'
    assert (
        DocumentRenderer("full", max_length=15).command("find", command)[0] == '{"find":"users"...'
    )


def test_max_length_zero_logs_only_dots() -> None:
    renderer = DocumentRenderer("shape", max_length=0)
    assert renderer.command("ping", {"ping": 1})[0] == "..."
    assert renderer.reply("ping", {"ok": 1}, False) == "..."
    assert renderer.error_message("boom") == "..."


def test_cutting_never_splits_a_code_point() -> None:
    text, _ = DocumentRenderer("full", max_length=12).command("find", {"find": "🐍🐍🐍🐍🐍🐍🐍🐍"})
    assert text == '{"find":"🐍🐍🐍...'


@pytest.mark.parametrize(
    "command",
    [
        {"insert": "c", "documents": [{"blob": "x" * 16_000_000}]},
        {"insert": "c", "documents": [{"n": i} for i in range(100_000)]},
        {"find": "c", "filter": {"_id": {"$in": list(range(100_000))}}},
    ],
    ids=["16MB-string", "100k-documents", "100k-in"],
)
@pytest.mark.parametrize("mode", MODES)
def test_huge_commands_are_cut_without_rendering_them_whole(mode: str, command: Any) -> None:
    text, shape = DocumentRenderer(mode).command(next(iter(command)), command)
    if mode == "none":
        assert text is None
    else:
        assert text is not None
        assert len(text) <= 1003
    assert len(shape) == 16


@settings(max_examples=60, deadline=None)
@given(rich_documents, st.sampled_from(MODES), st.integers(min_value=0, max_value=300))
def test_text_never_exceeds_max_length_plus_three(
    doc: dict[str, Any], mode: str, max_length: int
) -> None:
    renderer = DocumentRenderer(mode, max_length=max_length)
    whole = DocumentRenderer(mode, max_length=10**9)
    command = {"insert": "c", "documents": [doc], **doc}
    text, shape = renderer.command("insert", command)
    full_text, full_shape = whole.command("insert", command)
    assert shape == full_shape
    if text is not None and full_text is not None:
        assert len(text) <= max_length + 3
        if len(full_text) > max_length:
            assert text == full_text[:max_length] + "..."
        else:
            assert text == full_text
    reply = renderer.reply("insert", doc, False)
    assert len(reply) <= max_length + 3


def test_lone_surrogates_are_escaped_so_the_record_stays_valid_utf8() -> None:
    text, _ = FULL.command("find", {"find": "c", "filter": {"\ud800": "x\udfff"}})
    assert text == '{"find":"c","filter":{"\\ud800":"x\\udfff"}}'
    assert SHAPE.command("find", {"find": "c", "filter": {"\ud800": 1}})[0] == (
        '{"find":"c","filter":{"\\ud800":"?"}}'
    )


# -- full mode --------------------------------------------------------------------------------


@settings(max_examples=60, deadline=None)
@given(rich_documents)
def test_full_mode_is_json_util_when_nothing_is_redacted_or_cut(doc: dict[str, Any]) -> None:
    command = {"insert": "c", **doc}
    try:
        expected = json_util_value(command)
    except Exception:  # json_util itself cannot render it
        return
    text, _ = DocumentRenderer("full", max_length=10**9).command("insert", command)
    assert orjson.loads(str(text)) == expected


# -- never raises, never mutates --------------------------------------------------------------


class BadName(str):
    def lower(self) -> str:
        raise RuntimeError("boom")


@pytest.mark.parametrize("mode", MODES)
def test_unreadable_documents_are_logged_as_placeholders_never_raised(mode: str) -> None:
    renderer = DocumentRenderer(mode)
    text, shape = renderer.command("find", Exploding())
    assert text == (None if mode == "none" else '{"$unrenderable":"Exploding"}')
    assert len(shape) == 16
    assert renderer.command(BadName("find"), {"find": "c"})[1] == shape
    listed = None if mode == "none" else '{"$unrenderable":"list"}'
    assert renderer.command("find", [1, 2]) == (listed, shape)  # type: ignore[arg-type]
    assert renderer.reply("find", Exploding(), False) == '{"$unrenderable":"Exploding"}'
    assert renderer.error_message(BadMessage()) == '{"$unrenderable":"BadMessage"}'  # type: ignore[arg-type]


def lowest_recursion_limit() -> int:
    """The lowest recursion limit Python accepts here: the interpreter's own depth count."""
    limit = sys.getrecursionlimit()
    try:
        for lowest in range(1, limit):
            try:
                sys.setrecursionlimit(lowest)
                return lowest
            except RecursionError:  # lower than the current depth
                continue
        return limit
    finally:
        sys.setrecursionlimit(limit)


@pytest.mark.parametrize("mode", MODES)
def test_never_raises_even_with_the_stack_all_but_exhausted(mode: str) -> None:
    renderer = DocumentRenderer(mode, max_length=10**6)
    doc: Any = 1
    for _ in range(150):
        doc = {"a": [doc]}
    command = {"insert": "c", "documents": [doc]}
    calls: list[tuple[Any, tuple[Any, ...]]] = [
        (renderer.command, ("insert", command)),
        (renderer.reply, ("insert", command, False)),
        (renderer.error_message, ("{ a: " * 300,)),
        (RedactDocuments(renderer), (None, "info", {"command": command, "reply": command})),
    ]
    limit, lowest = sys.getrecursionlimit(), lowest_recursion_limit()
    results = []
    for call, args in calls:
        for headroom in range(1, 60):
            # Room for the call itself and a few frames more, as deep inside an application.
            sys.setrecursionlimit(lowest + headroom)
            try:
                results.append(call(*args))
            finally:
                sys.setrecursionlimit(limit)
    assert len(results) == len(calls) * 59  # every call returned: none raised
    # Where the stack gave out, a placeholder stands in. Which one depends on how deep the
    # interpreter lets the fallback itself go: Python 3.12 counts frames differently and
    # gives the fallbacks more room, so the last resort is seen only before it.
    if sys.version_info < (3, 12):
        assert '{"$unrenderable":"RecursionError"}' in str(results)


class BadMessage:
    def __str__(self) -> str:
        raise RuntimeError("boom")


def read_only(value: Any) -> Any:
    """The value with every document behind a MappingProxyType and every list a tuple."""
    if isinstance(value, Mapping) and not isinstance(value, RawBSONDocument):
        return MappingProxyType({k: read_only(v) for k, v in value.items()})
    if isinstance(value, (list, tuple)):
        return tuple(read_only(v) for v in value)
    return value


@settings(max_examples=50, deadline=None)
@given(rich_documents, st.sampled_from(MODES))
def test_documents_are_never_changed(doc: dict[str, Any], mode: str) -> None:
    raw = RawBSONDocument(bson.encode({"v": 1}))
    son = SON([("b", doc), ("a", [doc, raw])])
    command = {"insert": "c", "documents": [doc, son, raw], "filter": son}
    before = repr(command)
    renderer = DocumentRenderer(mode)
    text = renderer.command("insert", command)
    reply = renderer.reply("insert", command, False)
    assert repr(command) == before
    # Any write into a read-only copy would have ended in a placeholder.
    assert renderer.command("insert", read_only(command)) == text
    assert renderer.reply("insert", read_only(command), False) == reply


# -- replies ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("reply", "summary"),
    [
        ({"ok": 1.0}, '{"ok":1}'),
        ({"n": 3, "ok": 1.0}, '{"ok":1,"n":3}'),
        ({"n": 2, "nModified": Int64(1), "ok": 1}, '{"ok":1,"n":2,"nModified":1}'),
        (
            {
                "cursor": {"id": Int64(8312), "ns": "app.users", "firstBatch": [{"a": 1}] * 3},
                "ok": 1.0,
            },
            '{"ok":1,"cursorId":8312,"batchSize":3}',
        ),
        ({"cursor": {"id": 0, "nextBatch": []}, "ok": 1}, '{"ok":1,"cursorId":0,"batchSize":0}'),
        ({"cursor": {"id": 5}, "ok": 1}, '{"ok":1,"cursorId":5}'),
        (
            {
                "n": 1,
                "writeErrors": [{"index": 1, "code": 11000, "errmsg": 'dup key: { email: "x" }'}],
                "ok": 1,
            },
            '{"ok":1,"n":1,"writeErrors":1}',
        ),
        ({"ok": True, "n": 2.5, "cursor": "odd", "writeErrors": []}, '{"ok":1,"n":2.5}'),
        ({"ok": 1, "n": float("nan"), "nModified": "3"}, '{"ok":1}'),
        ({"ok": 0.0, "n": 2.0, "nModified": Int64(1)}, '{"ok":0,"n":2,"nModified":1}'),
        (RawBSONDocument(bson.encode({"n": 4, "ok": 1.0})), '{"ok":1,"n":4}'),
    ],
)
@pytest.mark.parametrize("mode", ["shape", "none"])
def test_replies_outside_full_mode_are_a_summary_of_safe_counters(
    mode: str, reply: Mapping[str, Any], summary: str
) -> None:
    assert DocumentRenderer(mode).reply("find", reply, False) == summary


def test_replies_in_full_mode_are_rendered_and_redacted() -> None:
    reply = {"cursor": {"firstBatch": [{"name": "Ann", "token": "t"}], "id": Int64(0)}, "ok": 1.0}
    assert FULL.reply("find", reply, False) == (
        '{"cursor":{"firstBatch":[{"name":"Ann","token":"[REDACTED]"}],"id":0},"ok":1.0}'
    )


# -- error messages ---------------------------------------------------------------------------

GEO = (
    "Can't extract geo keys: {{ _id: ObjectId('5f1d7c2e9b1e8a3f4c2d1e0f'), "
    'loc: {{ type: "Point", coordinates: [ 1.5, "x,y" ] }}, password: {password} }} '
    "Point must only contain numbers"
)
DUP = 'E11000 duplicate key error collection: app.users index: email_1 dup key: { email: "a@b.c" }'


@pytest.mark.parametrize(
    ("message", "shape", "full"),
    [
        (
            DUP,
            "E11000 duplicate key error collection: app.users index: email_1 dup key: { email: ? }",
            DUP,
        ),
        (
            'dup key: { : "a@b.c", : 12 }',
            "dup key: { : ?, : ? }",
            'dup key: { : "a@b.c", : 12 }',
        ),
        (
            GEO.format(password="{ a: [1] }"),
            "Can't extract geo keys: { _id: ?, loc: { type: ?, coordinates: [ ?, ? ] }, "
            "password: [REDACTED] } Point must only contain numbers",
            GEO.format(password="[REDACTED]"),
        ),
        (
            'Failed: { "odd key": "v", token: new Date(1, 2), n: BinData(0, AAAA) }',
            'Failed: { "odd key": ?, token: [REDACTED], n: ? }',
            'Failed: { "odd key": "v", token: [REDACTED], n: BinData(0, AAAA) }',
        ),
        ("no documents here", "no documents here", "no documents here"),
        ('truncated { email: "a@b', "truncated { email: ?", 'truncated { email: "a@b'),
        ("truncated { secret", "truncated { ?", "truncated { secret"),
        ("truncated { a: [ 1", "truncated { a: [ ?", "truncated { a: [ 1"),
        ("odd { a: 1 ] b } c", "odd { a: ? ] ? } c", "odd { a: 1 ] b } c"),
        ("odd { a: f(1, 2), b: ) }", "odd { a: ?, b: ? }", "odd { a: f(1, 2), b: ) }"),
        ("odd { a: [ 1 } ] }", "odd { a: [ ? } ] }", "odd { a: [ 1 } ] }"),
        ("bare { 42, x: 'q' }", "bare { ?, x: ? }", "bare { 42, x: 'q' }"),
        ('esc { a: "q\\"x", b: "\\\\" }', "esc { a: ?, b: ? }", 'esc { a: "q\\"x", b: "\\\\" }'),
        ("empty { } and {}", "empty { } and {}", "empty { } and {}"),
        ("end { a:", "end { a:", "end { a:"),
        ("two { a: 1 } and { b: 2 }", "two { a: ? } and { b: ? }", "two { a: 1 } and { b: 2 }"),
    ],
)
def test_error_messages_are_scrubbed_by_mode(message: str, shape: str, full: str) -> None:
    assert SHAPE.error_message(message) == shape
    assert NONE.error_message(message) == shape
    assert FULL.error_message(message) == full


def test_full_mode_replies_pass_their_error_prose_through_the_gate() -> None:
    reply = {
        "ok": 1,
        "n": 0,
        "writeErrors": [
            {
                "index": 0,
                "code": 11000,
                "errmsg": 'E11000 duplicate key error dup key: { api_key: "sk_live_1" }',
                "keyValue": {"api_key": "sk_live_1"},
            },
            {
                "index": 1,
                "code": 121,
                "errmsg": "Document failed validation",
                "errInfo": {
                    "details": {
                        "operatorName": "$jsonSchema",
                        "schemaRulesNotSatisfied": [
                            {
                                "operatorName": "properties",
                                "propertiesNotSatisfied": [
                                    {
                                        "propertyName": "password",
                                        "details": [{"consideredValue": "hunter2"}],
                                    },
                                    {"propertyName": "age", "details": [{"consideredValue": -1}]},
                                ],
                            }
                        ],
                    }
                },
            },
        ],
    }
    text = FULL.reply("insert", reply, False)
    assert "sk_live_1" not in text
    assert "hunter2" not in text
    assert '"errmsg":"E11000 duplicate key error dup key: { api_key: [REDACTED] }"' in text
    assert '{"propertyName":"password","details":"[REDACTED]"}' in text
    assert '{"propertyName":"age","details":[{"consideredValue":-1}]}' in text
    assert reply["writeErrors"][0]["errmsg"].endswith('"sk_live_1" }')  # never changed


def test_error_messages_are_cut() -> None:
    assert DocumentRenderer("shape", max_length=10).error_message("x" * 50) == "x" * 10 + "..."


def test_huge_error_messages_are_clipped_before_scrubbing() -> None:
    message = 'dup key: { email: "' + "a" * 200_000 + '" }'
    assert SHAPE.error_message(message) == "dup key: { email: ?..."


def test_deeply_nested_error_documents_do_not_raise() -> None:
    message = "deep " + "{ a: " * 5000 + "1" + " }" * 5000
    assert SHAPE.error_message(message).startswith("deep { a: { a: ")


# -- the structlog processor ------------------------------------------------------------------


def chain(*processors: Any) -> Any:
    return structlog.wrap_logger(
        structlog.ReturnLogger(),
        processors=[*processors, structlog.processors.JSONRenderer(serializer=orjson_dumps)],
    )


def orjson_dumps(value: Any, **_: Any) -> str:
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS).decode()


def test_the_processor_replaces_raw_documents_in_a_users_chain() -> None:
    log = chain(RedactDocuments())
    line = log.info(
        "query",
        command_name="find",
        command={"find": "users", "filter": {"email": "a@b.c", "password": "x"}},
        reply={"cursor": {"id": 0, "firstBatch": [{"email": "a@b.c"}]}, "ok": 1.0},
    )
    assert orjson.loads(line) == {
        "event": "query",
        "command_name": "find",
        "command": '{"find":"users","filter":{"email":"?","password":"[REDACTED]"}}',
        "command_shape": SHAPE.command(
            "find", {"find": "users", "filter": {"email": 1, "password": 2}}
        )[1],
        "reply": '{"ok":1,"cursorId":0,"batchSize":1}',
    }


def test_the_processor_guesses_the_name_and_drops_the_command_in_mode_none() -> None:
    log = chain(RedactDocuments(DocumentRenderer("none")))
    line = log.info("q", command={"saslStart": 1, "payload": "x"}, reply={"payload": "y", "ok": 1})
    assert orjson.loads(line) == {
        "event": "q",
        "command_shape": NONE.command("saslStart", {})[1],
        "reply": "{}",
    }


def test_the_processor_renders_a_command_without_a_reply() -> None:
    log = chain(RedactDocuments(DocumentRenderer("full")))
    line = log.debug("q", command_name="ping", command={"ping": 1})
    assert orjson.loads(line) == {
        "event": "q",
        "command_name": "ping",
        "command": '{"ping":1}',
        "command_shape": FULL.command("ping", {"ping": 1})[1],
    }


def test_the_processor_treats_a_speculative_authentication_reply_as_sensitive() -> None:
    log = chain(RedactDocuments(DocumentRenderer("full")))
    line = log.info("q", command_name="hello", reply={"speculativeAuthenticate": {}, "ok": 1})
    assert orjson.loads(line) == {"event": "q", "command_name": "hello", "reply": "{}"}


def test_the_processor_leaves_other_events_alone() -> None:
    event = {"event": "x", "command": "already text", "reply": None}
    assert RedactDocuments()(None, "info", event) == {
        "event": "x",
        "command": "already text",
        "reply": None,
    }


def test_the_processor_never_lets_a_raw_document_through() -> None:
    class Broken(DocumentRenderer):
        def reply(self, command_name: str, reply: Mapping[str, Any], sensitive: bool) -> str:
            raise RuntimeError("boom")

    event = {"command": {"find": "c"}, "reply": {"ok": 1}, "command_name": "find"}
    assert RedactDocuments(Broken("shape"))(None, "info", event) == {
        "command": '{"find":"c"}',
        "command_shape": SHAPE.command("find", {"find": "c"})[1],
        "reply": '{"$unrenderable":"dict"}',
        "command_name": "find",
    }


def test_the_key_cache_is_bounded() -> None:
    renderer = DocumentRenderer("shape")
    for start in range(0, 30_000, 1000):
        renderer.command(
            "insert",
            {"insert": "c", "documents": [{str(i): 1 for i in range(start, start + 1000)}]},
        )
    assert len(renderer._keys) <= 10_000


# -- values bound by the application -------------------------------------------------------------


def test_a_bound_value_under_a_redacted_name_is_redacted() -> None:
    renderer = DocumentRenderer("shape", redact_keys=["tenant_email"])
    assert renderer.context_value("auth_token", "eyJhbGciOi") == REDACTED
    assert renderer.context_value("DB_Password", 1234) == REDACTED
    assert renderer.context_value("tenant_email", "a@b.org") == REDACTED
    assert renderer.context_value("http_request_id", "req-7f3a") == "req-7f3a"


def test_a_bound_value_keeps_its_type_with_long_strings_cut() -> None:
    renderer = DocumentRenderer("shape", max_length=5)
    oid = ObjectId("65f0c0ffee0000000000abcd")
    assert renderer.context_value("note", "abcdefgh") == "abcde..."
    for value in (None, True, 42, 2**70, 1.5, oid, b"\x01"):
        assert renderer.context_value("v", value) is value
    assert renderer.context_value("user", {"id": 7, "name": "Adalovelace", "api_key": "k"}) == {
        "id": 7,
        "name": "Adalo...",
        "api_key": REDACTED,
    }
    assert renderer.context_value("ids", ("abcdefgh", 2, {"token": "t"})) == [
        "abcde...",
        2,
        {"token": REDACTED},
    ]
    assert renderer.context_value("tags", {"x"}) == ["x"]


def test_a_bound_container_is_cut_to_100_items_and_8_levels() -> None:
    renderer = DocumentRenderer("shape")
    assert renderer.context_value("ids", list(range(1000))) == list(range(100))
    assert len(renderer.context_value("map", {str(i): i for i in range(1000)})) == 100
    deep: Any = "bottom"
    for _ in range(10):
        deep = {"next": deep}
    cut = renderer.context_value("deep", deep)
    for _ in range(8):
        cut = cut["next"]
    assert cut == '{"$unrenderable":"dict"}'


def test_a_bound_value_that_cannot_be_read_becomes_a_placeholder() -> None:
    class Broken(dict[str, Any]):
        def items(self) -> Any:
            raise RuntimeError("no")

    assert DocumentRenderer("shape").context_value("b", Broken()) == '{"$unrenderable":"Broken"}'
