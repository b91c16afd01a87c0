"""What users would pick instead of mongo_structlog, built as benchmark variants.

Each peer is set up as its documentation says, with its output thrown away at the last
step (no network, no disk), so that what is measured is the work the peer does on the
application's thread and its own background threads:

- PyMongo's example listeners (``CommandLogger``, ``ConnectionPoolLogger``) and PyMongo's
  own ``pymongo.command`` logging, through the stdlib ``logging`` machinery to a handler
  whose stream counts the bytes and discards them;
- OpenTelemetry's pymongo instrumentation with the SDK's ``TracerProvider``, a
  ``BatchSpanProcessor`` and an exporter that discards the spans;
- Sentry's PyMongo integration with a transport that discards the envelopes, inside a
  transaction per ten operations (a request making ten queries), since Sentry sends spans
  only as part of a transaction;
- ddtrace, where it can patch the installed PyMongo (checked in a subprocess, because a
  failed patch leaves PyMongo half patched).

OpenTelemetry and Sentry register their listeners globally (``monitoring.register``),
which PyMongo copies into every client built afterwards. :func:`_taken_from_globals`
takes such a listener back out of the global lists and hands it to one client only, so
that it does not leak into the other variants measured in the same process.

Bytes per operation: the stdlib handlers count what they would write; OpenTelemetry's
spans are measured as the compact JSON of ``ReadableSpan.to_json``, Sentry's envelopes as
``Envelope.serialize()``, but only while :data:`COUNT_BYTES` is set (a separate, untimed
pass): while timing and counting, the exporters discard without serialising.
"""

from __future__ import annotations

import io
import logging
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from pymongo import monitoring

#: Set (``COUNT_BYTES[0] = True``) only during the bytes pass: exporters then serialise.
COUNT_BYTES = [False]

#: What a variant does around each timed batch: takes a batch, returns a batch.
Around = Callable[[Callable[[int], None]], Callable[[int], None]]


class CountingSink(io.TextIOBase):
    """A text stream that counts the bytes written to it and keeps none."""

    def __init__(self) -> None:
        super().__init__()
        self.count = 0

    def write(self, text: str) -> int:
        """Count ``text`` (as UTF-8) and discard it.

        Returns:
            The number of characters "written".
        """
        self.count += len(text.encode("utf-8"))
        return len(text)

    def writable(self) -> bool:
        """Always."""
        return True


@contextmanager
def stdlib_handler(logger: logging.Logger, line_format: str, level: int) -> Iterator[CountingSink]:
    """Give ``logger`` a handler writing to a :class:`CountingSink`; undo it afterwards.

    The logger stops propagating meanwhile, so that each variant's lines reach its own
    sink only.

    Yields:
        The sink, whose ``count`` is the bytes written so far.
    """
    sink = CountingSink()
    handler = logging.StreamHandler(sink)
    handler.setFormatter(logging.Formatter(line_format))
    saved = (logger.level, logger.propagate)
    logger.addHandler(handler)
    logger.setLevel(level)
    logger.propagate = False
    try:
        yield sink
    finally:
        logger.removeHandler(handler)
        logger.setLevel(saved[0])
        logger.propagate = saved[1]


def _global_lists() -> list[list[Any]]:
    found = monitoring._LISTENERS
    return [list(found[i]) for i in range(len(found))]


#: Listeners taken from the globals, per peer: their setup registers only once per process
#: (OpenTelemetry's instrumentor and Sentry's ``setup_once``), so a second build reuses them.
_TAKEN: dict[str, tuple[list[Any], Any]] = {}


def _taken_from_globals(setup: Callable[[], None]) -> list[Any]:
    """Run ``setup``; return the listeners it registered globally, no longer global."""
    before = [{id(listener) for listener in kind} for kind in _global_lists()]
    setup()
    taken: list[Any] = []
    for kind, seen in zip(monitoring._LISTENERS, before, strict=True):
        for listener in list(kind):
            if id(listener) not in seen:
                kind.remove(listener)
                if listener not in taken:
                    taken.append(listener)
    return taken


# -- OpenTelemetry ------------------------------------------------------------------------


def _otel_provider() -> Any:
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult

    class DiscardingExporter(SpanExporter):
        """Throws the spans away; measures them as compact JSON in the bytes pass."""

        written = 0

        def export(self, spans: Any) -> SpanExportResult:
            if COUNT_BYTES[0]:
                DiscardingExporter.written += sum(
                    len(span.to_json(indent=None).encode()) for span in spans
                )
            return SpanExportResult.SUCCESS

    provider = TracerProvider()
    provider.add_span_processor(BatchSpanProcessor(DiscardingExporter()))
    provider.written = lambda: DiscardingExporter.written  # type: ignore[attr-defined]
    return provider


