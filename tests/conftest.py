"""Shared fixtures: a fresh adapter state per test, mockupdb servers, clients, log files."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from mockupdb import MockupDB
from pymongo import MongoClient

import mongo_structlog
from mongo_structlog.stats import STATS

from .factory import stop_quickly
from .servers import standalone


@pytest.fixture(autouse=True)
def _clean_state(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """No MONGO_STRUCTLOG_* variable leaks in from the shell; counters start at zero, and
    queued records are written before the next test."""
    import os

    for name in list(os.environ):
        if name.startswith("MONGO_STRUCTLOG_"):
            monkeypatch.delenv(name)
    STATS.clear()
    yield
    # A queued set's writer may still hold records (make_client's second close() publishes
    # the topology's closing events again): written now, they are counted in this test's
    # STATS, not in the next one's, where they were once 3 sink errors without records.
    mongo_structlog.flush()
    mongo_structlog.reset()
    STATS.clear()


@pytest.fixture
def log_path(tmp_path: Path) -> Path:
    """Where the test's records go (``output=str(log_path)``)."""
    return tmp_path / "records.jsonl"


@pytest.fixture
def server() -> Iterator[MockupDB]:
    """A standalone mockupdb server answering the handshake, ``ping`` and ``endSessions``.

    Stopped without mockupdb's one-second wait.
    """
    srv = standalone()
    yield srv
    stop_quickly(srv)


@pytest.fixture
def make_client() -> Iterator[Callable[..., MongoClient[dict[str, Any]]]]:
    """Build real clients that are closed at the end of the test."""
    clients: list[MongoClient[dict[str, Any]]] = []

    def make(uri: str, **options: Any) -> MongoClient[dict[str, Any]]:
        options.setdefault("serverSelectionTimeoutMS", 5000)
        client: MongoClient[dict[str, Any]] = MongoClient(uri, **options)
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.close()
