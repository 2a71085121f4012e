"""Structured logging: JSON lines in production, readable in dev.

The request id (HTTP) and the event id (consumers) are bound with structlog's
contextvars, so every line logged while handling them carries them.
"""

from __future__ import annotations

import logging
import sys
from contextvars import ContextVar

import structlog

# The event being applied, set per event by consumers: one ContextVar.set per event is far
# cheaper than structlog's bound_contextvars on a path that applies thousands per second.
current_event: ContextVar[tuple[str, str] | None] = ContextVar("current_event", default=None)


def _add_event(_logger, _name, event_dict):
    applying = current_event.get()
    if applying is not None:
        event_dict.setdefault("event_id", applying[0])
        event_dict.setdefault("event_type", applying[1])
    return event_dict


bind_context = structlog.contextvars.bind_contextvars
clear_context = structlog.contextvars.clear_contextvars
bound_context = structlog.contextvars.bound_contextvars


def configure_logging(*, json: bool, level: str = "INFO") -> None:
    """Route structlog and the standard library through one renderer."""
    shared = [
        structlog.contextvars.merge_contextvars,
        _add_event,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    renderer = (
        structlog.processors.JSONRenderer()
        if json
        else structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty())
    )
    structlog.configure(
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        cache_logger_on_first_use=True,
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=shared,
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.format_exc_info,
            renderer,
        ],
    )
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for noisy in ("uvicorn.access", "aiosqlite", "nats", "httpx", "httpcore"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))


def get_logger(name: str | None = None) -> structlog.stdlib.BoundLogger:
    return structlog.stdlib.get_logger(name)
