"""The command path reads PyMongo's event slots: right on this PyMongo, and safe if one changes."""

from __future__ import annotations

import types
from typing import Any

import pytest
from pymongo.monitoring import CommandFailedEvent, CommandStartedEvent, CommandSucceededEvent

from mongo_structlog import _eventslots

from . import factory as f


def test_every_read_is_a_slot_read_on_the_tested_pymongo() -> None:
    assert _eventslots.SLOW == []
    assert isinstance(CommandStartedEvent._msl_request_id, types.MemberDescriptorType)  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    "event",
    [
        f.command_started({"find": "orders", "filter": {"a": 1}}, request_id=7),
        f.command_succeeded(request_id=7, duration_micros=250_000),
        f.command_failed(f.server_error(), request_id=7),
    ],
    ids=["started", "succeeded", "failed"],
)
def test_each_slot_holds_the_value_of_its_public_attribute(event: Any) -> None:
    names = _eventslots.SLOTS[type(event)]
    assert {public: getattr(event, "_msl_" + public) for public in names} == {
        public: getattr(event, public) for public in names
    }
    assert {
        CommandStartedEvent: {"command"},
        CommandSucceededEvent: {"duration_micros", "reply"},
        CommandFailedEvent: {"duration_micros", "failure"},
    }[type(event)] < set(names)


class _Renamed:
    """An event class as a later PyMongo might write it: other slot names."""

    __slots__ = ("__id", "__name", "__unset")

    def __init__(self, request_id: int, name: str) -> None:
        self.__id = request_id
        self.__name = name

    @property
    def request_id(self) -> int:
        return self.__id

    @property
    def command_name(self) -> str:
        return self.__name.lower()  # not the slot as it is: the slot must not be read

    @property
    def database_name(self) -> str:
        return "db"

    @property
    def operation_id(self) -> int:
        return 3


def test_a_slot_pymongo_changed_or_dropped_reads_the_public_attribute() -> None:
    names = {
        "request_id": "_Renamed__id",  # still right: the slot is read
        "command_name": "_Renamed__name",  # a slot, but not the public value
        "database_name": "_Renamed__unset",  # a slot never filled
        "operation_id": "_CommandEvent__op_id",  # gone
    }
    slow = _eventslots.install({_Renamed: names}, {_Renamed: _Renamed(5, "PING")})
    assert slow == ["_Renamed.command_name", "_Renamed.database_name", "_Renamed.operation_id"]
    assert isinstance(vars(_Renamed)["_msl_request_id"], types.MemberDescriptorType)
    event: Any = _Renamed(9, "Find")  # PyMongo's names are untouched: it still builds
    assert (
        event._msl_request_id,
        event._msl_command_name,
        event._msl_database_name,
        event._msl_operation_id,
    ) == (9, "find", "db", 3)


def test_without_a_sample_event_every_name_reads_the_public_attribute(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    class Unsampled(_Renamed):
        __slots__ = ()

    def no_samples() -> dict[type, Any]:
        raise TypeError("a constructor PyMongo changed")

    monkeypatch.setattr(_eventslots, "_samples", no_samples)
    monkeypatch.setattr(_eventslots, "SLOTS", {Unsampled: {"request_id": "_Renamed__id"}})
    assert _eventslots._checked() == ["Unsampled.request_id"]
    event: Any = Unsampled(4, "ping")
    assert event._msl_request_id == 4
    assert isinstance(vars(Unsampled)["_msl_request_id"], property)
