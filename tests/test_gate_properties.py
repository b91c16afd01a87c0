"""Properties of the one gate, for any generated command, reply, message, bound value and name.

Canary secrets sit under names on the redaction list (built-in names and a user glob);
canary literals sit wherever a value can be. Whatever is generated:

* no canary secret comes out of any method, in any mode;
* in ``shape`` and ``none`` mode no canary literal comes out of ``command``, ``reply`` or
  ``text`` (names and bound values are written literally by design, so none is put there);
* every string that comes out is at most ``max_length`` characters plus ``...``.

The strategies are shared with ``test_gate_end_to_end.py``.
"""

from __future__ import annotations

import json
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mongo_structlog.documents import MODES, DocumentRenderer

SECRET = "ZqSecret"
LITERAL = "ZqLiteral"
USER_KEYS = ("*_pin",)
SECRET_NAMES = ("password", "pwd", "api_key", "auth_token", "client_secret", "card_pin", "IBAN")
PLAIN_NAMES = ("name", "email_verified", "city", "qty", "tags", "note", "status")
COLLECTION_COMMANDS = ("find", "insert", "update", "delete", "aggregate", "count", "distinct")
VALUE_COMMANDS = ("usersInfo", "logApplicationMessage", "getParameter", "setClusterParameter")

suffixes = st.text("abcdefghjkmnpqrstuvwxyz0123456789", min_size=1, max_size=8)
secrets = suffixes.map(lambda s: SECRET + s)
literals = suffixes.map(lambda s: LITERAL + s)
secret_names = st.sampled_from(SECRET_NAMES)
plain_names = st.sampled_from(PLAIN_NAMES)
# Names of databases and collections: written literally, so never a canary.
names = st.text("abcdefghijklmnopqrstuvwxyz_.", min_size=1, max_size=40)


def _leaf() -> st.SearchStrategy[Any]:
    return st.one_of(literals, st.integers(), st.booleans(), st.none(), literals.map(str.upper))


documents: st.SearchStrategy[dict[str, Any]] = st.recursive(
    st.dictionaries(plain_names, _leaf(), max_size=4),
    lambda inner: st.dictionaries(
        st.one_of(plain_names, st.sampled_from(["$and", "$in", "$gte", "$set"])),
        st.one_of(_leaf(), inner, st.lists(st.one_of(_leaf(), inner), max_size=3)),
        max_size=4,
    ),
    max_leaves=12,
)


@st.composite
def with_secrets(draw: st.DrawFn, base: st.SearchStrategy[dict[str, Any]] = documents) -> Any:
    """A document with a canary secret (a value, document or array) under a secret name."""
    doc = dict(draw(base))
    secret_value = draw(
        st.one_of(
            secrets, secrets.map(lambda s: {"x": s}), secrets.map(lambda s: [s, 1]), st.just(7)
        )
    )
    doc[draw(secret_names)] = secret_value
    return doc


@st.composite
def commands(draw: st.DrawFn) -> tuple[str, dict[str, Any]]:
    """A command naming a collection, or one whose first value is a value."""
    if draw(st.booleans()):
        name = draw(st.sampled_from(COLLECTION_COMMANDS))
        command: dict[str, Any] = {name: draw(names), "filter": draw(with_secrets())}
    else:
        name = draw(st.sampled_from(VALUE_COMMANDS))
        first = draw(st.one_of(literals, with_secrets()))
        command = {name: first, "comment": draw(literals)}
    command.update(draw(with_secrets()))
    command["$db"] = draw(names)
    return name, command


@st.composite
def replies(draw: st.DrawFn) -> dict[str, Any]:
    """A reply with documents, and maybe write errors quoting secrets."""
    reply: dict[str, Any] = {
        "ok": 1.0,
        "n": draw(st.integers(0, 5)),
        "cursor": {"id": 0, "ns": "db.c", "firstBatch": draw(st.lists(with_secrets(), max_size=3))},
    }
    if draw(st.booleans()):
        name, secret = draw(secret_names), draw(secrets)
        reply["writeErrors"] = [
            {
                "index": 0,
                "code": 11000,
                "errmsg": draw(messages(name, secret, draw(literals))),
                "keyValue": {name: secret},
            }
        ]
    return reply


def _shell(name: str, secret: str, literal: str) -> str:
    return f'E11000 duplicate key error dup key: {{ {name}: "{secret}", city: "{literal}" }}'


def _json(name: str, secret: str, literal: str) -> str:
    return "Failed: " + json.dumps({name: secret, "city": literal, "n": [literal]})


def _repr(name: str, secret: str, literal: str) -> str:
    return f"full error: { ({'errmsg': _shell(name, secret, literal), name: secret, 'ok': 0})!r}"


def _pairs(name: str, secret: str, literal: str) -> str:
    return f"login failed {name}={secret}; then {name}: {secret} at {{ city: '{literal}' }}"


