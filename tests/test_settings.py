"""The ``MONGO_STRUCTLOG_*`` table: every variable's valid and invalid values, and precedence."""

from __future__ import annotations

from dataclasses import fields
from typing import Any

import pytest

import mongo_structlog
from mongo_structlog.settings import ENV_PREFIX, LEVELS, Settings, load_settings

ALL_FAMILIES = ("command", "server", "heartbeat", "topology", "pool")

#: (field, variable text, parsed value) for every setting.
VALID: list[tuple[str, str, Any]] = [
    ("format", "json", "json"),
    ("format", "ECS", "ecs"),
    ("format", " console ", "console"),
    ("output", "stdout", "stdout"),
    ("output", "STDERR", "stderr"),
    ("output", "stdlib", "stdlib"),
    ("output", "StructLog", "structlog"),
    ("output", "/tmp/mongo_structlog-Test.jsonl", "/tmp/mongo_structlog-Test.jsonl"),
    ("output", "./stdot", "./stdot"),
    ("output", "mongodb.log", "mongodb.log"),
    ("level", "debug", "debug"),
    ("level", "Info", "info"),
    ("level", "warning", "warning"),
    ("level", "ERROR", "error"),
    ("sample_rate", "0", 0.0),
    ("sample_rate", "0.25", 0.25),
    ("sample_rate", "1", 1.0),
    ("sample_rate_command", "0.5", 0.5),
    ("sample_rate_heartbeat", "0.1", 0.1),
    ("sample_rate_pool", "1e-3", 0.001),
    ("slow_ms", "0", 0.0),
    ("slow_ms", "2.5", 2.5),
    ("slow_ms", "60000", 60000.0),
    ("documents", "shape", "shape"),
    ("documents", "FULL", "full"),
    ("documents", "none", "none"),
    ("redact_keys", "ssn, card_*,,  iban ", ("ssn", "card_*", "iban")),
    ("max_document_length", "0", 0),
    ("max_document_length", " 4096 ", 4096),
    ("families", "command,Pool", ("command", "pool")),
    ("families", " , ", ()),
    ("burst_limit", "0", 0),
    ("burst_limit", "250", 250),
    ("burst_thereafter", "0", 0),
    ("burst_thereafter", "10", 10),
    ("burst_interval_ms", "1", 1.0),
    ("burst_interval_ms", "2500", 2500.0),
    ("summary_interval_ms", "60000", 60000.0),
    ("correlation_capacity", "1", 1),
    ("correlation_capacity", "50000", 50000),
    ("correlation_ttl_ms", "1000", 1000.0),
    ("queue_size", "0", 0),
    ("queue_size", "8192", 8192),
    ("enabled", "false", False),
    ("enabled", " Off ", False),
    ("enabled", "1", True),
    ("enabled", "YES", True),
    ("service_name", " billing ", "billing"),
    ("service_version", "2.4.1", "2.4.1"),
    ("service_environment", "production", "production"),
    ("fields", "team=payments, region = eu", (("team", "payments"), ("region", "eu"))),
    ("fields", "team=a,team=b,", (("team", "b"),)),
    ("process_fields", "true", True),
    ("process_fields", "no", False),
]

#: (field, variable text) that must be rejected.
INVALID: list[tuple[str, str]] = [
    ("format", "xml"),
    ("level", "trace"),
    ("level", "critical"),
    ("sample_rate", "1.5"),
    ("sample_rate", "-0.1"),
    ("sample_rate", "half"),
    ("sample_rate", "nan"),
    ("sample_rate_command", "2"),
    ("sample_rate_heartbeat", "-1"),
    ("sample_rate_pool", "often"),
    ("slow_ms", "-1"),
    ("slow_ms", "fast"),
    ("slow_ms", "nan"),
    ("documents", "raw"),
    ("max_document_length", "-1"),
    ("max_document_length", "1.5"),
    ("max_document_length", "lots"),
    ("families", "command,sessions"),
    ("burst_limit", "-5"),
    ("burst_thereafter", "x"),
    ("burst_interval_ms", "0"),
    ("burst_interval_ms", "0.5"),
    ("summary_interval_ms", "0"),
    ("correlation_capacity", "0"),
    ("correlation_ttl_ms", "-10"),
    ("queue_size", "-1"),
    ("queue_size", "1e3"),
    ("output", "stdot"),
    ("output", "syslog"),
    ("output", "-"),
    ("output", "nan"),
    ("output", "-1"),
    ("output", "3"),
    ("output", "/nonexistent-dir/mongodb.jsonl"),
    ("output", "/"),
    ("enabled", "maybe"),
    ("process_fields", "2"),
    ("fields", "team"),
    ("fields", "team="),
    ("fields", "=payments"),
    ("fields", "team name=payments"),
    ("fields", "event=custom"),
    ("fields", "service_name=billing"),
]


