"""The report's state: every record passes once through :class:`Summary`, in bounded memory.

Nothing is kept per record. What is kept grows with the number of distinct command shapes,
servers, topologies and error names, each capped (``Limits``); what is past a cap is
counted in an ``(other)`` row, never dropped silently. :meth:`Summary.result` turns the
state into the plain dict that ``--json`` prints and the text and HTML pages render.
"""

from __future__ import annotations

import datetime
import math
from dataclasses import dataclass, field
from typing import Any, Final

from ._histogram import LogHistogram
from ._read import Record

__all__ = ["OTHER", "Limits", "Summary", "iso"]

#: The key of the row that takes what is past a cap.
OTHER: Final = "(other)"
_ERROR_TEXT: Final = 300
_EXAMPLE_TEXT: Final = 1000


@dataclass(frozen=True)
class Limits:
    """Caps on what the report keeps (see docs/report.md, "Memory").

    Attributes:
        shapes: Distinct command shapes with their own row (and histogram).
        failures: Distinct (error name, shape) pairs.
        servers: Distinct servers in the pool and heartbeat sections.
        timeline: Entries of the failover timeline (windows are capped the same).
        names: Distinct names in a small table (reasons, error types, event names).
        bins: Time bins of a latency-over-time series (``--html`` only).
    """

    shapes: int = 2000
    failures: int = 2000
    servers: int = 1000
    timeline: int = 1000
    names: int = 50
    bins: int = 120