def _uri(name: str, secret: str, literal: str) -> str:
    return f"cannot reach mongodb://bob:{secret}@db1/app {{ q: {literal} }} {name}: '{secret}'"


STYLES = (_shell, _json, _repr, _pairs, _uri)


@st.composite
def messages(
    draw: st.DrawFn, name: str | None = None, secret: str | None = None, literal: str | None = None
) -> str:
    """A server or driver message in one of the quoting styles, around canaries."""
    style = draw(st.sampled_from(STYLES))
    text = style(name or draw(secret_names), secret or draw(secrets), literal or draw(literals))
    padding = draw(st.integers(0, 3))
    return "x " * padding + text


@st.composite
def bound_values(draw: st.DrawFn) -> tuple[str, Any]:
    """A value bound with structlog.contextvars: a secret by name, or a string quoting one."""
    if draw(st.booleans()):
        return draw(secret_names), draw(st.one_of(secrets, secrets.map(lambda s: [s])))
    name, secret = draw(secret_names), draw(secrets)
    quoted = draw(st.sampled_from([f"{name}={secret}", f"/api?{name}={secret}&x=1"]))
    return draw(st.sampled_from(["request_path", "note"])), draw(
        st.one_of(st.just(quoted), st.just({"inner": quoted, name: secret}))
    )


def strings_in(value: Any) -> list[str]:
    """Every string value in a value (members of containers included, not their keys)."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for v in value.values() for s in strings_in(v)]
    if isinstance(value, (list, tuple)):
        return [s for item in value for s in strings_in(item)]
    return []


RENDERERS = {
    (mode, limit): DocumentRenderer(mode, USER_KEYS, limit)
    for mode in MODES
    for limit in (0, 20, 1000)
}
limits = st.sampled_from([0, 20, 1000])
modes = st.sampled_from(MODES)
PROPERTY = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def check(text: str | None, mode: str, limit: int, literal_free: bool = True) -> None:
    """The three properties, on one string that came out of the gate."""
    if text is None:
        return
    assert SECRET.lower() not in text.lower()
    if mode != "full" and literal_free:
        assert LITERAL.lower() not in text.lower()
    # "[REDACTED]" itself is the one string of ours that is not cut.
    assert len(text) <= limit + 3 or text == "[REDACTED]"


@PROPERTY
@given(modes, limits, commands())
def test_commands_reveal_no_secret_and_in_shape_no_literal(
    mode: str, limit: int, command: tuple[str, dict[str, Any]]
) -> None:
    name, doc = command
    text, shape = RENDERERS[mode, limit].command(name, doc)
    check(text, mode, limit)
    assert len(shape) == 16


@PROPERTY
@given(commands(), literals, literals)
def test_command_shape_cannot_confirm_a_hidden_value(
    command: tuple[str, dict[str, Any]], one: str, other: str
) -> None:
    name, doc = command
    renderer = RENDERERS["shape", 1000]

    def with_values(literal: str) -> dict[str, Any]:
        return json.loads(json.dumps(doc).replace(LITERAL, literal))

    assert (
        renderer.command(name, with_values(one))[1] == renderer.command(name, with_values(other))[1]
    )


@PROPERTY
@given(modes, limits, replies())
def test_replies_reveal_no_secret_and_in_shape_no_literal(
    mode: str, limit: int, reply: dict[str, Any]
) -> None:
    check(RENDERERS[mode, limit].reply("insert", reply, False), mode, limit)


@PROPERTY
@given(modes, limits, messages())
def test_messages_in_every_style_reveal_no_secret_and_in_shape_no_literal(
    mode: str, limit: int, message: str
) -> None:
    renderer = RENDERERS[mode, limit]
    check(renderer.text(message), mode, limit)
    check(renderer.text(RuntimeError(message)), mode, limit)


@PROPERTY
@given(modes, limits, bound_values())
def test_bound_values_reveal_no_secret_and_stay_within_the_limit(
    mode: str, limit: int, bound: tuple[str, Any]
) -> None:
    name, value = bound
    for text in strings_in(RENDERERS[mode, limit].context_value(name, value)):
        check(text, mode, limit, literal_free=False)


@PROPERTY
@given(modes, limits, names, commands())
def test_names_are_cut_and_the_collection_only_when_the_catalogue_knows_it(
    mode: str, limit: int, name: str, command: tuple[str, dict[str, Any]]
) -> None:
    renderer = RENDERERS[mode, limit]
    written = renderer.name(name)
    assert written == name or (written == name[:limit] + "..." and len(name) > limit)
    command_name, doc = command
    found = renderer.collection(command_name, doc)
    if command_name in VALUE_COMMANDS:
        assert found is None
    else:
        assert found == renderer.name(doc[command_name])
