"""Configuration that catches mistakes: misspelt and numeric outputs, unknown variables,
settings that apply nothing, OpenTelemetry defaults and the off switch."""

from __future__ import annotations

import os
import subprocess
import sys
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from mockupdb import MockupDB
from pymongo import MongoClient

import mongo_structlog
from mongo_structlog.settings import SettingsWarning, load_settings, resolve_settings

from .servers import read_records

ROOT = Path(__file__).resolve().parent.parent
MakeClient = Callable[..., MongoClient[dict[str, Any]]]
EXPECTED = "expected stdout, stderr, stdlib, structlog or a file path"


@pytest.mark.parametrize(
    ("text", "closest"),
    [
        ("stdot", "stdout"),
        ("stdeer", "stderr"),
        ("STDOUTT", "stdout"),
        ("stdlb", "stdlib"),
        ("structlg", "structlog"),
        ("strcutlog", "structlog"),
    ],
)
def test_a_misspelt_output_keyword_is_refused_with_the_closest_keyword(
    text: str, closest: str
) -> None:
    with pytest.raises(ValueError, match=r"^invalid value for ") as caught:
        load_settings({"MONGO_STRUCTLOG_OUTPUT": text})
    assert str(caught.value) == (
        f"invalid value for MONGO_STRUCTLOG_OUTPUT={text!r}: {EXPECTED}; did you mean {closest}? "
        f"(a file path has a '/' or a '.' in it: write ./{text} for a file of that name)"
    )


@pytest.mark.parametrize("text", ["syslog", "journald", "file", "null"])
def test_a_bare_word_far_from_every_keyword_is_refused_without_a_guess(text: str) -> None:
    with pytest.raises(ValueError, match=r"^invalid value for ") as caught:
        load_settings({}, output=text)
    assert str(caught.value) == (
        f"invalid value for keyword output={text!r}: {EXPECTED} "
        f"(a file path has a '/' or a '.' in it: write ./{text} for a file of that name)"
    )


def test_a_dash_is_refused_pointing_at_stdout() -> None:
    with pytest.raises(ValueError, match=r"^invalid value for ") as caught:
        load_settings({"MONGO_STRUCTLOG_OUTPUT": "-"})
    assert str(caught.value) == (
        f"invalid value for MONGO_STRUCTLOG_OUTPUT='-': {EXPECTED}; for standard output write "
        "stdout (a file path has a '/' or a '.' in it: write ./- for a file of that name)"
    )


@pytest.mark.parametrize("value", ["nan", "-1", "3", "0.5", "inf", "1e3", " 7 ", 3, -1, 2.5])
def test_a_numeric_output_is_refused(value: Any) -> None:
    with pytest.raises(ValueError, match=r"^invalid value for ") as caught:
        load_settings({}, output=value)
    assert (
        str(caught.value) == f"invalid value for keyword output={value!r}: {EXPECTED}, not a number"
    )


@pytest.mark.parametrize("text", ["", "  ", "\t"])
def test_an_empty_output_keyword_is_refused(text: str) -> None:
    with pytest.raises(ValueError, match=r"^invalid value for ") as caught:
        load_settings({}, output=text)
    assert str(caught.value) == f"invalid value for keyword output={text!r}: {EXPECTED}"


@pytest.mark.parametrize("name", ["./stdot", "stdot.log", "logs/mongodb", "mongodb.jsonl"])
def test_a_value_with_a_slash_or_a_dot_is_a_file_path(
    name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "logs").mkdir()
    assert load_settings({"MONGO_STRUCTLOG_OUTPUT": name}).output == name