def variable(name: str) -> str:
    return ENV_PREFIX + name.upper()


def test_defaults_when_nothing_is_set() -> None:
    assert load_settings(environ={}) == Settings(
        format="json",
        output="stdout",
        level="info",
        sample_rate=1.0,
        sample_rate_command=None,
        sample_rate_heartbeat=1.0,
        sample_rate_pool=1.0,
        slow_ms=100.0,
        documents="shape",
        redact_keys=(),
        max_document_length=1000,
        families=ALL_FAMILIES,
        burst_limit=100,
        burst_thereafter=100,
        burst_interval_ms=1000.0,
        summary_interval_ms=10000.0,
        correlation_capacity=10000,
        correlation_ttl_ms=600000.0,
        queue_size=0,
        enabled=True,
        service_name=None,
        service_version=None,
        service_environment=None,
        fields=(),
        process_fields=False,
    )


def test_every_field_is_covered_by_the_valid_and_invalid_tables() -> None:
    names = {field.name for field in fields(Settings)}
    assert {name for name, _, _ in VALID} == names
    # Any text is a valid ``redact_keys`` list or service name, version or environment.
    assert {name for name, _ in INVALID} == names - {
        "redact_keys",
        "service_name",
        "service_version",
        "service_environment",
    }


@pytest.mark.parametrize(("name", "text", "expected"), VALID)
def test_a_valid_variable_is_parsed(name: str, text: str, expected: Any) -> None:
    settings = load_settings(environ={variable(name): text})
    assert getattr(settings, name) == expected


@pytest.mark.parametrize(("name", "text", "expected"), VALID)
def test_a_valid_keyword_given_as_text_is_parsed_the_same(
    name: str, text: str, expected: Any
) -> None:
    assert getattr(load_settings(environ={}, **{name: text}), name) == expected


@pytest.mark.parametrize(("name", "text"), INVALID)
def test_a_bad_variable_raises_value_error_naming_variable_and_value(name: str, text: str) -> None:
    with pytest.raises(ValueError, match="invalid value for") as caught:
        load_settings(environ={variable(name): text})
    assert f"{variable(name)}={text!r}" in str(caught.value)


@pytest.mark.parametrize(("name", "text"), INVALID)
def test_a_bad_keyword_raises_value_error_naming_keyword_and_value(name: str, text: str) -> None:
    with pytest.raises(ValueError, match="invalid value for keyword") as caught:
        load_settings(environ={}, **{name: text})
    assert f"{name}={text!r}" in str(caught.value)


def test_a_blank_output_keyword_is_rejected() -> None:
    with pytest.raises(
        ValueError, match=r"keyword output='  ': expected stdout, stderr, stdlib, structlog"
    ):
        load_settings(environ={}, output="  ")


@pytest.mark.parametrize(
    ("name", "value", "expected"),
    [
        ("sample_rate", 0.1, 0.1),
        ("sample_rate", 1, 1.0),
        ("slow_ms", 250, 250.0),
        ("max_document_length", 64, 64),
        ("queue_size", 100, 100),
        ("redact_keys", ["ssn", "card_*"], ("ssn", "card_*")),
        ("redact_keys", ("token",), ("token",)),
        ("families", {"pool"}, ("pool",)),
        ("families", frozenset(), ()),
        ("enabled", False, False),
        ("process_fields", True, True),
        ("service_version", 2, "2"),
        ("fields", {"team": "payments", "shard": 3}, (("team", "payments"), ("shard", 3))),
        ("fields", {"canary": True, "weight": 0.5}, (("canary", True), ("weight", 0.5))),
        ("fields", "team=payments", (("team", "payments"),)),
    ],
)
def test_keywords_accept_numbers_and_sequences(name: str, value: Any, expected: Any) -> None:
    assert getattr(load_settings(environ={}, **{name: value}), name) == expected


