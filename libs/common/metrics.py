"""Prometheus metrics shared by every service (labelled by service)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

HTTP_REQUESTS = Counter(
    "sharitories_http_requests_total", "HTTP requests", ["service", "method", "route", "status"]
)
HTTP_LATENCY = Histogram(
    "sharitories_http_request_seconds", "HTTP request latency", ["service", "method", "route"]
)
EVENTS_PUBLISHED = Counter(
    "sharitories_outbox_published_total", "Outbox rows published", ["service"]
)
OUTBOX_PENDING = Gauge("sharitories_outbox_pending", "Outbox rows not yet published", ["service"])
EVENTS_CONSUMED = Counter(
    "sharitories_events_consumed_total", "Events applied by a consumer", ["consumer", "outcome"]
)
EVENTS_DEAD_LETTERED = Counter(
    "sharitories_events_dead_lettered_total", "Events sent to the dead-letter stream", ["consumer"]
)
