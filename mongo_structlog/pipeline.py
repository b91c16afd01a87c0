"""The state one listener set shares, and what every record goes through.

A :class:`Pipeline` holds the validated settings, the sampling state, the command
correlation map, the document renderer (the gate) and the output. The listener
classes call it: :meth:`~Pipeline.logs` says which records the settings write (used
when methods are routed), :meth:`~Pipeline.chatter` decides for a sampled record, and
:meth:`~Pipeline.emit` stamps a record and hands it to the output, on the thread that
saw the event. The command path (:mod:`._commands`) reads its sampling state.
"""

from __future__ import annotations

import random
import time
from typing import Any

from . import _commands
from ._catalogue import BY_NAME
from ._incidents import Incidents
from .documents import DocumentRenderer
from .lifecycle import MAY_COME_FIRST, SUMMARY, Finisher, header
from .output import Output, build_output
from .sampling import BurstLimiter, Suppressed, threshold
from .settings import LEVELS, Settings
from .stats import STATS

__all__ = ["Pipeline"]

_SUCCEEDED = "mongodb.command.succeeded"


class Pipeline:
    """Everything one set of listeners shares; see the module docstring.

    Args:
        settings: Validated settings.
        per_client: True for ``listeners()`` sets, which learn their topology id from the
            topology-opened event and stamp it on every record.
        output: An already built output (tests, benchmarks); built from settings if omitted.
    """

    def __init__(self, settings: Settings, per_client: bool, output: Output | None = None) -> None:
        self.settings = settings
        self.per_client = per_client
        self.renderer = DocumentRenderer(
            settings.documents, settings.redact_keys, settings.max_document_length
        )
        if output is None:
            output = build_output(settings, clean=self.renderer.context_value)
        self.output = output
        self._log_record = output.log_record
        #: What the gate made of each command, database and collection name seen.
        self.names: dict[str, str] = {}
        level = settings.level_number
        self.level = level
        self._families = frozenset(settings.families)
        self.command_started_on = self.logs("mongodb.command.started")
        #: Check-out/in chatter is written (the pool methods run for pressure counts anyway).
        self.pool_chatter_on = self.logs("mongodb.connection.checked_in")
        #: Pool pressure counts are kept: the pool family is on.
        self.pool_tracked = self.logs("mongodb.connection.check_out_failed")
        self.summary_on = level <= LEVELS["info"]

        self.command_rate = settings.command_rate
        # What the command listener's hot path reads (see listeners.LoggingCommandListener):
        self.command_cutoff = threshold(self.command_rate)
        #: 0: drop every command, 1: keep every one, 2: decide by request id.
        self.keep_mode = 1 if self.command_rate >= 1.0 else 2 if self.command_cutoff else 0
        self.slow_micros = settings.slow_ms * 1000.0
        #: A sampled-out success faster than this is only counted; -1 when started records
        #: are logged (a drop at the start is then written late if slow or failed).
        self.fast_below = -1.0 if self.command_started_on else self.slow_micros
        self._rates = {
            "heartbeat": settings.sample_rate_heartbeat,
            "pool": settings.sample_rate_pool,
        }
        renderer = self.renderer
        self.correlator = _commands.Correlator(
            settings.correlation_capacity,
            settings.correlation_ttl_ms / 1000.0,
            lambda count: STATS.add("evicted", count),
            lambda entry: _commands.bounded(renderer, entry),
        )
        self.limiter = BurstLimiter(
            settings.burst_limit, settings.burst_thereafter, settings.burst_interval_ms / 1000.0
        )
        self.suppressed = Suppressed(settings.summary_interval_ms / 1000.0, time.monotonic())
        self.succeeded_out = self.suppressed.counter(_SUCCEEDED)
        STATS.count_drops(self.suppressed)
        self._written = 0
        #: Call to end this set: the last summary records, then the output closes.
        self.finisher = Finisher(self.output, self.suppressed, self.summary_on)
        self._unstamped = per_client
        #: Topology incidents and pool pressure (see :mod:`._incidents`).
        self.incidents = Incidents(self)
        #: Called with each started command's server and name (pool pressure), or None.
        self.pool_note = self.incidents.pools.command_started if self.pool_tracked else None

    def logs(self, name: str) -> bool:
        """Whether these settings write record ``name`` at some level (its family on, its level)."""
        row = BY_NAME[name]
        return self.logs_at(row.raised_to or row.level, name)

    def logs_at(self, level: str, name: str) -> bool:
        """Whether these settings write record ``name`` at ``level``."""
        return BY_NAME[name].family in self._families and LEVELS[level] >= self.level

    @property
    def topology_id(self) -> str | None:
        """The client's topology id, once a per-client set has learnt it."""
        return self.finisher.topology_id

    def close(self) -> None:
        """Write the summary of what was dropped and not yet reported; close the output."""
        self.finisher()

    # -- emitting -------------------------------------------------------------------------

    def emit(self, method: str, event: str, fields: dict[str, Any]) -> None:
        """Log one record now at level ``method`` (``fields`` may carry its own ``timestamp``)."""
        record = self.header(method, event, fields.pop("timestamp", None))
        record.update(fields)
        self.write(method, event, record)

    def header(self, method: str, event: str, timestamp: str | None = None) -> dict[str, Any]:
        """A new record's first keys: ``timestamp``, ``level``, ``event`` (and ``topology_id``)."""
        return header(method, event, self.finisher.topology_id, timestamp)

    def write(self, method: str, event: str, record: dict[str, Any]) -> None:
        """Hand a complete record (from :meth:`header`) to the output, which counts it."""
        if self._unstamped and event in MAY_COME_FIRST:  # before the topology id is known
            held = self.finisher.hold(method, event, record)
            if held is None:
                return
            record = held
        self._log_record(method, record)

    def learn_topology(self, topology_id: str) -> list[tuple[str, str, dict[str, Any]]]:
        """A per-client set learns its client's topology id.

        Returns:
            The records that waited for it; pass them to :meth:`write_waiting` once the
            ``mongodb.topology.opened`` record is written.
        """
        waiting = self.finisher.learn(topology_id)
        self._unstamped = False
        return waiting

    def write_waiting(self, waiting: list[tuple[str, str, dict[str, Any]]]) -> None:
        """Write the records :meth:`learn_topology` returned, stamped."""
        self.finisher.write(waiting, self.finisher.topology_id)

    def drop(self, event: str, sampled: bool = True) -> None:
        """Count a record suppressed by a sample rate (or, ``sampled=False``, a burst limit)."""
        suppressed = self.suppressed
        look = suppressed.sampled_out(event) if sampled else suppressed.burst_limited(event)
        if look and self.summary_on:  # Suppressed says when reading the clock is worth it
            self.maybe_summarise()

    def maybe_summarise(self) -> None:
        """Read the clock: age out lost commands, write the sampling summaries now due."""
        now = time.monotonic()
        self.correlator.tick(now)  # the clock is read: a chance to age out lost commands
        for fields in self.suppressed.due(now):
            self.emit("info", SUMMARY, fields)

    def internal_error(self, where: str, exc: BaseException) -> None:
        """Count an adapter bug and report it once; the application carries on."""
        STATS.add("internal_errors")
        STATS.warn_once(f"internal:{where}", f"internal error in {where}: {exc!r}")

    def chatter(self, family: str, event: str, address: Any) -> dict[str, Any] | None:
        """Sample-rate and burst-limit decision for a chatter record.

        Returns:
            ``{}`` or ``{"sample_rate": r}`` to start the record's fields with when it is
            kept; ``None`` when it is dropped (and counted).
        """
        rate = self._rates[family]
        if rate < 1.0 and random.random() >= rate:  # sampling, not security
            self.drop(event)
            return None
        limiter = self.limiter
        if limiter.enabled and not limiter.allow((event, address), time.monotonic()):
            self.drop(event, sampled=False)
            return None
        return {"sample_rate": rate} if rate < 1.0 else {}

    def written_one(self) -> None:
        """Count a command record written; every 64th is a chance to report drops."""
        self._written += 1
        if self._written & 0x3F == 0 and self.summary_on:
            # Drops may have stopped; a record written is a chance to report them.
            self.maybe_summarise()

    def take_over(self, old: Pipeline) -> None:
        """Adopt the commands in flight of the pipeline this one replaces.

        ``configure()`` and ``reset()`` call it when they swap pipelines, so that the
        completion of a command started before the swap still carries its command text.

        Args:
            old: The pipeline being replaced.
        """
        self.correlator.adopt(old.correlator)