def test_loading_settings_never_creates_or_opens_the_output_file(tmp_path: Path) -> None:
    path = tmp_path / "mongodb.jsonl"
    fifo = tmp_path / "fifo.jsonl"
    os.mkfifo(fifo)  # opening a FIFO nobody reads would block: loading must not try
    assert load_settings({"MONGO_STRUCTLOG_OUTPUT": str(path)}).output == str(path)
    assert load_settings({}, output=str(fifo)).output == str(fifo)
    assert resolve_settings({"MONGO_STRUCTLOG_OUTPUT": str(path)}).settings.output == str(path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fifo.jsonl"]


def test_a_path_in_a_missing_directory_or_a_directory_is_refused(tmp_path: Path) -> None:
    missing = tmp_path / "missing" / "mongodb.jsonl"
    with pytest.raises(ValueError, match=r"^invalid value for ") as caught:
        load_settings({"MONGO_STRUCTLOG_OUTPUT": str(missing)})
    assert str(caught.value) == (
        f"invalid value for MONGO_STRUCTLOG_OUTPUT={str(missing)!r}: "
        f"cannot open it (its directory {missing.parent} does not exist)"
    )
    with pytest.raises(ValueError, match=r"^invalid value for ") as caught:
        load_settings({}, output=str(tmp_path))
    assert str(caught.value) == (
        f"invalid value for keyword output={str(tmp_path)!r}: cannot open it (it is a directory)"
    )
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("variable", "closest"),
    [
        ("MONGO_STRUCTLOG_REDACT_KEY", "MONGO_STRUCTLOG_REDACT_KEYS"),
        ("MONGO_STRUCTLOG_SAMPLERATE", "MONGO_STRUCTLOG_SAMPLE_RATE"),
        ("MONGO_STRUCTLOG_LEVL", "MONGO_STRUCTLOG_LEVEL"),
        ("MONGO_STRUCTLOG_SERVICE", "MONGO_STRUCTLOG_SERVICE_NAME"),
        ("MONGO_STRUCTLOG_PROCESS_FIELD", "MONGO_STRUCTLOG_PROCESS_FIELDS"),
        ("MONGO_STRUCTLOG_DISABLED", "MONGO_STRUCTLOG_ENABLED"),
    ],
)
def test_an_unknown_variable_names_the_closest_real_one(variable: str, closest: str) -> None:
    resolved = resolve_settings({variable: "x"})
    assert resolved.warnings == {
        variable: f"{variable} is not a mongo_structlog setting; did you mean {closest}?"
    }
    assert resolved.settings == load_settings({})


def test_an_unknown_variable_far_from_every_setting_points_at_the_docs() -> None:
    resolved = resolve_settings({"MONGO_STRUCTLOG_XYZZY": "1", "MONGO_STRUCTLOG_LEVEL": "debug"})
    assert resolved.warnings == {
        "MONGO_STRUCTLOG_XYZZY": (
            "MONGO_STRUCTLOG_XYZZY is not a mongo_structlog setting; see docs/configuration.md"
        )
    }


def test_an_empty_unknown_variable_is_unset_like_any_other() -> None:
    assert resolve_settings({"MONGO_STRUCTLOG_REDACT_KEY": " "}).warnings == {}