def iso(when: float | None) -> str | None:
    """Epoch seconds as our RFC 3339 UTC text (``2026-11-25T08:00:00.123456Z``), or ``None``."""
    if when is None:
        return None
    moment = datetime.datetime.fromtimestamp(when, datetime.timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _count(table: dict[str, int], key: str, cap: int) -> None:
    if key not in table and len(table) >= cap:
        key = OTHER
    table[key] = table.get(key, 0) + 1


def _int(value: Any) -> int | None:
    return value if type(value) is int else None


def _text(value: Any, limit: int) -> str | None:
    if type(value) is not str:
        return None
    return value if len(value) <= limit else value[:limit] + "..."


def _rate(record: Record) -> float | None:
    """The record's ``sample_rate`` when it is one below 1 (the record stands for more)."""
    rate = record.get("sample_rate")
    if (type(rate) is float or type(rate) is int) and 0 < rate < 1:
        return float(rate)
    return None


def _server(record: Record) -> str:
    address = record.get("server_address")
    if type(address) is str:
        return address
    return f"{record.get('server_host')}:{record.get('server_port')}"


@dataclass
class _Shape:
    histogram: LogHistogram = field(default_factory=LogHistogram)
    weighted: float = 0.0
    failed: int = 0
    slow: int = 0
    command_name: str | None = None
    collection: str | None = None
    database_name: str | None = None
    example: str | None = None
    series: dict[int, list[float]] = field(default_factory=dict)


@dataclass
class _Failure:
    error_code_name: str | None
    error_code: int | None
    error_type: str | None
    command_shape: str | None
    command_name: str | None
    collection: str | None
    count: int = 0
    first: float = math.inf
    last: float = -math.inf
    example_error: str | None = None


@dataclass
class _Pool:
    check_out_failed: int = 0
    reasons: dict[str, int] = field(default_factory=dict)
    slow_check_outs: int = 0
    max_wait_micros: int | None = None
    max_in_use: int | None = None
    max_pool_size: int | None = None
    max_waiting: int | None = None
    max_oldest_in_use_micros: int | None = None
    oldest_in_use_commands: dict[str, int] = field(default_factory=dict)
    cleared: int = 0
    closed_by_error: int = 0


@dataclass
class _Heartbeat:
    failed: int = 0
    first: float = math.inf
    last: float = -math.inf
    error_types: dict[str, int] = field(default_factory=dict)
    max_duration_micros: int | None = None
    last_error: str | None = None


@dataclass
class _Topology:
    incidents: bool = False
    lost_at: float | None = None
    lost_primary: str | None = None
    fallback_lost_at: float | None = None
    fallback_lost_primary: str | None = None
    writable: bool | None = None
    primary: str | None = None
    windows: list[dict[str, Any]] = field(default_factory=list)
    fallback_windows: list[dict[str, Any]] = field(default_factory=list)


def _max(current: int | None, value: Any) -> int | None:
    if type(value) is not int:
        return current
    return value if current is None or value > current else current


def _union_micros(windows: list[dict[str, Any]]) -> int:
    """How long at least one client had no writable server: overlapping windows count once.

    A window is taken as its ``length_micros`` ending at its ``end`` (for incident windows
    that length is the driver's own measure, which the two timestamps may not match).
    """
    spans = sorted(
        (w["end"] * 1_000_000 - w["length_micros"], w["end"] * 1_000_000)
        for w in windows
        if w["length_micros"] is not None
    )
    total = 0.0
    reach = -math.inf
    for start, end in spans:
        if end > reach:
            total += end - max(start, reach)
            reach = end
    return round(total)


class Summary:
    """Accumulates records into the report's figures.

    Args:
        since: Leave out records before this epoch time.
        until: Leave out records after this epoch time.
        limits: The caps on what is kept.
        series: Keep latency-over-time series per shape (for ``--html``).
    """

    def __init__(
        self,
        since: float | None = None,
        until: float | None = None,
        limits: Limits | None = None,
        series: bool = False,
    ) -> None:
        """Start with nothing counted."""
        self.since = since
        self.until = until
        self._windowed = since is not None or until is not None
        self.limits = limits or Limits()
        self.series = series
        self.lines = 0
        self.foreign = 0
        self.outside = 0
        self.formats = {"json": 0, "ecs": 0}
        self.events: dict[str, int] = {}
        self.first: float | None = None
        self.last: float | None = None
        self._shapes: dict[str, _Shape] = {}
        self._failures: dict[tuple[str, str], _Failure] = {}
        self._pools: dict[str, _Pool] = {}
        self._pool_sizes: dict[str, int] = {}
        self._heartbeats: dict[str, _Heartbeat] = {}
        self._topologies: dict[str, _Topology] = {}
        self._timeline: list[dict[str, Any]] = []
        self._timeline_dropped = 0
        self._sampling: dict[str, dict[str, int]] = {}
        self._sampled_records = 0
        self._sampled_weight = 0.0
        self._weight = 1.0  # of the record being added: 1 / its sample rate
        self._bin_width = 1.0
        self._bin_low: int | None = None
        self._bin_high: int | None = None
        self._handlers = {
            "mongodb.command.succeeded": self._command,
            "mongodb.command.failed": self._command,
            "mongodb.connection.check_out_failed": self._check_out_failed,
            "mongodb.connection.checked_out": self._checked_out,
            "mongodb.pool.cleared": self._pool_cleared,
            "mongodb.pool.created": self._pool_created,
            "mongodb.connection.closed": self._connection_closed,
            "mongodb.heartbeat.failed": self._heartbeat_failed,
            "mongodb.topology.writable_server_lost": self._writable_lost,
            "mongodb.topology.writable_server_restored": self._writable_restored,
            "mongodb.topology.primary_changed": self._primary_changed,
            "mongodb.topology.description_changed": self._description_changed,
            "mongodb.topology.closed": self._topology_closed,
            "mongodb.sampling.summary": self._sampling_summary,
        }

    # -- input ---------------------------------------------------------------------------

    def add(self, record: Record, when: float, ecs: bool) -> None:
        """Count one parsed record (see ``_read.parse_line``).

        Args:
            record: The flat record.
            when: Its time, epoch seconds.
            ecs: Whether the line was ECS.
        """
        if self._windowed and (
            (self.since is not None and when < self.since)
            or (self.until is not None and when > self.until)
        ):
            self.outside += 1
            return
        self.formats["ecs" if ecs else "json"] += 1
        if self.first is None or when < self.first:
            self.first = when
        if self.last is None or when > self.last:
            self.last = when
        event: str = record["event"]
        events = self.events
        seen = events.get(event)
        if seen is None:
            _count(events, event, self.limits.names)
        else:
            events[event] = seen + 1
        rate = _rate(record)
        if rate is None:
            self._weight = 1.0
        else:
            self._weight = 1 / rate
            self._sampled_records += 1
            self._sampled_weight += self._weight
        handler = self._handlers.get(event)
        if handler is not None:
            handler(record, when)

    # -- commands ------------------------------------------------------------------------

    def _shape(self, record: Record) -> _Shape:
        key = record.get("command_shape")
        if type(key) is not str:
            key = f"({record.get('command_name')})"
        shape = self._shapes.get(key)
        if shape is None:
            if len(self._shapes) >= self.limits.shapes:
                key = OTHER
                shape = self._shapes.get(key)
            if shape is None:
                shape = self._shapes[key] = _Shape()
                if key != OTHER:
                    shape.command_name = _text(record.get("command_name"), 100)
                    shape.collection = _text(record.get("collection"), 200)
                    shape.database_name = _text(record.get("database_name"), 200)
        if shape.example is None and key != OTHER:
            shape.example = _text(record.get("command"), _EXAMPLE_TEXT)
        return shape

    def _command(self, record: Record, when: float) -> None:
        shape = self._shape(record)
        weight = self._weight
        shape.weighted += weight
        duration = record.get("duration_micros")
        if type(duration) is int:
            shape.histogram.add(duration, weight)
            if self.series:
                self._add_point(shape, when, duration, weight)
        if record.get("slow") is True:
            shape.slow += 1
        if record["event"] == "mongodb.command.failed":
            shape.failed += 1
            self._failure(record, when)

    def _failure(self, record: Record, when: float) -> None:
        name = record.get("error_code_name")
        label = name if type(name) is str else record.get("error_type")
        shape = record.get("command_shape")
        key = (str(label), str(shape))
        failure = self._failures.get(key)
        if failure is None:
            if len(self._failures) >= self.limits.failures:
                key = (OTHER, OTHER)
            failure = self._failures.get(key)
            if failure is None:
                other = key[0] == OTHER
                failure = self._failures[key] = _Failure(
                    error_code_name=OTHER if other else _text(name, 100),
                    error_code=None if other else _int(record.get("error_code")),
                    error_type=None if other else _text(record.get("error_type"), 100),
                    command_shape=None if other else _text(shape, 100),
                    command_name=None if other else _text(record.get("command_name"), 100),
                    collection=None if other else _text(record.get("collection"), 200),
                    example_error=None if other else _text(record.get("error"), _ERROR_TEXT),
                )
        failure.count += 1
        failure.first = min(failure.first, when)
        failure.last = max(failure.last, when)

    # -- latency over time (for --html) --------------------------------------------------

    def _add_point(self, shape: _Shape, when: float, duration: int, weight: float) -> None:
        index = math.floor(when / self._bin_width)
        low = index if self._bin_low is None else min(self._bin_low, index)
        high = index if self._bin_high is None else max(self._bin_high, index)
        while high - low + 1 > self.limits.bins:
            self._coarsen()
            index, low, high = index // 2, low // 2, high // 2
        self._bin_low, self._bin_high = low, high
        point = shape.series.get(index)
        if point is None:
            shape.series[index] = [weight, duration * weight, float(duration)]
        else:
            point[0] += weight
            point[1] += duration * weight
            point[2] = max(point[2], duration)

    def _coarsen(self) -> None:
        """Double the bin width: each pair of bins becomes one, in every series."""
        self._bin_width *= 2
        for shape in self._shapes.values():
            merged: dict[int, list[float]] = {}
            for index, (weight, total, peak) in shape.series.items():
                point = merged.get(index // 2)
                if point is None:
                    merged[index // 2] = [weight, total, peak]
                else:
                    point[0] += weight
                    point[1] += total
                    point[2] = max(point[2], peak)
            shape.series = merged

    # -- pools and heartbeats ------------------------------------------------------------

    def _pool(self, record: Record) -> _Pool:
        server = _server(record)
        pool = self._pools.get(server)
        if pool is None:
            if len(self._pools) >= self.limits.servers:
                server = OTHER
            pool = self._pools.setdefault(server, _Pool())
        return pool

    def _pressure(self, pool: _Pool, record: Record) -> None:
        pool.max_wait_micros = _max(pool.max_wait_micros, record.get("duration_micros"))
        pool.max_in_use = _max(pool.max_in_use, record.get("in_use"))
        pool.max_pool_size = _max(pool.max_pool_size, record.get("max_pool_size"))
        pool.max_waiting = _max(pool.max_waiting, record.get("waiting"))
        pool.max_oldest_in_use_micros = _max(
            pool.max_oldest_in_use_micros, record.get("oldest_in_use_micros")
        )
        command = record.get("oldest_in_use_command")
        if type(command) is str:
            _count(pool.oldest_in_use_commands, command[:100], self.limits.names)

    def _check_out_failed(self, record: Record, when: float) -> None:
        pool = self._pool(record)
        pool.check_out_failed += 1
        _count(pool.reasons, str(record.get("reason")), self.limits.names)
        self._pressure(pool, record)

    def _checked_out(self, record: Record, when: float) -> None:
        if record.get("slow") is True:
            pool = self._pool(record)
            pool.slow_check_outs += 1
            self._pressure(pool, record)

    def _pool_cleared(self, record: Record, when: float) -> None:
        self._pool(record).cleared += 1

    def _pool_created(self, record: Record, when: float) -> None:
        size = record.get("max_pool_size")
        server = _server(record)
        if type(size) is int and (server in self._pool_sizes or len(self._pool_sizes) < 1000):
            self._pool_sizes[server] = size

    def _connection_closed(self, record: Record, when: float) -> None:
        if record.get("reason") == "error":
            self._pool(record).closed_by_error += 1

    def _heartbeat_failed(self, record: Record, when: float) -> None:
        server = _server(record)
        beat = self._heartbeats.get(server)
        if beat is None:
            if len(self._heartbeats) >= self.limits.servers:
                server = OTHER
            beat = self._heartbeats.setdefault(server, _Heartbeat())
        beat.failed += 1
        beat.first = min(beat.first, when)
        beat.last = max(beat.last, when)
        _count(beat.error_types, str(record.get("error_type")), self.limits.names)
        beat.max_duration_micros = _max(beat.max_duration_micros, record.get("duration_micros"))
        beat.last_error = _text(record.get("error"), _ERROR_TEXT) or beat.last_error

    # -- failover ------------------------------------------------------------------------

    def _topology(self, record: Record) -> tuple[str, _Topology]:
        key = str(record.get("topology_id") or "")
        topology = self._topologies.get(key)
        if topology is None:
            if len(self._topologies) >= self.limits.servers:
                key = OTHER
            topology = self._topologies.setdefault(key, _Topology())
        return key, topology

    def _note(self, record: Record, when: float, fallback: bool, **facts: Any) -> None:
        if len(self._timeline) >= self.limits.timeline:
            self._timeline_dropped += 1
            return
        entry = {
            "timestamp": when,
            "event": record["event"],
            "topology_id": str(record.get("topology_id") or "") or None,
            "previous_primary": None,
            "primary": None,
            "unavailable_micros": None,
            "has_writable_server": None,
            "fallback": fallback,
        }
        entry.update(facts)
        self._timeline.append(entry)

    def _window(
        self,
        windows: list[dict[str, Any]],
        start: float,
        end: float,
        length: int | None = None,
        **facts: Any,
    ) -> None:
        if len(windows) >= self.limits.timeline:
            self._timeline_dropped += 1
            return
        if length is None:
            length = round((end - start) * 1_000_000)
        windows.append({"start": start, "end": end, "length_micros": length, **facts})

    def _writable_lost(self, record: Record, when: float) -> None:
        _key, topology = self._topology(record)
        topology.incidents = True
        previous = _text(record.get("previous_primary"), 300)
        if topology.lost_at is None:
            topology.lost_at, topology.lost_primary = when, previous
        self._note(record, when, False, previous_primary=previous, has_writable_server=False)

    def _writable_restored(self, record: Record, when: float) -> None:
        key, topology = self._topology(record)
        topology.incidents = True
        unavailable = _int(record.get("unavailable_micros"))
        primary = _text(record.get("primary"), 300)
        start = topology.lost_at
        if start is None and unavailable is not None:
            start = when - unavailable / 1_000_000
        if start is not None:
            self._window(
                topology.windows,
                start,
                when,
                unavailable,
                topology_id=key or None,
                previous_primary=topology.lost_primary,
                primary=primary,
            )
        topology.lost_at = topology.lost_primary = None
        self._note(
            record,
            when,
            False,
            primary=primary,
            unavailable_micros=unavailable,
            has_writable_server=True,
        )

    def _primary_changed(self, record: Record, when: float) -> None:
        self._topology(record)[1].incidents = True
        self._note(
            record,
            when,
            False,
            previous_primary=_text(record.get("previous_primary"), 300),
            primary=_text(record.get("primary"), 300),
        )

    def _description_changed(self, record: Record, when: float) -> None:
        key, topology = self._topology(record)
        writable = record.get("has_writable_server")
        primary = _text(record.get("primary"), 300)
        was_writable = topology.writable
        if was_writable is None:
            had = record.get("had_writable_server")
            was_writable = had if type(had) is bool else None
        previous = topology.primary
        if writable is False and was_writable is True and topology.fallback_lost_at is None:
            topology.fallback_lost_at, topology.fallback_lost_primary = when, previous
        elif writable is True and topology.fallback_lost_at is not None:
            self._window(
                topology.fallback_windows,
                topology.fallback_lost_at,
                when,
                topology_id=key or None,
                previous_primary=topology.fallback_lost_primary,
                primary=primary,
            )
            topology.fallback_lost_at = topology.fallback_lost_primary = None
        if type(writable) is bool and (writable != was_writable or primary != previous):
            self._note(
                record,
                when,
                True,
                previous_primary=previous,
                primary=primary,
                has_writable_server=writable,
            )
        if type(writable) is bool:
            topology.writable = writable
        topology.primary = primary

    def _topology_closed(self, record: Record, when: float) -> None:
        # A client closing leaves no writable server; that is not an outage.
        topology = self._topology(record)[1]
        topology.fallback_lost_at = topology.fallback_lost_primary = None
        topology.writable = None

    # -- sampling ------------------------------------------------------------------------

    def _sampling_summary(self, record: Record, when: float) -> None:
        name = str(record.get("suppressed_event"))
        if name not in self._sampling and len(self._sampling) >= self.limits.names:
            name = OTHER
        row = self._sampling.setdefault(
            name, {"summaries": 0, "sampled_out": 0, "burst_limited": 0}
        )
        row["summaries"] += 1
        row["sampled_out"] += _int(record.get("sampled_out")) or 0
        row["burst_limited"] += _int(record.get("burst_limited")) or 0

    # -- output --------------------------------------------------------------------------

    def shape_rows(self) -> list[tuple[str, _Shape]]:
        """Every retained shape, slowest first (p99, then max, then weighted count)."""

        def order(item: tuple[str, _Shape]) -> tuple[float, float, float, str]:
            histogram = item[1].histogram
            return (
                -(histogram.percentile(99) or 0),
                -(histogram.maximum or 0),
                -item[1].weighted,
                item[0],
            )

        return sorted(self._shapes.items(), key=order)

    def windows(self) -> list[dict[str, Any]]:
        """The no-writable-server windows, from incident records where a topology has them."""
        found: list[dict[str, Any]] = []
        for key, topology in self._topologies.items():
            if topology.incidents:
                source, closed = "incident", topology.windows
                start, previous = topology.lost_at, topology.lost_primary
            else:
                source, closed = "description_changed", topology.fallback_windows
                start, previous = topology.fallback_lost_at, topology.fallback_lost_primary
            found += [dict(window, source=source) for window in closed]
            if start is not None:
                # Still without a writable server when the input (or --until) ends.
                found.append(
                    {
                        "start": start,
                        "end": None,
                        "length_micros": None,
                        "topology_id": key or None,
                        "previous_primary": previous,
                        "primary": None,
                        "source": source,
                    }
                )
        return sorted(found, key=lambda w: w["start"])

    def timeline(self) -> list[dict[str, Any]]:
        """Failover timeline entries; fallback ones only for topologies with no incidents."""
        incident_topologies = {k for k, t in self._topologies.items() if t.incidents}
        entries = [
            {k: v for k, v in entry.items() if k != "fallback"}
            for entry in self._timeline
            if not (entry["fallback"] and (entry["topology_id"] or "") in incident_topologies)
        ]
        return sorted(entries, key=lambda e: e["timestamp"])

    def bin_width(self) -> float:
        """The width in seconds of a latency-over-time bin."""
        return self._bin_width

    def result(self, top: int = 10) -> dict[str, Any]:
        """The whole summary as plain JSON-ready data (the ``--json`` document).

        Args:
            top: How many of the slowest shapes to list.

        Returns:
            The document described in docs/report.md, "--json".
        """
        rows = self.shape_rows()
        return {
            "report_version": 1,
            "input": self._input(),
            "slowest_shapes": [self._shape_row(key, shape) for key, shape in rows[:top]],
            "failures": self._failure_rows(),
            "failover": self._failover(),
            "pools": self._pool_rows(),
            "heartbeats": self._heartbeat_rows(),
            "sampling": self._sampling_rows(),
            "limits": {
                "shapes": len(self._shapes),
                "max_shapes": self.limits.shapes,
                "histogram_buckets": sum(s.histogram.buckets for _, s in rows),
                "timeline_entries_dropped": self._timeline_dropped,
            },
        }

    def _input(self) -> dict[str, Any]:
        return {
            "lines": self.lines,
            "records": self.formats["json"] + self.formats["ecs"],
            "json_records": self.formats["json"],
            "ecs_records": self.formats["ecs"],
            "foreign_lines": self.foreign,
            "outside_window": self.outside,
            "since": iso(self.since),
            "until": iso(self.until),
            "first_timestamp": iso(self.first),
            "last_timestamp": iso(self.last),
            "events": dict(sorted(self.events.items())),
        }

    def _shape_row(self, key: str, shape: _Shape) -> dict[str, Any]:
        histogram = shape.histogram
        return {
            "command_shape": key,
            "command_name": shape.command_name,
            "collection": shape.collection,
            "database_name": shape.database_name,
            "count": histogram.count,
            "weighted_count": round(shape.weighted, 3),
            "failed": shape.failed,
            "slow": shape.slow,
            "p50_micros": histogram.percentile(50),
            "p95_micros": histogram.percentile(95),
            "p99_micros": histogram.percentile(99),
            "max_micros": histogram.maximum,
            "example": shape.example,
        }

    def _failure_rows(self) -> list[dict[str, Any]]:
        rows = sorted(
            self._failures.values(),
            key=lambda f: (-f.count, str(f.error_code_name), str(f.command_shape)),
        )
        return [
            {
                "error_code_name": f.error_code_name,
                "error_code": f.error_code,
                "error_type": f.error_type,
                "command_shape": f.command_shape,
                "command_name": f.command_name,
                "collection": f.collection,
                "count": f.count,
                "first": iso(f.first),
                "last": iso(f.last),
                "example_error": f.example_error,
            }
            for f in rows
        ]

    def _failover(self) -> dict[str, Any]:
        found = self.windows()
        windows = [dict(w, start=iso(w["start"]), end=iso(w["end"])) for w in found]
        closed = [w["length_micros"] for w in windows if w["length_micros"] is not None]
        return {
            "windows": windows,
            "total_unavailable_micros": _union_micros(found),
            "longest_unavailable_micros": max(closed, default=None),
            "timeline": [dict(e, timestamp=iso(e["timestamp"])) for e in self.timeline()],
        }

    def _pool_rows(self) -> list[dict[str, Any]]:
        return [
            {
                "server_address": server,
                "check_out_failed": pool.check_out_failed,
                "check_out_failed_reasons": dict(sorted(pool.reasons.items())),
                "slow_check_outs": pool.slow_check_outs,
                "max_wait_micros": pool.max_wait_micros,
                "max_in_use": pool.max_in_use,
                "max_pool_size": pool.max_pool_size or self._pool_sizes.get(server),
                "max_waiting": pool.max_waiting,
                "max_oldest_in_use_micros": pool.max_oldest_in_use_micros,
                "oldest_in_use_commands": dict(sorted(pool.oldest_in_use_commands.items())),
                "cleared": pool.cleared,
                "connections_closed_by_error": pool.closed_by_error,
            }
            for server, pool in sorted(self._pools.items())
        ]

    def _heartbeat_rows(self) -> list[dict[str, Any]]:
        return [
            {
                "server_address": server,
                "failed": beat.failed,
                "first": iso(beat.first),
                "last": iso(beat.last),
                "error_types": dict(sorted(beat.error_types.items())),
                "max_duration_micros": beat.max_duration_micros,
                "last_error": beat.last_error,
            }
            for server, beat in sorted(self._heartbeats.items())
        ]

    def _sampling_rows(self) -> dict[str, Any]:
        suppressed = dict(sorted(self._sampling.items()))
        return {
            "records_with_sample_rate": self._sampled_records,
            "weighted_records_with_sample_rate": round(self._sampled_weight, 3),
            "suppressed": suppressed,
            "sampled_out_total": sum(r["sampled_out"] for r in suppressed.values()),
            "burst_limited_total": sum(r["burst_limited"] for r in suppressed.values()),
        }
