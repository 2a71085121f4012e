"""OpenTelemetry traces: HTTP request -> outbox row -> NATS message -> consumer.

Off by default. When `OTEL_EXPORTER_OTLP_ENDPOINT` (or `..._TRACES_ENDPOINT`) is set, each
process exports its spans over OTLP/HTTP (the SDK reads the other `OTEL_*` variables
itself). The W3C `traceparent` of the request is stored with the outbox row, sent as the
NATS message's `traceparent` header by the relay, and the consumer's span continues that
trace. When off, every entry point returns at once on one module-level flag: nothing is
allocated on the hot paths.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
from collections.abc import Iterator, Mapping

from opentelemetry import propagate, trace
from opentelemetry.trace import SpanKind

ENABLED = False
# FastAPI >= 0.16x opens the HTTP server span itself once a tracer provider is set; older
# releases get ours (TraceRequests).
FASTAPI_TRACES_REQUESTS = importlib.util.find_spec("fastapi.telemetry") is not None
_tracer = trace.get_tracer("sharitories")


def configure(service: str, *, exporter=None) -> bool:
    """Turn tracing on for this process if an OTLP endpoint (or `exporter`) is given."""
    global ENABLED
    endpoint = os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT") or os.environ.get(
        "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"
    )
    if ENABLED or (exporter is None and not endpoint):
        return ENABLED
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor

    name = os.environ.get("OTEL_SERVICE_NAME") or f"sharitories-{service}"
    provider = TracerProvider(resource=Resource.create({"service.name": name}))
    if exporter is None:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    else:
        provider.add_span_processor(SimpleSpanProcessor(exporter))
    trace.set_tracer_provider(provider)
    ENABLED = True
    return True


def current_traceparent() -> str | None:
    """The W3C traceparent of the current span (None when off or outside a span)."""
    if not ENABLED:
        return None
    carrier: dict[str, str] = {}
    propagate.inject(carrier)
    return carrier.get("traceparent")


@contextlib.contextmanager
def publishing(subject: str, traceparent: str | None) -> Iterator[dict[str, str]]:
    """A producer span under the stored trace; yields the headers to add to the message."""
    if not ENABLED or not traceparent:
        yield {}
        return
    parent = propagate.extract({"traceparent": traceparent})
    with _tracer.start_as_current_span(
        f"publish {subject}",
        context=parent,
        kind=SpanKind.PRODUCER,
        attributes={"messaging.system": "nats", "messaging.destination.name": subject},
    ):
        headers: dict[str, str] = {}
        propagate.inject(headers)
        yield headers


def consuming(headers: Mapping[str, str] | None, *, consumer: str, event_type: str):
    """A consumer span continuing the message's trace (a no-op context when off)."""
    if not ENABLED:
        return contextlib.nullcontext()
    parent = propagate.extract(dict(headers or {}))
    return _tracer.start_as_current_span(
        f"apply {event_type}",
        context=parent,
        kind=SpanKind.CONSUMER,
        attributes={"messaging.system": "nats", "messaging.consumer.group.name": consumer},
    )


class TraceRequests:
    """Pure ASGI middleware: one server span per HTTP request (installed only when on)."""

    def __init__(self, app) -> None:
        self.app = app

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        carrier = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
        with _tracer.start_as_current_span(
            f"{scope['method']} {scope['path']}",
            context=propagate.extract(carrier),
            kind=SpanKind.SERVER,
            attributes={"http.request.method": scope["method"], "url.path": scope["path"]},
        ) as span:

            async def send_with_status(message) -> None:
                if message["type"] == "http.response.start":
                    span.set_attribute("http.response.status_code", message["status"])
                await send(message)

            await self.app(scope, receive, send_with_status)
