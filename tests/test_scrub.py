"""Redaction decisions per field name, and error messages scrubbed of the values they echo."""

from __future__ import annotations

import pytest

from mongo_structlog._scrub import KeyTable, matcher, scrub
from mongo_structlog.documents import DEFAULT_REDACT_KEYS

REDACTS = matcher([*DEFAULT_REDACT_KEYS, "email", "*_name"])


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
        ("", False),
    ],
)
def test_a_name_is_redacted_when_it_or_a_dotted_part_matches(name: str, redacted: bool) -> None:
    assert REDACTS(name) is redacted


def test_the_key_table_decides_once_and_remembers_plain_names_by_kind() -> None:
    keys = KeyTable(REDACTS)
    assert keys["email"] == (True, '"email":', '"email":"[REDACTED]"')
    assert keys["city"] == (False, '"city":', '"city":"?"')
    assert keys[7] == (False, '"7":', '"7":"?"')
    assert keys.safe == {"city"}
    assert keys.secret == {"email"}
    assert keys.lookup(7) == ("7", False)
    assert keys.lookup("email") == ("email", True)


def test_the_key_table_is_bounded() -> None:
    keys = KeyTable(REDACTS)
    for i in range(12_000):
        assert keys[f"user{i}"][0] is False
    assert len(keys) == len(keys.safe) == 10_000
    assert keys.lookup("user11999") == ("user11999", False)


@pytest.mark.parametrize(
    ("message", "every", "scrubbed"),
    [
        ('dup key: { email: "a@b.c", n: 1 }', False, "dup key: { email: [REDACTED], n: 1 }"),
        ('dup key: { email: "a@b.c", n: 1 }', True, "dup key: { email: [REDACTED], n: ? }"),
        ("{ a: { password: { b: [ 1 ] } } }", False, "{ a: { password: [REDACTED] } }"),
        ("{ a: [ { first_name: 'x' }, 2 ] }", True, "{ a: [ { first_name: [REDACTED] }, ? ] }"),
    ],
)
def test_messages_lose_redacted_values_and_in_shape_every_value(
    message: str, every: bool, scrubbed: str
) -> None:
    assert scrub(message, KeyTable(REDACTS), every) == scrubbed


def test_nesting_deeper_than_any_real_message_is_one_value() -> None:
    message = "{ a: " * 70 + "1" + " }" * 70
    scrubbed = scrub(message, KeyTable(REDACTS), True)
    assert scrubbed == "{ a: " * 66 + "?"
