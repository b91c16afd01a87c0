"""``python -m mongo_structlog config``: the settings in force, where each came from, exit codes.

Run as a container's start script would run it: a subprocess with variables set.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import types
from pathlib import Path
from typing import Any

import pytest

from mongo_structlog.__main__ import main

ROOT = Path(__file__).resolve().parent.parent

DEFAULT_ROWS = {
    "format": ("json", "default"),
    "output": ("stdout", "default"),
    "level": ("info", "default"),
    "sample_rate": ("1", "default"),
    "sample_rate_command": ("(sample_rate)", "default"),
    "sample_rate_heartbeat": ("1", "default"),
    "sample_rate_pool": ("1", "default"),
    "slow_ms": ("100", "default"),
    "documents": ("shape", "default"),
    "redact_keys": ("(none)", "default"),
    "max_document_length": ("1000", "default"),
    "families": ("command,server,heartbeat,topology,pool", "default"),
    "burst_limit": ("100", "default"),
    "burst_thereafter": ("100", "default"),
    "burst_interval_ms": ("1000", "default"),
    "summary_interval_ms": ("10000", "default"),
    "correlation_capacity": ("10000", "default"),
    "correlation_ttl_ms": ("600000", "default"),
    "queue_size": ("0", "default"),
    "enabled": ("true", "default"),
    "service_name": ("(none)", "default"),
    "service_version": ("(none)", "default"),
    "service_environment": ("(none)", "default"),
    "fields": ("(none)", "default"),
    "process_fields": ("false", "default"),
}


def run_config(*args: str, **variables: str) -> subprocess.CompletedProcess[str]:
    """Run ``python -m mongo_structlog config ARGS``, setting only these of our variables.

    Every other variable of the environment is kept.
    """
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("MONGO_STRUCTLOG_", "OTEL_"))
    }
    env.update(variables, PYTHONPATH=str(ROOT))
    return subprocess.run(
        [sys.executable, "-m", "mongo_structlog", "config", *args],
        check=False,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def table(rows: dict[str, tuple[str, str]]) -> str:
    """The settings table as the command prints it."""
    width = max(len(name) for name in rows) + 2
    value_width = min(max(len(value) for value, _ in rows.values()) + 2, 40)
    lines = ["setting".ljust(width) + "value".ljust(value_width) + "from"]
    lines += [
        name.ljust(width) + value.ljust(value_width) + source
        for name, (value, source) in rows.items()
    ]
    return "\n".join(lines) + "\n"


def test_defaults_are_printed_with_their_source_and_exit_zero() -> None:
    done = run_config()
    assert (done.returncode, done.stderr) == (0, "")
    assert done.stdout == table(DEFAULT_ROWS) + "\nfixed fields on every record: none\n"


def test_variables_show_their_names_and_fixed_fields_and_warnings_are_listed(
    tmp_path: Path,
) -> None:
    output = tmp_path / "mongodb.jsonl"
    done = run_config(
        OTEL_SERVICE_NAME="billing",
        OTEL_RESOURCE_ATTRIBUTES="service.version=2.4.1,deployment.environment.name=production",
        MONGO_STRUCTLOG_LEVEL="debug",
        MONGO_STRUCTLOG_OUTPUT=str(output),
        MONGO_STRUCTLOG_SAMPLE_RATE_COMMAND="0.25",
        MONGO_STRUCTLOG_REDACT_KEYS="email,card_*",
        MONGO_STRUCTLOG_SLOW_MS="inf",
        MONGO_STRUCTLOG_FIELDS="team=payments,region=eu",
        MONGO_STRUCTLOG_PROCESS_FIELDS="yes",
        MONGO_STRUCTLOG_REDACT_KEY="email",
    )
    rows = {
        **DEFAULT_ROWS,
        "output": (str(output), "MONGO_STRUCTLOG_OUTPUT"),
        "level": ("debug", "MONGO_STRUCTLOG_LEVEL"),
        "sample_rate_command": ("0.25", "MONGO_STRUCTLOG_SAMPLE_RATE_COMMAND"),
        "slow_ms": ("inf", "MONGO_STRUCTLOG_SLOW_MS"),
        "redact_keys": ("email,card_*", "MONGO_STRUCTLOG_REDACT_KEYS"),
        "service_name": ("billing", "OTEL_SERVICE_NAME"),
        "service_version": ("2.4.1", "OTEL_RESOURCE_ATTRIBUTES"),
        "service_environment": ("production", "OTEL_RESOURCE_ATTRIBUTES"),
        "fields": ("team=payments,region=eu", "MONGO_STRUCTLOG_FIELDS"),
        "process_fields": ("true", "MONGO_STRUCTLOG_PROCESS_FIELDS"),
    }
    assert (done.returncode, done.stderr) == (0, "")
    assert done.stdout == table(rows) + (
        "\n"
        "fixed fields on every record:\n"
        "  service_name=billing\n"
        "  service_version=2.4.1\n"
        "  service_environment=production\n"
        "  team=payments\n"
        "  region=eu\n"
        "  process_pid=(the writing process id)\n"
        f"  host_name={socket.gethostname()}\n"
        "warning: MONGO_STRUCTLOG_REDACT_KEY is not a mongo_structlog setting; "
        "did you mean MONGO_STRUCTLOG_REDACT_KEYS?\n"
    )
    assert not output.exists()  # checking applies nothing


def test_the_off_switch_is_shown_with_the_families_it_empties() -> None:
    done = run_config(MONGO_STRUCTLOG_ENABLED="false")
    rows = {
        **DEFAULT_ROWS,
        "families": ("(none)", "MONGO_STRUCTLOG_ENABLED"),
        "enabled": ("false", "MONGO_STRUCTLOG_ENABLED"),
    }
    assert (done.returncode, done.stdout) == (
        0,
        table(rows) + "\nfixed fields on every record: none\n",
    )


@pytest.mark.parametrize(
    ("variable", "value", "reason"),
    [
        (
            "MONGO_STRUCTLOG_OUTPUT",
            "stdot",
            "expected stdout, stderr, stdlib, structlog or a file path; did you mean stdout? "
            "(a file path has a '/' or a '.' in it: write ./stdot for a file of that name)",
        ),
        (
            "MONGO_STRUCTLOG_OUTPUT",
            "nan",
            "expected stdout, stderr, stdlib, structlog or a file path, not a number",
        ),
        ("MONGO_STRUCTLOG_SAMPLE_RATE", "half", "could not convert string to float: 'half'"),
        ("MONGO_STRUCTLOG_ENABLED", "maybe", "expected true or false (also 1/0, yes/no, on/off)"),
    ],
)
def test_a_bad_value_exits_two_with_the_error_on_stderr(
    variable: str, value: str, reason: str
) -> None:
    done = run_config(**{variable: value})
    message = f"invalid value for {variable}={value!r}: {reason}"
    assert (done.returncode, done.stdout, done.stderr) == (
        2,
        "",
        f"mongo-structlog config: {message}\n",
    )
    as_json = run_config("--json", **{variable: value})
    assert (as_json.returncode, json.loads(as_json.stdout)) == (2, {"error": message})


def test_json_gives_every_setting_value_and_source() -> None:
    done = run_config(
        "--json",
        OTEL_SERVICE_NAME="billing",
        MONGO_STRUCTLOG_FAMILIES="command,pool",
        MONGO_STRUCTLOG_FIELDS="team=payments",
        MONGO_STRUCTLOG_SLOW_MS="inf",
        MONGO_STRUCTLOG_PROCESS_FIELDS="1",
        MONGO_STRUCTLOG_SAMPLERATE="0.5",
    )
    assert (done.returncode, done.stderr) == (0, "")
    document: dict[str, Any] = json.loads(done.stdout)
    settings = document.pop("settings")
    assert document == {
        "fixed_fields": {
            "service_name": "billing",
            "team": "payments",
            "process_pid": None,
            "host_name": socket.gethostname(),
        },
        "warnings": [
            "MONGO_STRUCTLOG_SAMPLERATE is not a mongo_structlog setting; "
            "did you mean MONGO_STRUCTLOG_SAMPLE_RATE?"
        ],
    }
    assert list(settings) == list(DEFAULT_ROWS)
    assert {name: item for name, item in settings.items() if item["source"] != "default"} == {
        "families": {"value": ["command", "pool"], "source": "MONGO_STRUCTLOG_FAMILIES"},
        "slow_ms": {"value": "inf", "source": "MONGO_STRUCTLOG_SLOW_MS"},
        "service_name": {"value": "billing", "source": "OTEL_SERVICE_NAME"},
        "fields": {"value": {"team": "payments"}, "source": "MONGO_STRUCTLOG_FIELDS"},
        "process_fields": {"value": True, "source": "MONGO_STRUCTLOG_PROCESS_FIELDS"},
    }
    assert (settings["sample_rate_command"], settings["redact_keys"], settings["level"]) == (
        {"value": None, "source": "default"},
        {"value": [], "source": "default"},
        {"value": "info", "source": "default"},
    )


def test_strict_exits_one_on_a_warning_and_zero_without() -> None:
    warned = run_config("--strict", MONGO_STRUCTLOG_LEVL="debug")
    assert warned.returncode == 1
    assert warned.stdout.endswith(
        "warning: MONGO_STRUCTLOG_LEVL is not a mongo_structlog setting; "
        "did you mean MONGO_STRUCTLOG_LEVEL?\n"
    )
    assert run_config("--strict", MONGO_STRUCTLOG_LEVEL="debug").returncode == 0


def test_report_says_clearly_when_the_report_package_is_missing(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Whatever this tree holds, an absent package is what an old installation looks like.
    monkeypatch.setitem(sys.modules, "mongo_structlog.report", None)
    assert main(["report", "records.jsonl"]) == 2
    assert capsys.readouterr() == (
        "",
        "mongo-structlog: the report command is not part of this installation "
        "(mongo_structlog.report is missing)\n",
    )


def test_report_hands_its_arguments_to_the_report_package(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[list[str]] = []

    def report_main(argv: list[str]) -> int:
        calls.append(argv)
        return 3

    package = types.ModuleType("mongo_structlog.report")
    package.main = report_main  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "mongo_structlog.report", package)
    assert main(["report", "--json", "-", "--help"]) == 3
    assert calls == [["--json", "-", "--help"]]


def test_the_command_in_process_prints_what_the_subprocess_prints(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in list(os.environ):
        if name.startswith("OTEL_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("MONGO_STRUCTLOG_FIELDS", "team=payments")
    monkeypatch.setenv("MONGO_STRUCTLOG_SLOW_MS", "inf")
    assert main(["config"]) == 0
    rows = {
        **DEFAULT_ROWS,
        "slow_ms": ("inf", "MONGO_STRUCTLOG_SLOW_MS"),
        "fields": ("team=payments", "MONGO_STRUCTLOG_FIELDS"),
    }
    assert capsys.readouterr() == (
        table(rows) + "\nfixed fields on every record:\n  team=payments\n",
        "",
    )
    assert main(["config", "--json", "--strict"]) == 0
    document = json.loads(capsys.readouterr().out)
    assert (document["fixed_fields"], document["warnings"]) == ({"team": "payments"}, [])
    monkeypatch.setenv("MONGO_STRUCTLOG_OUTPUT", "-1")
    assert main(["config"]) == 2
    assert capsys.readouterr().err == (
        "mongo-structlog config: invalid value for MONGO_STRUCTLOG_OUTPUT='-1': "
        "expected stdout, stderr, stdlib, structlog or a file path, not a number\n"
    )