@pytest.mark.parametrize(
    ("name", "value", "reason"),
    [
        ("sample_rate", 1.5, "expected a number from 0 to 1"),
        ("max_document_length", 2.5, "invalid literal"),
        ("level", True, "not a bool"),
        ("queue_size", False, "not a bool"),
        ("format", object(), "expected text, got object"),
        ("redact_keys", ["ssn", 3], "sequence of strings"),
        ("families", 7, "sequence of strings"),
        ("families", ["pool", "gossip"], "unknown families"),
        ("fields", ["team"], "expected a mapping"),
        ("fields", {"team": None}, "expected a str, int, float or bool value"),
        ("fields", {"team": ["a"]}, "expected a str, int, float or bool value"),
        ("fields", {1: "a"}, "not a snake_case name"),
        ("fields", {"level": "x"}, "reserved"),
        ("service_name", "  ", "expected some text"),
        ("output", 3, "not a number"),
        ("output", float("nan"), "not a number"),
        ("output", -1, "not a number"),
    ],
)
def test_bad_keyword_types_raise_value_error(name: str, value: Any, reason: str) -> None:
    with pytest.raises(ValueError, match=reason) as caught:
        load_settings(environ={}, **{name: value})
    assert f"keyword {name}={value!r}" in str(caught.value)


def test_a_keyword_beats_the_variable_which_beats_the_default() -> None:
    environ = {variable("level"): "warning", variable("slow_ms"): "5"}
    settings = load_settings(environ=environ, level="debug")
    assert (settings.level, settings.slow_ms, settings.documents) == ("debug", 5.0, "shape")


def test_a_keyword_wins_even_over_a_bad_variable() -> None:
    settings = load_settings(environ={variable("format"): "xml"}, format="console")
    assert settings.format == "console"


def test_a_keyword_of_none_means_not_given() -> None:
    settings = load_settings(environ={variable("level"): "error"}, level=None)
    assert settings.level == "error"


@pytest.mark.parametrize("text", ["", "   ", "\t"])
def test_an_empty_variable_counts_as_unset(text: str) -> None:
    environ = {variable(field.name): text for field in fields(Settings)}
    assert load_settings(environ=environ) == Settings()


def test_the_environment_is_read_at_call_time(monkeypatch: pytest.MonkeyPatch) -> None:
    assert load_settings().level == "info"
    monkeypatch.setenv("MONGO_STRUCTLOG_LEVEL", "error")
    monkeypatch.setenv("MONGO_STRUCTLOG_SAMPLE_RATE", "0.5")
    settings = load_settings()
    assert (settings.level, settings.sample_rate) == ("error", 0.5)


def test_listeners_and_configure_read_the_environment_when_called(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("MONGO_STRUCTLOG_OUTPUT", "stderr")
    monkeypatch.setenv("MONGO_STRUCTLOG_DOCUMENTS", "none")
    assert mongo_structlog.configure().documents == "none"
    listener_set = mongo_structlog.listeners()
    assert listener_set[0].pipeline.settings.documents == "none"  # type: ignore[attr-defined]
    monkeypatch.setenv("MONGO_STRUCTLOG_DOCUMENTS", "full")
    assert mongo_structlog.configure(output="stderr").documents == "full"


def test_a_bad_variable_makes_configure_raise(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MONGO_STRUCTLOG_LEVEL", "loud")
    with pytest.raises(ValueError, match=r"MONGO_STRUCTLOG_LEVEL='loud'"):
        mongo_structlog.configure()
    with pytest.raises(ValueError, match=r"MONGO_STRUCTLOG_LEVEL='loud'"):
        mongo_structlog.listeners()


def test_an_unknown_keyword_raises_type_error_naming_it() -> None:
    with pytest.raises(TypeError, match=r"unknown mongo_structlog setting.*: levels, rate"):
        load_settings(environ={}, levels="debug", rate=0.5)
    with pytest.raises(TypeError, match="sampel_rate"):
        mongo_structlog.configure(sampel_rate=0.1)
    with pytest.raises(TypeError, match="sampel_rate"):
        mongo_structlog.listeners(sampel_rate=0.1)


def test_the_command_rate_falls_back_to_the_general_rate() -> None:
    assert load_settings(environ={}, sample_rate=0.2).command_rate == 0.2
    both = load_settings(environ={}, sample_rate=0.2, sample_rate_command=0.7)
    assert both.command_rate == 0.7
    assert load_settings(environ={}, sample_rate=0.2, sample_rate_command=0).command_rate == 0.0


@pytest.mark.parametrize(("level", "number"), list(LEVELS.items()))
def test_the_level_number_is_the_stdlib_number(level: str, number: int) -> None:
    assert load_settings(environ={}, level=level).level_number == number
