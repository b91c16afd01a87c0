"""``lifecycle.py``: records that wait for a set's topology id, and what a set's end writes.

``test_listeners.py`` and ``test_async.py`` show the waiting through real events and a real
``AsyncMongoClient``; ``test_pipeline.py`` the summaries at the end of a set and at exit.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

import mongo_structlog

from . import factory as f
from .servers import read_records

T = str(f.TOPOLOGY_ID)


def test_a_record_made_when_the_id_is_already_known_is_stamped_at_once(log_path: Path) -> None:
    listener_set = mongo_structlog.listeners(output=str(log_path))
    finisher = listener_set[0].pipeline.finisher
    assert finisher.learn(T) == []  # learnt, while the pipeline has not been told yet
    listener_set[4].pool_created(f.pool_created())
    (created,) = read_records(log_path)
    assert list(created)[:4] == ["timestamp", "level", "event", "topology_id"]
    assert created["topology_id"] == T


def test_at_most_100_records_wait_and_none_after_the_end(log_path: Path) -> None:
    listener_set = mongo_structlog.listeners(output=str(log_path))
    pool = listener_set[4]
    for _ in range(101):
        pool.pool_created(f.pool_created())
    assert len(read_records(log_path)) == 1  # the 101st is written, without an id
    listener_set[0].pipeline.close()
    assert len(read_records(log_path)) == 101
    pool.pool_created(f.pool_created())  # after the end: not kept waiting for ever
    assert mongo_structlog.stats()["sink_errors"] == 1  # the file is closed: counted


def test_a_failing_summary_at_the_end_is_counted_not_raised(
    log_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    pipeline = mongo_structlog.listeners(output=str(log_path), sample_rate=0)[0].pipeline

    def due(now: float, final: bool = False) -> Any:
        raise RuntimeError("no summary")

    monkeypatch.setattr(pipeline.suppressed, "due", due)
    pipeline.close()
    assert mongo_structlog.stats()["internal_errors"] == 1
    assert "internal error in sampling summary: RuntimeError('no summary')" in (
        capsys.readouterr().err
    )
