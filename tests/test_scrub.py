"""The text gate: which names are secret, and foreign text in every quoting style made safe.

Everything goes through the public face, :meth:`DocumentRenderer.text` (and its old name
``error_message``), :meth:`~DocumentRenderer.name` and :meth:`~DocumentRenderer.collection`.
"""

from __future__ import annotations

import pytest

from mongo_structlog.documents import DocumentRenderer

REDACT = ("email", "*_name")
FULL = DocumentRenderer("full", REDACT)
SHAPE = DocumentRenderer("shape", REDACT)


@pytest.mark.parametrize(
    ("name", "redacted"),
    [
        ("password", True),
        ("NEW_PASSWORD", True),
        ("email", True),
        ("Email", True),
        ("emails", False),
        ("first_name", True),
        ("name", False),
        ("profile.password", True),
        ("items.$.token", True),
        ("profile.email.verified", True),
        ("profile.verified", False),
        ("pass", True),
        ("passage", False),
    ],
)
def test_a_name_is_redacted_when_it_or_a_dotted_part_matches(name: str, redacted: bool) -> None:
    expected = f"{{ {name}: [REDACTED] }}" if redacted else f"{{ {name}: 1 }}"
    assert FULL.text(f"{{ {name}: 1 }}") == expected


@pytest.mark.parametrize(
    ("message", "full"),
    [
        # MongoDB's shell notation, as in E11000 messages.
        (
            "E11000 duplicate key error collection: app.keys index: api_key_1 dup key: "
            '{ api_key: "sk_live_1" }',
            "E11000 duplicate key error collection: app.keys index: api_key_1 dup key: "
            "{ api_key: [REDACTED] }",
        ),
        # JSON.
        ('{"pwd": "hunter2", "n": 1}', '{"pwd": [REDACTED], "n": 1}'),
        # Python's repr of a dict, as str(OperationFailure) prints the details.
        ("{'pwd': 'hunter2', 'n': 1}", "{'pwd': [REDACTED], 'n': 1}"),
        # A shell-notation message quoted inside a repr'd string.
        (
            "full error: {'errmsg': 'dup key: { api_key: \"sk_live_1\" }', 'code': 11000}",
            "full error: {'errmsg': 'dup key: { api_key: [REDACTED] }', 'code': 11000}",
        ),
        # The same inside a JSON string, quotes escaped.
        (
            '{"errmsg": "dup key: { \\"api_key\\": \\"sk_live_1\\" }"}',
            '{"errmsg": "dup key: { \\"api_key\\": [REDACTED] }"}',
        ),
        # name=value and name: value in prose.
        ("login failed password=hunter2; user=bob", "login failed password=[REDACTED]; user=bob"),
        ("login failed, auth_token: abc123 retry", "login failed, auth_token: [REDACTED] retry"),
        # User globs apply in every style.
        (
            "{ first_name: 'Ann', last_name: \"B\" }",
            "{ first_name: [REDACTED], last_name: [REDACTED] }",
        ),
        ("first_name=Ann", "first_name=[REDACTED]"),
        # An HTTP-style credential, scheme and all.
        ("header Authorization: Bearer eyJhbGci.x.y sent", "header Authorization: [REDACTED] sent"),
        # A URI's password.
        (
            "cannot reach mongodb://bob:s3cret@db1:27017/app",
            "cannot reach mongodb://bob:[REDACTED]@db1:27017/app",
        ),
        # A nested document or array under a redacted name goes as a whole.
        ("{ a: { password: { b: [ 1 ] } } }", "{ a: { password: [REDACTED] } }"),
        ("secret: [1, 2, 3] done", "secret: [REDACTED] done"),
        # A value cut in the middle is still redacted.
        ('truncated { email: "a@b', "truncated { email: [REDACTED]"),
        ("no documents, no pairs", "no documents, no pairs"),
    ],
)
def test_values_under_redacted_names_are_replaced_in_every_quoting_style(
    message: str, full: str
) -> None:
    assert FULL.text(message) == full
    assert FULL.error_message(message) == full
    for secret in ("sk_live_1", "hunter2", "abc123", "Ann", "s3cret"):
        assert secret not in SHAPE.text(message)