def test_configure_warns_once_per_unknown_variable_and_still_applies_the_settings(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("MONGO_STRUCTLOG_REDACTKEYS", "email")
    monkeypatch.setenv("MONGO_STRUCTLOG_SLOW", "5")
    monkeypatch.setenv("MONGO_STRUCTLOG_LEVEL", "debug")
    with pytest.warns(SettingsWarning) as caught:
        settings = mongo_structlog.configure(output="stderr")
    assert settings.level == "debug"
    assert [(str(w.message), w.filename) for w in caught] == [
        (
            "MONGO_STRUCTLOG_REDACTKEYS is not a mongo_structlog setting; "
            "did you mean MONGO_STRUCTLOG_REDACT_KEYS?",
            __file__,
        ),
        (
            "MONGO_STRUCTLOG_SLOW is not a mongo_structlog setting; "
            "did you mean MONGO_STRUCTLOG_SLOW_MS?",
            __file__,
        ),
    ]
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a second warning would raise here
        mongo_structlog.configure(output="stderr")
        mongo_structlog.listeners(output="stderr")


def test_a_process_warns_once_per_name_on_stderr() -> None:
    script = (
        "import mongo_structlog\n"
        "for _ in range(3):\n"
        "    mongo_structlog.configure(output='stderr', level='error')\n"
        "    mongo_structlog.listeners(output='stderr', level='error')\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("MONGO_STRUCTLOG_")}
    env.update(
        PYTHONPATH=str(ROOT),
        PYTHONWARNINGS="default",
        MONGO_STRUCTLOG_REDACT_KEY="email",
        MONGO_STRUCTLOG_SAMPLERATE="0.1",
    )
    done = subprocess.run(
        [sys.executable, "-c", script],
        check=False,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert (done.returncode, done.stdout) == (0, "")
    assert [line for line in done.stderr.splitlines() if "Warning" in line] == [
        "<string>:3: SettingsWarning: MONGO_STRUCTLOG_REDACT_KEY is not a mongo_structlog "
        "setting; did you mean MONGO_STRUCTLOG_REDACT_KEYS?",
        "<string>:3: SettingsWarning: MONGO_STRUCTLOG_SAMPLERATE is not a mongo_structlog "
        "setting; did you mean MONGO_STRUCTLOG_SAMPLE_RATE?",
    ]


# -- OpenTelemetry defaults ----------------------------------------------------------------------


def test_service_fields_default_to_opentelemetry_variables() -> None:
    resolved = resolve_settings(
        {
            "OTEL_SERVICE_NAME": "billing",
            "OTEL_RESOURCE_ATTRIBUTES": (
                "service.name=ignored,service.version=2.4.1,deployment.environment=old,"
                "deployment.environment.name=production"
            ),
        }
    )
    settings = resolved.settings
    assert (settings.service_name, settings.service_version, settings.service_environment) == (
        "billing",
        "2.4.1",
        "production",
    )
    assert {name: resolved.sources[name] for name in ("service_name", "service_version")} == {
        "service_name": "OTEL_SERVICE_NAME",
        "service_version": "OTEL_RESOURCE_ATTRIBUTES",
    }


def test_resource_attributes_are_percent_decoded_and_bad_pairs_skipped() -> None:
    settings = load_settings(
        {
            "OTEL_RESOURCE_ATTRIBUTES": (
                "junk,=x,service.name=,service.name=pay%20ments,"
                "deployment.environment=eu%2Cprod,service.version"
            )
        }
    )
    assert (settings.service_name, settings.service_version, settings.service_environment) == (
        "pay ments",
        None,
        "eu,prod",
    )


def test_our_variables_and_keywords_beat_opentelemetry() -> None:
    environ = {
        "OTEL_SERVICE_NAME": "otel-name",
        "OTEL_RESOURCE_ATTRIBUTES": "service.version=1,deployment.environment.name=otel",
        "MONGO_STRUCTLOG_SERVICE_NAME": "ours",
        "MONGO_STRUCTLOG_SERVICE_VERSION": "2",
    }
    resolved = resolve_settings(environ, service_environment="staging")
    settings = resolved.settings
    assert (settings.service_name, settings.service_version, settings.service_environment) == (
        "ours",
        "2",
        "staging",
    )
    assert [resolved.sources[n] for n in ("service_name", "service_version")] == [
        "MONGO_STRUCTLOG_SERVICE_NAME",
        "MONGO_STRUCTLOG_SERVICE_VERSION",
    ]
    assert resolved.sources["service_environment"] == "keyword"


def test_the_resource_attribute_name_service_name_is_used_without_otel_service_name() -> None:
    settings = load_settings(
        {"OTEL_SERVICE_NAME": " ", "OTEL_RESOURCE_ATTRIBUTES": "service.name=b"}
    )
    assert settings.service_name == "b"


# -- the off switch ------------------------------------------------------------------------------


def test_the_off_switch_empties_the_families_but_still_checks_every_value() -> None:
    resolved = resolve_settings(
        {"MONGO_STRUCTLOG_ENABLED": "false", "MONGO_STRUCTLOG_LEVEL": "debug"}
    )
    assert (resolved.settings.enabled, resolved.settings.families) == (False, ())
    assert resolved.sources["families"] == "MONGO_STRUCTLOG_ENABLED"
    with pytest.raises(ValueError, match="MONGO_STRUCTLOG_LEVEL='loud'"):
        load_settings({"MONGO_STRUCTLOG_ENABLED": "false", "MONGO_STRUCTLOG_LEVEL": "loud"})


def test_a_keyword_turns_the_adapter_back_on_over_the_variable() -> None:
    settings = load_settings({"MONGO_STRUCTLOG_ENABLED": "0"}, enabled=True)
    assert (settings.enabled, settings.families) == (
        True,
        ("command", "server", "heartbeat", "topology", "pool"),
    )


def test_nothing_is_logged_when_the_adapter_is_switched_off(
    monkeypatch: pytest.MonkeyPatch, make_client: MakeClient, server: MockupDB, log_path: Path
) -> None:
    monkeypatch.setenv("MONGO_STRUCTLOG_ENABLED", "false")
    mongo_structlog.configure(output=str(log_path), level="debug")
    own = make_client(server.uri, event_listeners=mongo_structlog.listeners(output=str(log_path)))
    own.shop.command("ping")
    make_client(server.uri).shop.command("ping")
    mongo_structlog.flush()
    assert read_records(log_path) == []
    assert mongo_structlog.stats()["emitted_total"] == 0


def test_configure_with_the_switch_off_stops_an_earlier_configure(
    make_client: MakeClient, server: MockupDB, log_path: Path
) -> None:
    mongo_structlog.configure(output=str(log_path))
    client = make_client(server.uri)
    client.shop.command("ping")
    before = len(read_records(log_path))
    assert before > 0
    mongo_structlog.configure(enabled=False, output=str(log_path))
    client.shop.command("ping")
    assert len(read_records(log_path)) == before