class OpenTelemetry:
    """OpenTelemetry's pymongo instrumentation, one provider per variant."""

    def __init__(self, capture_statement: bool) -> None:
        self.capture_statement = capture_statement
        self.provider: Any = None

    def build(self) -> list[Any]:
        """The instrumentation's command listener, taken out of the global lists."""
        from opentelemetry.instrumentation.pymongo import CommandTracer, PymongoInstrumentor
        from opentelemetry.trace import get_tracer

        if not self.capture_statement:
            if "otel" not in _TAKEN:
                provider = _otel_provider()
                instrumentor = PymongoInstrumentor()
                taken = _taken_from_globals(
                    lambda: instrumentor.instrument(tracer_provider=provider)
                )
                _TAKEN["otel"] = (taken, provider)
            listeners, self.provider = _TAKEN["otel"]
            return list(listeners)
        self.provider = _otel_provider()
        # The instrumentor makes its listener once per process; a second one with the
        # statement captured is built the way the instrumentor builds its own.
        tracer = get_tracer("opentelemetry.instrumentation.pymongo", tracer_provider=self.provider)
        return [CommandTracer(tracer, capture_statement=True)]

    def flush(self) -> None:
        """Export what the batch processor holds (the exporter's work counts)."""
        if self.provider is not None:
            self.provider.force_flush()

    def written(self) -> int:
        """Bytes of span JSON exported so far (counted only in the bytes pass)."""
        return int(self.provider.written()) if self.provider is not None else 0


# -- Sentry -------------------------------------------------------------------------------

TRANSACTION_OPERATIONS = 10


class Sentry:
    """Sentry's PyMongo integration with a transport that discards."""

    def __init__(self) -> None:
        self.count = [0]

    def build(self) -> list[Any]:
        """Initialise the SDK (no default integrations); take its listener out of the globals."""
        import sentry_sdk
        from sentry_sdk.integrations.pymongo import PyMongoIntegration
        from sentry_sdk.transport import Transport

        count = self.count

        class DiscardingTransport(Transport):
            """Throws envelopes away; measures them serialised in the bytes pass."""

            def capture_envelope(self, envelope: Any) -> None:
                if COUNT_BYTES[0]:
                    count[0] += len(envelope.serialize())

        def setup() -> None:
            sentry_sdk.init(
                dsn="https://public@sentry.invalid/1",
                transport=DiscardingTransport,
                integrations=[PyMongoIntegration()],
                default_integrations=False,
                auto_enabling_integrations=False,
                traces_sample_rate=1.0,
            )

        if "sentry" not in _TAKEN:
            _TAKEN["sentry"] = (_taken_from_globals(setup), None)
        else:
            setup()  # this instance's transport; the integration's listener is the first one
        return list(_TAKEN["sentry"][0])

    def around(self, batch: Callable[[int], None]) -> Callable[[int], None]:
        """Run the batch as transactions of ten operations each."""
        import sentry_sdk

        def in_transactions(n: int) -> None:
            done = 0
            while done < n:
                step = min(TRANSACTION_OPERATIONS, n - done)
                with sentry_sdk.start_transaction(op="http.server", name="GET /orders"):
                    batch(step)
                done += step

        return in_transactions

    def written(self) -> int:
        """Bytes of serialised envelopes (counted only in the bytes pass)."""
        return self.count[0]


# -- PyMongo's own command logging --------------------------------------------------------


def pymongo_logging_around(batch: Callable[[int], None]) -> Callable[[int], None]:
    """Switch the global ``pymongo.command`` logger to ``DEBUG`` for this batch only."""
    logger = logging.getLogger("pymongo.command")

    def logged(n: int) -> None:
        saved = logger.level
        logger.setLevel(logging.DEBUG)
        try:
            batch(n)
        finally:
            logger.setLevel(saved)

    return logged


# -- ddtrace ------------------------------------------------------------------------------


def ddtrace_status() -> str | None:
    """None when ddtrace patches the installed PyMongo; otherwise why it does not.

    Tried in a subprocess: a patch that fails half-way leaves PyMongo's classes changed.
    """
    code = "import ddtrace, pymongo; ddtrace.patch(pymongo=True); import pymongo.synchronous"
    try:
        done = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False
        )
    except (OSError, subprocess.SubprocessError) as exc:
        return f"could not try it: {exc}"
    if done.returncode == 0:
        return None
    return (done.stderr.strip().splitlines() or ["(no message)"])[-1]