@pytest.mark.parametrize(
    ("message", "shaped"),
    [
        ('dup key: { email: "a@b.c", n: 1 }', "dup key: { email: [REDACTED], n: ? }"),
        ("{ a: [ { first_name: 'x' }, 2 ] }", "{ a: [ { first_name: [REDACTED] }, ? ] }"),
        ("{'ok': 0.0, 'errmsg': 'boom'}", "{'ok': ?, 'errmsg': ?}"),
        ('{"code": 11000, "keyValue": {"sku": "A-1"}}', '{"code": ?, "keyValue": {"sku": ?}}'),
    ],
)
def test_shape_mode_replaces_every_other_value_in_quoted_documents(
    message: str, shaped: str
) -> None:
    assert SHAPE.text(message) == shaped


def test_the_text_is_cut_to_max_length_with_dots_whatever_redaction_adds() -> None:
    renderer = DocumentRenderer("full", max_length=12)
    assert renderer.text("x" * 50) == "x" * 12 + "..."
    assert renderer.text("{ pwd: 1, a: 2 }") == "{ pwd: [REDA..."
    assert renderer.text("short") == "short"


def test_anything_is_made_text_first() -> None:
    assert FULL.text(ValueError("password=x")) == "password=[REDACTED]"
    assert FULL.text(42) == "42"


def test_nesting_deeper_than_any_stack_is_scanned_without_recursion() -> None:
    renderer = DocumentRenderer("shape", max_length=100_000)
    message = "{ a: " * 5000 + "1" + " }" * 5000
    assert renderer.text(message) == "{ a: " * 5000 + "?" + " }" * 5000


@pytest.mark.parametrize("unit", ["{", "[", "a:", "x=", '"', "'", "(", "://", "{ a: b(, ", '\\"'])
def test_pathological_texts_are_scanned_in_one_pass(unit: str) -> None:
    # 64 KiB of the worst repeating unit for each scan; a quadratic scan would take minutes.
    renderer = DocumentRenderer("shape", max_length=1 << 20)
    text = unit * (65_536 // len(unit))
    assert len(renderer.text(text)) <= 1 << 20


def test_names_are_written_as_they_are_and_cut() -> None:
    renderer = DocumentRenderer("shape", max_length=5)
    assert renderer.name("users") == "users"
    assert renderer.name("a_password") == "a_pas..."
    assert renderer.collection("find", {"find": "customers"}) == "custo..."
    assert renderer.collection("usersInfo", {"usersInfo": "alice"}) is None


def test_a_not_primary_error_with_the_servers_whole_reply_loses_its_signature() -> None:
    # What server.description_changed's ``error`` and a heartbeat's ``error`` hold: PyMongo's
    # exception, whose text carries the server's whole reply, $clusterTime.signature included.
    from bson import Int64, Timestamp
    from pymongo.errors import NotPrimaryError

    reply = {
        "ok": 0.0,
        "errmsg": "not primary",
        "code": 10107,
        "$clusterTime": {
            "clusterTime": Timestamp(1764057600, 1),
            "signature": {"hash": b"\x8a\x17secret-hash", "keyId": Int64(7303001)},
        },
    }
    error = NotPrimaryError("not primary", reply)
    for renderer in (FULL, SHAPE):
        text = renderer.text(error)
        assert text.startswith("not primary")
        assert "'signature': [REDACTED]" in text
        assert "secret-hash" not in text
        assert "7303001" not in text


def test_a_document_quoted_inside_a_string_loses_a_redacted_value_as_a_whole() -> None:
    message = "{'note': 'password: {a: [1, {b: 2}]} then', 'n': 1}"
    assert FULL.text(message) == "{'note': 'password: [REDACTED] then', 'n': 1}"
    assert FULL.text("token: {a: [1, 2") == "token: [REDACTED]"


def test_error_prose_nested_deeper_than_any_real_reply_is_redacted_below() -> None:
    nested: dict[str, object] = {"errmsg": "x"}
    for _ in range(20):
        nested = {"details": nested}
    text = FULL.reply("insert", {"ok": 0, "errInfo": nested}, False)
    assert '"[REDACTED]"' in text
